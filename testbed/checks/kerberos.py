"""Kerberos checks: a kerberized target saw each worker's own principal, no keytab on a worker,
the shared cache is read-only there, tickets are refreshed every cycle (and after a heal), a
worker without a valid ticket is refused while the others carry on, and what the sidecar did.

The observations each reads are listed in the docstrings of the two modules below.

The checks live in :mod:`testbed.checks.kerberos_auth` (authentication, refusal) and
:mod:`testbed.checks.kerberos_nodes` (keytab, cache, tickets, the refresher); this module
re-exports them under their old names.
"""

from testbed.checks.kerberos_auth import (
    PRINCIPAL,
    AuthParams,
    RefusedParams,
    Strict,
    kerberos_authenticated,
    kerberos_refused,
)
from testbed.checks.kerberos_nodes import (
    SIDECAR_SUFFIX,
    NodesParams,
    StayedUpParams,
    TicketParams,
    ValidParams,
    keytab_absent,
    node_restarted,
    node_stayed_up,
    ticket_refreshed,
    ticket_valid,
    worker_cache_read_only,
)

__all__ = [
    "PRINCIPAL",
    "SIDECAR_SUFFIX",
    "AuthParams",
    "NodesParams",
    "RefusedParams",
    "StayedUpParams",
    "Strict",
    "TicketParams",
    "ValidParams",
    "kerberos_authenticated",
    "kerberos_refused",
    "keytab_absent",
    "node_restarted",
    "node_stayed_up",
    "ticket_refreshed",
    "ticket_valid",
    "worker_cache_read_only",
]
