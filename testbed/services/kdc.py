"""The Kerberos KDC (MIT ``krb5kdc`` from Debian, ``tb-kdc`` entry point in the services image).

Its realm database is created at the node's first boot with this run's master password (a secret
file the entry point deletes once the stash exists). Ticket lifetimes are short on purpose
(:data:`TICKET_LIFE`, :data:`RENEW_LIFE`) so renewal happens inside a drill. Principals for the
workers and the kerberized target are added on demand with ``kadmin.local`` over ``docker exec``
(:func:`keytab`): no kadmind listens, and a keytab travels from the KDC straight into the one
node that holds it, never to the host's disk.

Every Kerberos node gets the same ``/etc/krb5.conf`` (:func:`krb5_conf`): no DNS tricks (``rdns``
and ``dns_canonicalize_hostname`` off: Docker's reverse DNS would turn a node's name into
``<container>.<network>``), dotted names through the ``testbed.internal`` domain, TCP only.
"""

from __future__ import annotations

import base64
import re
import time

from testbed import runtime, timescale
from testbed.core.errors import ClusterError
from testbed.krb5 import DOMAIN, HOST, KRB5_CONF, PORT, REALM
from testbed.readiness import Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx, secret_file

TICKET_LIFE = 90  # seconds at timescale 1 (see ticket_life): a ticket expires inside a drill
RENEW_LIFE = 600
PROBE_KEYTAB = "/etc/krb5kdc/probe.keytab"  # on the KDC node only

# Adds the principal if it is missing, then exports its current keys (-norandkey: the kvno stays)
# to a private temporary file printed as base64 and removed.
_EXPORT = (
    'set -eu; p="$1"; life="$2"; renew="$3"; '
    'if ! kadmin.local -q "getprinc $p" 2>/dev/null | grep -q "^Principal: "; then '
    'kadmin.local -q "addprinc -randkey -maxlife ${life}s -maxrenewlife ${renew}s $p" '
    ">/dev/null 2>&1; fi; "
    "umask 077; t=$(mktemp -u /tmp/kt.XXXXXX); "
    'kadmin.local -q "ktadd -norandkey -k $t $p" >/dev/null 2>&1; base64 -w0 "$t"; rm -f "$t"'
)


def ticket_life(ctx: Ctx) -> int:
    """The life of every ticket of this run: :data:`TICKET_LIFE` on the drill's clock (scaled
    by the topology's timescale, like the refresher's cycle)."""
    return timescale.ticket_life(TICKET_LIFE, ctx.topology.timescale)


def krb5_conf(ticket_life: int = TICKET_LIFE, renew_life: int = RENEW_LIFE) -> str:
    return f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    ticket_lifetime = {ticket_life}
    renew_lifetime = {renew_life}
    forwardable = false
[realms]
    {REALM} = {{
        kdc = {HOST}:{PORT}
    }}
[domain_realm]
    .{DOMAIN} = {REALM}
    {DOMAIN} = {REALM}
"""


def conf_file(ctx: Ctx) -> dict[str, tuple[bytes, int]]:
    """``/etc/krb5.conf`` as a root-owned, world-readable file of a node."""
    return {KRB5_CONF: (krb5_conf(ticket_life(ctx)).encode(), 0o644)}


def spec(ctx: Ctx, node: str = "kdc") -> NodeSpec:
    return NodeSpec(
        name=node,
        role="kdc",
        image=ctx.services_image,
        command=["tb-kdc"],
        env={
            "TB_KRB_REALM": REALM,
            "TB_KRB_TICKET_LIFE": str(ticket_life(ctx)),
            "TB_KRB_RENEW_LIFE": str(RENEW_LIFE),
            "KRB5_CONFIG": KRB5_CONF,
        },
        files=dict([secret_file("kdc_master_password", ctx.secrets.kdc_master_password)]),
        root_files=conf_file(ctx),
        aliases=[HOST],
        file_uid=0,
    )


def probe(ctx: Ctx, node: str = "kdc") -> Probe:
    """The KDC answers: a kinit of the probe principal (its keytab never leaves the KDC node)
    over TCP to the KDC's own service name, into a memory cache."""

    def attempt() -> bool:
        cmd = ["kinit", "-k", "-t", PROBE_KEYTAB, "-c", "MEMORY:probe", f"probe@{REALM}"]
        return runtime.exec_run(ctx.container(node), cmd, timeout=10, node=node).exit_code == 0

    return Probe(f"kinit probe@{REALM}", attempt, interval=0.3)


def keytab(ctx: Ctx, principal_name: str, node: str = "kdc") -> bytes:
    """The keytab of ``principal_name`` (created if missing), exported from the KDC node."""
    life = str(ticket_life(ctx))
    cmd = ["sh", "-c", _EXPORT, "export", principal_name, life, str(RENEW_LIFE)]
    r = runtime.exec_run(ctx.container(node), cmd, timeout=30, node=node)
    data = base64.b64decode(r.output.strip() or b"", validate=True) if r.exit_code == 0 else b""
    if not data.startswith(b"\x05\x02"):  # the keytab format's version bytes
        raise ClusterError(
            f"no keytab for {principal_name} from the KDC (exit {r.exit_code})",
            hint="see the kdc node's log (testbed logs); is the KDC ready?",
        )
    return data


def rotate(ctx: Ctx, principal_name: str, node: str = "kdc") -> str:
    """New random keys for a principal (its kvno goes up); returns kadmin's output."""
    cmd = ["kadmin.local", "-q", f"cpw -randkey {principal_name}"]
    r = runtime.exec_run(ctx.container(node), cmd, timeout=30, node=node)
    if r.exit_code != 0 or "randomized" not in r.output:
        raise ClusterError(f"cpw -randkey {principal_name}: exit {r.exit_code}: {r.output[-300:]}")
    return r.output


KVNO_ATTEMPTS = 5  # `getprinc` tries, 1 s apart: the KDC's database is busy at times


def kvno(ctx: Ctx, principal_name: str, node: str = "kdc") -> int | None:
    """The principal's current key version on the KDC (None: no such principal). An answer
    with neither (the database busy with the refreshers' logins: seen once in a CI run) is
    asked again; still none after :data:`KVNO_ATTEMPTS` tries is an error that shows it."""
    cmd = ["kadmin.local", "-q", f"getprinc {principal_name}"]
    for attempt in range(KVNO_ATTEMPTS):
        if attempt:
            time.sleep(1.0)
        out = runtime.exec_run(ctx.container(node), cmd, timeout=30, node=node).output
        found = parse_kvno(out)
        if found is not None or "does not exist" in out:
            return found
    raise ClusterError(f"getprinc {principal_name}: no key version in {out[-300:]!r}")


def parse_kvno(getprinc: str) -> int | None:
    """``getprinc`` output -> the highest key version ("Key: vno 2, aes256-cts-...")."""
    found = re.findall(r"^Key: vno (\d+),", getprinc, re.M)
    return max(map(int, found)) if found else None
