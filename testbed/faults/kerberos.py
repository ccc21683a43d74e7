"""Kerberos faults: clock_skew (a node re-created under libfaketime, its clock off) and
rotate_key (new keys on the KDC for the principal a node's keytab holds; the heal deploys the
new keytab).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testbed import faketime
from testbed.core.errors import FaultError
from testbed.faults.base import Fault

if TYPE_CHECKING:
    from testbed.cluster import Cluster

SKEWABLE = ("pg-krb",)  # services-image nodes a fresh container leaves as they were
FAKETIME_LIB = faketime.LIBRARY
faketime_env = faketime.fixed_env


class ClockSkew(Fault):
    """One node's clock ``offset`` seconds off (negative: behind). Containers share the host's
    clock and cannot set their own, so the node is replaced by one whose processes run under
    libfaketime (``LD_PRELOAD``); the heal replaces it again with a true clock. Only nodes of
    the services image that a fresh container re-creates whole (:data:`SKEWABLE`): the
    kerberized Postgres (a KDC's fresh container would be a new realm database)."""

    kind = "clock_skew"

    def __init__(self, cluster: Cluster, target: str, offset: float = 600, **kw) -> None:
        if target not in SKEWABLE:
            raise FaultError(f"clock_skew on {target!r}; allowed: {', '.join(SKEWABLE)}")
        super().__init__(cluster, target, **kw)
        self.offset = offset

    def describe(self) -> dict[str, Any]:
        return {"offset": self.offset}

    def _inject(self) -> None:
        self.cluster.replace_node(self.target, env=faketime_env(self.offset))

    def _heal(self) -> None:
        self.cluster.replace_node(self.target)


class RotateKey(Fault):
    """New random keys for the principal whose keytab ``target`` holds (``kadmin.local cpw
    -randkey``: its kvno goes up on the KDC), while the holder keeps the old keytab: the
    kerberized Postgres (``pg-krb``, its service principal) or a worker's ticket refresher
    (``worker-N-kerberos``, the worker's principal). The heal deploys the new keys: the
    current keytab exported from the KDC into the holder (the server in place, no restart: it
    reads its keytab at every connection; the refresher restarted, so its kinit uses it)."""

    kind = "rotate_key"

    def __init__(self, cluster: Cluster, target: str, **kw) -> None:
        from testbed.services import kerberos, pg_krb

        if target == pg_krb.PG_KRB:
            self.principal = pg_krb.SERVICE_PRINCIPAL
        elif target.endswith(kerberos.SIDECAR_SUFFIX):
            self.principal = kerberos.worker_principal(kerberos.worker_of(target))
        else:
            raise FaultError(
                f"rotate_key on {target!r}: the target is the node holding the keytab: "
                "pg-krb or a worker's refresher (worker-N-kerberos)"
            )
        super().__init__(cluster, target, **kw)
        self.kvno: dict[str, int | None] = {}

    def describe(self) -> dict[str, Any]:
        return {"principal": self.principal}

    def _inject(self) -> None:
        from testbed.services import kdc

        before = kdc.kvno(self.cluster, self.principal)
        kdc.rotate(self.cluster, self.principal)
        after = kdc.kvno(self.cluster, self.principal)
        if after is None or before is None or after <= before:
            raise FaultError(f"{self.principal}: kvno {before} -> {after} (not rotated)")
        self.kvno = {"before": before, "after": after}
        self.record("rotated", principal=self.principal, **self.kvno)

    def _heal(self) -> None:
        from testbed.services import kdc, kerberos, pg_krb

        data = kdc.keytab(self.cluster, self.principal)
        if self.target == pg_krb.PG_KRB:
            pg_krb.install_keytab(self.cluster, data)
        else:
            kerberos.install_keytab(self.cluster, self.target, data)
        kvno = kdc.kvno(self.cluster, self.principal)
        self.record("deployed", principal=self.principal, kvno=kvno)


KERBEROS_FAULTS: dict[str, type[Fault]] = {"rotate_key": RotateKey, "clock_skew": ClockSkew}
