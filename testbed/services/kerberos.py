"""The ticket refresher beside each worker: ``airflow kerberos`` on the node ``worker-N-kerberos``
(the same Airflow image), the production guide's arrangement.

Only this node holds the worker's keytab (a secret file, 0600). It refreshes a credential cache
on a volume it shares with its worker: a run-labelled named volume backed by memory (never the
host's disk), which the worker mounts read-only. The sidecar gets no metadata-database, broker or
API secret: it runs with ``[database] check_migrations = False`` (``airflow kerberos`` otherwise
refuses to start without a migrated metadata database) and a minimal Airflow configuration.

``airflow kerberos`` has no retry loop: a failed kinit exits the process. The node runs under
Docker's ``on-failure`` restart policy (as a Kubernetes sidecar would restart), and the drills
record what that does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from testbed import airflow_config as AC
from testbed import krb5, runtime
from testbed.readiness import Probe
from testbed.runtime import NodeSpec, Volume
from testbed.services import Ctx, kdc
from testbed.topology import SIDECAR_SUFFIX, sidecar_name

KEYTAB_NAME = "krb5.keytab"


def worker_of(node: str) -> str:
    """``worker-1-kerberos`` -> ``worker-1``."""
    return node.removesuffix(SIDECAR_SUFFIX)


def worker_principal(worker: str) -> str:
    return krb5.principal("airflow", worker)


def ccache_volume(worker: str, read_only: bool) -> Volume:
    return Volume(f"{worker}-ccache", AC.CCACHE_DIR, read_only=read_only, tmpfs=True)


def spec(ctx: Ctx, node: str) -> NodeSpec:
    s = base_spec(ctx, node)
    keytab = kdc.keytab(ctx, worker_principal(worker_of(node)))  # from the running KDC
    s.files[f"{AC.SECRETS_DIR}/{KEYTAB_NAME}"] = (keytab, 0o600)
    return s


def base_spec(ctx: Ctx, node: str) -> NodeSpec:
    """The refresher without its keytab (the Compose export delivers it another way)."""
    worker = worker_of(node)
    return NodeSpec(
        name=node,
        role="kerberos",
        image=ctx.airflow_image,
        command=["airflow", "kerberos"],
        env=AC.sidecar_environment(ctx.topology, worker_principal(worker), KEYTAB_NAME),
        root_files=kdc.conf_file(ctx),
        volumes=[ccache_volume(worker, read_only=False)],
        restart="on-failure",
    )


def install_keytab(ctx: Ctx, node: str, data: bytes) -> None:
    """Replace the refresher's keytab (a rotated key deployed) and restart it, as a deployment
    of a new keytab would: its first kinit uses the new key at once. (A refresher whose kinit
    failed with the old key has exited and waits out Docker's growing restart back-off.)"""
    c = ctx.container(node)
    runtime.put_files(c, {f"{AC.SECRETS_DIR}/{KEYTAB_NAME}": (data, 0o600)}, uid=50000)
    c.restart(timeout=5)


def probe(ctx: Ctx, node: str) -> Probe:
    """The shared cache holds a valid (unexpired) ticket (``klist -s``)."""

    def attempt() -> bool:
        cmd = ["klist", "-s", "-c", AC.CCACHE]
        return runtime.exec_run(ctx.container(node), cmd, timeout=5, node=node).exit_code == 0

    return Probe("klist -s (a valid ticket in the shared cache)", attempt, interval=0.5)


KLIST_FORMAT = "%m/%d/%y %H:%M:%S"


def parse_klist(text: str) -> dict:
    """``klist`` output -> the default principal and each ticket's start, expiry and renew-until
    (ISO, UTC: containers run in UTC) as ``{"principal", "tickets": [...]}``; the TGT first."""
    out: dict = {"principal": None, "tickets": []}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Default principal:"):
            out["principal"] = line.split(":", 1)[1].strip()
        parts = line.split()
        if len(parts) == 5 and "/" in parts[0] and ":" in parts[1]:
            ticket = {
                "start": _stamp(parts[0], parts[1]),
                "expires": _stamp(parts[2], parts[3]),
                "service": parts[4],
            }
            nxt = lines[i + 1].split() if i + 1 < len(lines) else []
            if nxt[:2] == ["renew", "until"] and len(nxt) == 4:
                ticket["renew_until"] = _stamp(nxt[2], nxt[3])
            out["tickets"].append(ticket)
    out["tickets"].sort(key=lambda t: not t["service"].startswith("krbtgt/"))
    return out


def _stamp(day: str, clock: str) -> str:
    stamp = datetime.strptime(f"{day} {clock}", KLIST_FORMAT).replace(tzinfo=UTC)
    return stamp.isoformat()


def sidecar_of(worker: str) -> str:
    """``worker-1`` -> ``worker-1-kerberos``."""
    return sidecar_name(worker)
