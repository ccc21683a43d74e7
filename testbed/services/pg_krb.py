"""The kerberized target: a second Postgres (Debian's, ``tb-pg-krb`` entry point in the services
image) that accepts network connections only GSSAPI-encrypted and Kerberos-authenticated
(``hostgssenc ... gss``; everything else is rejected, no passwords exist). The worker principals
``airflow/worker-N.testbed.internal`` map to the role ``etl`` (database ``kerberized``). Its
service keytab (``postgres/pg-krb.testbed.internal``) is exported from the KDC into this node
only, readable by the server alone.

Tasks reach it as ``pg-krb.testbed.internal`` (the service principal's host name); the host
cannot authenticate, so :func:`psql` runs as the local superuser over the node's unix socket.
"""

from __future__ import annotations

from testbed import krb5, runtime
from testbed.readiness import Probe
from testbed.runtime import NodeSpec
from testbed.services import SECRETS_DIR, Ctx, kdc
from testbed.topology import PG_KRB

PORT = 5432
DATABASE = "kerberized"
ROLE = "etl"
HOST = krb5.fqdn(PG_KRB)
SERVICE_PRINCIPAL = krb5.principal("postgres", PG_KRB)


def spec(ctx: Ctx, node: str = PG_KRB) -> NodeSpec:
    s = base_spec(ctx, node)
    s.files[f"{SECRETS_DIR}/pg.keytab"] = (kdc.keytab(ctx, SERVICE_PRINCIPAL), 0o600)
    return s


def base_spec(ctx: Ctx, node: str = PG_KRB) -> NodeSpec:
    """The server without its keytab (the Compose export delivers it another way:
    ``TB_PG_KEYTAB`` names where the entry point finds it)."""
    return NodeSpec(
        name=node,
        role="pg-krb",
        image=ctx.services_image,
        command=["tb-pg-krb"],
        env={"TB_KRB_REALM": krb5.REALM, "KRB5_CONFIG": krb5.KRB5_CONF},
        files=kdc.conf_file(ctx),
        aliases=[HOST],
        file_uid=0,
    )


def probe(ctx: Ctx, node: str = PG_KRB) -> Probe:
    def attempt() -> bool:
        cmd = ["pg_isready", "-h", "/tmp", "-p", str(PORT), "-t", "2"]
        return runtime.exec_run(ctx.container(node), cmd, timeout=5, node=node).exit_code == 0

    return Probe("pg_isready (unix socket)", attempt, interval=0.3)


def psql(ctx: Ctx, sql: str, node: str = PG_KRB, timeout: float = 10) -> str:
    """Run ``sql`` as the local superuser (unix socket, peer authentication); tab-separated
    rows without headers. Raises on a non-zero exit."""
    cmd = ["psql", "-h", "/tmp", "-d", DATABASE, "-XAtF", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql]
    r = runtime.exec_run(ctx.container(node), cmd, timeout=timeout, user="postgres", node=node)
    if r.exit_code != 0:
        raise RuntimeError(f"psql on {node}: exit {r.exit_code}: {r.output.strip()[-300:]}")
    return r.output


INSTALLED_KEYTAB = "/var/lib/testbed/pg.keytab"  # where tb-pg-krb moved it (postgres, 0400)


def install_keytab(ctx: Ctx, data: bytes, node: str = PG_KRB) -> None:
    """Replace the server's keytab in place (a rotated key deployed): the server reads it at
    every GSSAPI connection, so no restart. Never through the host's disk."""
    c = ctx.container(node)
    staged = f"{SECRETS_DIR}/pg.keytab"
    runtime.put_files(c, {staged: (data, 0o600)}, uid=0)
    cmd = [
        "sh",
        "-c",
        'install -o postgres -g postgres -m 0400 "$1" "$2"; r=$?; rm -f "$1"; exit $r',
        "install",
        staged,
        INSTALLED_KEYTAB,
    ]
    r = runtime.exec_run(c, cmd, timeout=10, user="root", node=node)
    if r.exit_code != 0:
        raise RuntimeError(f"keytab install on {node}: exit {r.exit_code}: {r.output[-200:]}")
