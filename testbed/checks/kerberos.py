"""Kerberos checks: a kerberized target saw each worker's own principal, no keytab on a worker,
the shared cache is read-only there, tickets are refreshed every cycle (and after a heal), a
worker without a valid ticket is refused while the others carry on, and what the sidecar did.

Observations they read (recorded by :mod:`testbed.observe`):

- ``kerberos_xcom`` (target: run name): ``{"run", "xcom": {"whoami[3]": {"hostname",
  "gss_authenticated", "principal", "encrypted", "user", "keytab_env", "keytab_env_exists"}}}``
  (what each task read from ``pg_stat_gssapi`` on the server, for its own session).
- ``task_log`` (target: run name): ``{"task_id", "map_index", "try_number", "hostname",
  "lines": [...]}``: the Kerberos/GSSAPI lines of a failed attempt's log.
- ``service_log`` (target: run name): ``{"run", "node", "lines": [...]}``: the GSSAPI lines
  of the kerberized server's log since the run was triggered (:mod:`testbed.observe.kerberos`).
- ``task_instance``: the metadata database's rows (``hostname`` is the node that ran it).
- ``kerberos_ticket`` (target: node): parsed ``klist`` of the shared cache as the worker sees
  it, ``{"principal", "tickets": [{"start", "expires", "service", "renew_until"}],
  "sidecar": {"state", "restarts"}}``; ``klist_error`` when there is no cache.
- ``keytab_scan`` (target: node): ``{"files", "scanned", "mounts", "cache", "env",
  "cache_as_user", "container": {"mounts", "keytab_env", "kdc_password_in_env"}}``.
- ``container`` events (node, state) recorded by the engine when a node's state changes.

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
