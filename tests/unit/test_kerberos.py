"""Kerberos without Docker: the topology option, the node specs and configuration it adds (and
does not add), klist parsing, the keytab scan's detection, and the checks on hand-written
histories."""

from __future__ import annotations

import itertools
import json
import os
import struct
from dataclasses import dataclass, field

import pytest

from testbed import airflow_config as AC
from testbed import krb5
from testbed.checks import REGISTRY
from testbed.core.secrets import Secrets
from testbed.scenario.model import TopologySpec
from testbed.services import airflow, kdc, kerberos, keytab_scan, pg_krb
from testbed.topology import Topology

SECRETS = Secrets.generate()


# -- topology -----------------------------------------------------------------------------------
def test_kerberos_adds_nodes_only_when_asked():
    plain, krb = Topology(workers=2), Topology(workers=2, kerberos=True)
    assert plain.nodes == Topology().nodes and "kdc" not in plain.nodes
    assert plain.kerberos_nodes == [] and plain.infra_nodes == [
        "postgres",
        "redis",
        "minio",
        "toxiproxy",
    ]
    assert krb.infra_nodes[-1] == "kdc"
    assert krb.kerberos_nodes == ["pg-krb", "worker-1-kerberos", "worker-2-kerberos"]
    assert krb.worker_names == ["worker-1", "worker-2"]  # a sidecar is not a worker
    assert len(set(krb.nodes)) == len(krb.nodes)
    assert [k.label for k in krb.links()] == [k.label for k in plain.links()]


def test_equality_keeps_pool_reuse_working():
    assert Topology(kerberos=True) == Topology(kerberos=True)
    assert Topology(kerberos=True) != Topology()
    assert TopologySpec(kerberos=True).build() == Topology(kerberos=True)
    assert TopologySpec().build() == Topology()


def test_roles_of_sidecars_and_workers():
    assert airflow.role_of("worker-3") == "celery-worker"
    assert airflow.role_of("worker-3-kerberos") == "kerberos"
    assert kerberos.worker_of("worker-3-kerberos") == "worker-3"


# -- specs and configuration --------------------------------------------------------------------
@dataclass
class FakeCtx:
    topology: Topology = field(default_factory=lambda: Topology(workers=2, kerberos=True))
    secrets: Secrets = field(default_factory=lambda: SECRETS)
    services_image: str = "testbed-services:abc"
    airflow_image: str = "testbed-airflow:3.3.2-def"
    postgres_image: str = "testbed-services:abc"

    def image_for(self, node: str) -> str:
        return self.airflow_image


@pytest.fixture
def fake_keytabs(monkeypatch):
    exported = []

    def keytab(ctx, principal, node="kdc"):
        exported.append(principal)
        return b"\x05\x02KEYTAB-OF-" + principal.encode()

    monkeypatch.setattr(kdc, "keytab", keytab)
    return exported


def test_the_keytab_goes_to_the_sidecar_only(fake_keytabs):
    ctx = FakeCtx()
    side = kerberos.spec(ctx, "worker-1-kerberos")
    worker = airflow.spec(ctx, "worker-1")
    assert fake_keytabs == ["airflow/worker-1.testbed.internal@TESTBED.INTERNAL"]
    data, mode = side.files["/run/testbed/krb5.keytab"]
    assert data.startswith(b"\x05\x02") and mode == 0o600
    assert side.command == ["airflow", "kerberos"] and side.restart == "on-failure"
    assert not any(b"KEYTAB-OF" in d for d, _ in worker.files.values())
    assert [(v.name, v.read_only, v.tmpfs) for v in side.volumes] == [
        ("worker-1-ccache", False, True)
    ]
    assert [(v.name, v.path, v.read_only) for v in worker.volumes] == [
        ("worker-1-logs", "/opt/airflow/home/logs", False),
        ("worker-1-ccache", "/var/lib/airflow-krb", True),
    ]
    assert "/etc/krb5.conf" in worker.root_files and "/etc/krb5.conf" in side.root_files


def test_the_sidecar_gets_no_cluster_secret(fake_keytabs):
    side = kerberos.spec(FakeCtx(), "worker-2-kerberos")
    blob = json.dumps(side.env) + "".join(d.decode("latin-1") for d, _ in side.files.values())
    for name, value in SECRETS._asdict().items():
        assert value not in blob, name
    assert side.env["AIRFLOW__KERBEROS__PRINCIPAL"] == (
        "airflow/worker-2.testbed.internal@TESTBED.INTERNAL"
    )
    assert side.env["AIRFLOW__KERBEROS__INCLUDE_IP"] == "False"
    assert side.env["AIRFLOW__DATABASE__CHECK_MIGRATIONS"] == "False"
    assert not any(k.endswith("_CMD") for k in side.env)


def test_worker_config_with_and_without_kerberos():
    plain = AC.environment(Topology(), "worker-1", SECRETS)
    krb = AC.environment(Topology(kerberos=True), "worker-1", SECRETS)
    sched = AC.environment(Topology(kerberos=True), "scheduler", SECRETS)
    assert set(krb) - set(plain) == {
        "AIRFLOW__CORE__SECURITY",
        "AIRFLOW__KERBEROS__CCACHE",
        "AIRFLOW__KERBEROS__REINIT_FREQUENCY",
        "AIRFLOW__KERBEROS__INCLUDE_IP",
        "AIRFLOW__KERBEROS__FORWARDABLE",
        "KRB5_CONFIG",
        "AIRFLOW_CONN_PG_KRB",
    }
    assert krb["AIRFLOW__CORE__SECURITY"] == "kerberos"
    assert krb["AIRFLOW__KERBEROS__CCACHE"] == "/var/lib/airflow-krb/ccache"
    assert "AIRFLOW__KERBEROS__KEYTAB" not in krb
    assert sched == AC.environment(Topology(), "scheduler", SECRETS)
    override = Topology(kerberos=True, config={"kerberos": {"reinit_frequency": "120"}})
    assert AC.environment(override, "worker-1", SECRETS)["AIRFLOW__KERBEROS__REINIT_FREQUENCY"] == (
        "120"
    )


def test_plain_specs_are_unchanged_by_the_feature():
    ctx = FakeCtx(topology=Topology())
    w = airflow.spec(ctx, "worker-1")
    assert [v.name for v in w.volumes] == ["worker-1-logs"]  # its log disk, not Kerberos's
    assert w.root_files == {} and w.restart is None and w.aliases == []


def test_kdc_and_target_specs(fake_keytabs):
    ctx = FakeCtx()
    k = kdc.spec(ctx)
    assert k.command == ["tb-kdc"] and k.aliases == ["kdc.testbed.internal"]
    assert k.files["/run/testbed/kdc_master_password"] == (
        SECRETS.kdc_master_password.encode(),
        0o600,
    )
    assert SECRETS.kdc_master_password not in json.dumps(k.env)
    pg = pg_krb.spec(ctx)
    assert pg.aliases == ["pg-krb.testbed.internal"] and pg.command == ["tb-pg-krb"]
    assert fake_keytabs == ["postgres/pg-krb.testbed.internal@TESTBED.INTERNAL"]


def test_krb5_conf_has_no_dns_tricks():
    conf = kdc.krb5_conf()
    for line in (
        "rdns = false",
        "dns_canonicalize_hostname = false",
        "udp_preference_limit = 1",
        "kdc = kdc.testbed.internal:88",
        ".testbed.internal = TESTBED.INTERNAL",
    ):
        assert line in conf


def test_compressed_time_scales_the_ticket_life_and_the_refresh_cycle_together(fake_keytabs):
    """At timescale 0.5 a 90 s ticket lives 45 s and the 30 s refresher cycles every 15 s:
    every node's krb5.conf, the KDC's own max life and the principals' agree; a cycle the
    topology overrides (120) is scaled too; at 1.0 nothing changes."""
    ctx = FakeCtx(topology=Topology(workers=2, kerberos=True, timescale=0.5))
    assert kdc.ticket_life(ctx) == 45
    assert kdc.spec(ctx).env["TB_KRB_TICKET_LIFE"] == "45"
    for spec in (kdc.spec(ctx), pg_krb.spec(ctx), kerberos.base_spec(ctx, "worker-1-kerberos")):
        files = {**spec.files, **spec.root_files}
        assert "ticket_lifetime = 45\n" in files[krb5.KRB5_CONF][0].decode()
    side = kerberos.base_spec(ctx, "worker-1-kerberos").env
    assert side["AIRFLOW__KERBEROS__REINIT_FREQUENCY"] == "15"
    assert AC.environment(ctx.topology, "worker-2", SECRETS)[
        "AIRFLOW__KERBEROS__REINIT_FREQUENCY"
    ] == ("15")
    override = Topology(
        kerberos=True, timescale=0.5, config={"kerberos": {"reinit_frequency": "45"}}
    )
    assert AC.kerberos_options(override)["reinit_frequency"] == "22"  # an interval rounds down
    plain = FakeCtx()
    assert kdc.ticket_life(plain) == kdc.TICKET_LIFE
    assert AC.kerberos_options(plain.topology)["reinit_frequency"] == "30"


def test_a_replace_faults_timer_option_is_scaled_and_both_are_recorded():
    from testbed import faults

    class Cluster:
        topology = Topology(workers=2, kerberos=True, timescale=0.5)

    r = faults.Replace(Cluster(), "worker-1-kerberos", config={"kerberos.reinit_frequency": 150})
    assert r.in_force() == {"kerberos.reinit_frequency": "75"}
    assert r.describe() == {
        "config": {"kerberos.reinit_frequency": "150"},
        "in_force": {"kerberos.reinit_frequency": "75"},
    }
    other = faults.Replace(Cluster(), "worker-1-kerberos", config={"kerberos.forwardable": "True"})
    assert other.describe() == {"config": {"kerberos.forwardable": "True"}}


def test_master_password_is_masked_and_old_records_still_load(tmp_path):
    assert SECRETS.kdc_master_password and SECRETS.kdc_master_password not in repr(SECRETS)
    record = SECRETS._asdict()
    del record["kdc_master_password"]
    (tmp_path / "secrets.json").write_text(json.dumps(record))
    assert Secrets.load(tmp_path).kdc_master_password == ""


# -- klist and the scan ------------------------------------------------------------------------
KLIST = """Ticket cache: FILE:/var/lib/airflow-krb/ccache
Default principal: airflow/worker-1.testbed.internal@TESTBED.INTERNAL

Valid starting     Expires            Service principal
11/26/26 01:18:11  11/26/26 01:19:41  postgres/pg-krb.testbed.internal@TESTBED.INTERNAL
11/26/26 01:18:10  11/26/26 01:19:40  krbtgt/TESTBED.INTERNAL@TESTBED.INTERNAL
\trenew until 11/26/26 01:28:09
"""


def test_parse_klist():
    v = kerberos.parse_klist(KLIST)
    assert v["principal"] == "airflow/worker-1.testbed.internal@TESTBED.INTERNAL"
    tgt = v["tickets"][0]
    assert tgt["service"].startswith("krbtgt/")
    assert tgt["start"] == "2026-11-26T01:18:10+00:00"
    assert tgt["expires"] == "2026-11-26T01:19:40+00:00"
    assert tgt["renew_until"] == "2026-11-26T01:28:09+00:00"
    assert "renew_until" not in v["tickets"][1]
    assert kerberos.parse_klist("klist: No credentials cache found") == {
        "principal": None,
        "tickets": [],
    }


def keytab_bytes(realm: bytes = b"TESTBED.INTERNAL") -> bytes:
    body = struct.pack(">HH", 2, len(realm)) + realm + b"\x00\x07airflow\x00\x08worker-1"
    return b"\x05\x02" + struct.pack(">i", len(body) + 20) + body + os.urandom(20)


def test_keytab_detection_by_content_and_name(tmp_path):
    assert keytab_scan.is_keytab(keytab_bytes())
    assert not keytab_scan.is_keytab(b"\x05\x02" + os.urandom(4) + b"\x00\x00")
    assert not keytab_scan.is_keytab(b"#!/bin/sh\n" * 3)
    (tmp_path / "hidden.bin").write_bytes(keytab_bytes())
    (tmp_path / "empty.keytab").write_bytes(b"")
    (tmp_path / "plain.txt").write_text("nothing here")
    os.chmod(tmp_path / "hidden.bin", 0o640)
    found, scanned = keytab_scan.scan_files(str(tmp_path))
    by_path = {os.path.basename(f["path"]): f for f in found}
    assert scanned == 3 and set(by_path) == {"hidden.bin", "empty.keytab"}
    assert by_path["hidden.bin"]["keytab"] and by_path["hidden.bin"]["readable_by"] == [
        "owner",
        "group",
    ]
    assert not by_path["empty.keytab"]["keytab"]


def test_cache_probe_tells_a_writable_cache(tmp_path):
    cache = tmp_path / "ccache"
    cache.write_bytes(b"x")
    v = keytab_scan.probe_cache(str(cache))
    assert v["exists"] and v["readable"] and v["append"] == "ok" and v["create"] == "ok"
    assert keytab_scan.probe_cache(str(tmp_path / "none" / "cc"))["append"] == "ENOENT"


# -- checks on hand-written histories ------------------------------------------------------------
_seq = itertools.count()


def ev(kind: str, mono: float, **fields) -> dict:
    return {"seq": next(_seq), "kind": kind, "wall": 1e9 + mono, "mono": mono, **fields}


def obs(mono: float, probe: str, target: str, value=None, error=None) -> dict:
    return ev("observation", mono, probe=probe, target=target, value=value, error=error)


def ti(mono: float, idx: int, host: str, state: str = "success", try_number: int = 1) -> dict:
    value = {
        "dag_id": "kerberized",
        "run_id": "r1",
        "task_id": "whoami",
        "map_index": idx,
        "try_number": try_number,
        "state": state,
        "queued_by_job_id": 1,
        "hostname": host,
    }
    return {**obs(mono, "task_instance", "kerberized", value), "round": 1}


def seen(host: str, principal_host: str | None = None, **over) -> dict:
    p = f"airflow/{principal_host or host}.testbed.internal@TESTBED.INTERNAL"
    return {
        "hostname": host,
        "gss_authenticated": True,
        "principal": p,
        "encrypted": True,
        "user": "etl",
        "keytab_env": {"KRB5_KTNAME": "airflow.keytab"},
        "keytab_env_exists": False,
        **over,
    }


def xcom(mono: float, **by_index) -> dict:
    return obs(
        mono,
        "kerberos_xcom",
        "a",
        {"run": "a", "xcom": {f"whoami[{i[1:]}]": v for i, v in by_index.items()}},
    )


TRIGGER = ev("trigger", 0.0, name="a", dag_id="kerberized", run_id="r1", conf={})


def run(check: str, events: list[dict], since: float | None = None, **params):
    spec = REGISTRY[check]
    return spec.evaluate(events, spec.params(**params), since=since)


def test_authenticated_as_the_worker_that_ran_it():
    h = [
        TRIGGER,
        ti(1, 0, "worker-1"),
        ti(1, 1, "worker-2"),
        xcom(2, i0=seen("worker-1"), i1=seen("worker-2")),
    ]
    r = run("kerberos_authenticated", h, run="a", min_hosts=2)
    assert r.ok and r.measurements["hosts"] == ["worker-1", "worker-2"]
    assert not run("kerberos_authenticated", h, run="a", min_hosts=3).ok


@pytest.mark.parametrize(
    "result, message",
    [
        (seen("worker-1", "worker-2"), "the server saw 'airflow/worker-2"),
        (seen("worker-1", gss_authenticated=False), "no GSSAPI authentication"),
        (seen("worker-1", encrypted=False), "not GSSAPI-encrypted"),
        (seen("worker-2", "worker-1"), "by its own account"),
        (None, "no result"),
    ],
)
def test_authentication_problems_are_named(result, message):
    h = [TRIGGER, ti(1, 0, "worker-1"), xcom(2, i0=result)]
    r = run("kerberos_authenticated", h, run="a")
    assert not r.ok and message in r.detail


def test_a_failed_task_is_not_authenticated_and_hosts_filter():
    h = [
        TRIGGER,
        ti(1, 0, "worker-1", "failed"),
        ti(1, 1, "worker-2"),
        xcom(2, i1=seen("worker-2")),
    ]
    assert "is failed" in run("kerberos_authenticated", h, run="a").detail
    assert run("kerberos_authenticated", h, run="a", hosts=["worker-2"]).ok


def tlog(mono: float, idx: int, host: str, *lines: str) -> dict:
    value = {"task_id": "whoami", "map_index": idx, "try_number": 1, "hostname": host}
    return obs(mono, "task_log", "a", {**value, "run": "a", "lines": list(lines)})


GSS_ERROR = (
    "could not initiate GSSAPI security context: Unspecified GSS failure.  Minor code may "
    "provide more information: Ticket expired"
)


def test_refused_on_one_worker_only():
    h = [
        TRIGGER,
        ti(1, 0, "worker-1", "failed"),
        ti(1, 1, "worker-2"),
        xcom(2, i1=seen("worker-2")),
        tlog(3, 0, "worker-1", "psycopg2.OperationalError: " + GSS_ERROR),
    ]
    r = run("kerberos_refused", h, run="a", host="worker-1", error="Ticket expired")
    assert r.ok and r.measurements["first_error"] == "Ticket expired"
    assert not run("kerberos_refused", h, run="a").ok  # worker-2's task was not refused
    assert run("kerberos_refused", [*h[:2], h[4]], run="a").ok
    r = run("kerberos_refused", h, run="a", host="worker-1", error="Cannot contact any KDC")
    assert not r.ok and "no /Cannot contact any KDC/" in r.detail
    assert not run("kerberos_refused", h[:-1], run="a", host="worker-1").ok  # log not read
    bad_other = [*h[:2], ti(1, 1, "worker-2", "failed"), *h[3:]]
    assert (
        "worker-2 is failed" in run("kerberos_refused", bad_other, run="a", host="worker-1").detail
    )
    assert run("kerberos_refused", bad_other, run="a", host="worker-1", others=False).ok


def scan(mono: float, node: str, **over) -> dict:
    cache = {"exists": True, "readable": True, "append": "EROFS", "create": "EROFS"}
    value = {
        "files": [],
        "scanned": 1000,
        "mounts": [],
        "env": [{"pid": 7, "name": "KRB5_KTNAME", "value": "airflow.keytab", "exists": False}],
        "cache": cache,
        "cache_as_user": dict(cache),
        "container": {"mounts": [], "keytab_env": [], "kdc_password_in_env": False},
        **over,
    }
    return obs(mono, "keytab_scan", node, value)


def test_keytab_absent_and_each_way_a_keytab_shows():
    good = [scan(1, "worker-1"), scan(1, "worker-2")]
    r = run("keytab_absent", good)
    assert r.ok and r.measurements["files_scanned"] == 2000
    assert "no such file" in r.measurements["notes"][0]
    leaks = {
        "keytab file": {"files": [{"path": "/tmp/x", "keytab": True}]},
        "(the file exists)": {
            "env": [{"pid": 7, "name": "KRB5_KTNAME", "value": "/k", "exists": True}]
        },
        "container env": {
            "container": {"mounts": [], "keytab_env": ["KRB5_KTNAME=/k"], "kdc_password_in_env": 0}
        },
        "mount /etc/krb5.keytab": {
            "container": {
                "mounts": [{"destination": "/etc/krb5.keytab", "name": None, "rw": False}],
                "keytab_env": [],
            }
        },
        "master password": {
            "container": {"mounts": [], "keytab_env": [], "kdc_password_in_env": True}
        },
    }
    for message, over in leaks.items():
        r = run("keytab_absent", [scan(1, "worker-1", **over)])
        assert not r.ok and message in r.detail, message
    assert not run("keytab_absent", good, targets=["worker-3"]).ok  # never scanned
    task_saw = xcom(2, i0=seen("worker-1", keytab_env_exists=True))
    assert not run("keytab_absent", [*good, task_saw]).ok


def test_the_worker_cannot_write_the_cache():
    assert run("worker_cache_read_only", [scan(1, "worker-1")]).ok
    writable = {"exists": True, "readable": True, "append": "ok", "create": "ok"}
    r = run("worker_cache_read_only", [scan(1, "worker-1", cache_as_user=writable)])
    assert not r.ok and "user can write the cache" in r.detail
    missing = {"exists": False, "readable": False, "append": "ENOENT", "create": "EROFS"}
    assert not run("worker_cache_read_only", [scan(1, "worker-1", cache=missing)]).ok


def ticket(mono: float, node: str, start: float, life: float = 90, restarts: int = 0) -> dict:
    sidecar = {"state": "running", "restarts": restarts, "started_at": f"t{restarts}"}
    worker = {"state": "running", "restarts": 0, "started_at": "t0"}

    def iso(t: float) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(1e9 + t, UTC).isoformat()

    value = {
        "principal": f"airflow/{node}.testbed.internal@TESTBED.INTERNAL",
        "tickets": [
            {"start": iso(start), "expires": iso(start + life), "service": "krbtgt/R@R"},
        ],
        "sidecar": sidecar,
        "node": worker,
    }
    return obs(mono, "kerberos_ticket", node, value)


def test_ticket_refreshed_every_cycle():
    h = [ticket(t, "worker-1", 31.5 * (t // 31.5)) for t in range(0, 100, 2)]
    r = run("ticket_refreshed", h, refreshes=2, max_interval=40)
    assert r.ok and r.measurements["worker-1"]["refreshes"] == 3
    assert r.measurements["worker-1"]["gaps"] == [31.5, 31.5, 31.5]
    assert not run("ticket_refreshed", h, refreshes=2, max_interval=30).ok
    assert not run("ticket_refreshed", h, refreshes=4).ok
    assert not run("ticket_refreshed", h, targets=["worker-2"]).ok


def test_a_renewal_right_after_the_kinit_is_the_same_cycle():
    starts = [0, 0, 2, 2, 31.5, 33, 63, 64.5]
    h = [ticket(10 + i, "worker-1", s) for i, s in enumerate(starts)]
    r = run("ticket_refreshed", h, refreshes=2, max_interval=40)
    assert r.ok and r.measurements["worker-1"]["gaps"] == [31.5, 31.5]


def test_ticket_refreshed_after_a_heal_within_one_cycle():
    heal = ev("fault", 50, phase="heal", name="kdc_down", fault="hang", target="kdc")
    stale = [ticket(t, "worker-1", 0) for t in range(40, 60, 2)]
    fresh = [ticket(t, "worker-1", 75) for t in range(76, 90, 2)]
    r = run("ticket_refreshed", [*stale, heal, *fresh], after="kdc_down", max_interval=40)
    assert r.ok and r.measurements["worker-1"]["gaps"] == [25.0]
    late = [ticket(t, "worker-1", 95) for t in range(96, 100, 2)]
    r = run("ticket_refreshed", [*stale, heal, *late], after="kdc_down", max_interval=40)
    assert not r.ok and "45.0s after" in r.detail
    assert not run("ticket_refreshed", stale, after="kdc_down").ok  # no heal yet


def test_ticket_valid_and_expired():
    h = [ticket(10, "worker-1", 0), ticket(100, "worker-2", 0)]
    assert run("ticket_valid", h, targets=["worker-1"]).ok
    assert not run("ticket_valid", h, targets=["worker-2"]).ok
    r = run("ticket_valid", h, targets=["worker-2"], valid=False)
    assert r.ok and r.measurements["seconds_left"] == {"worker-2": -10.0}
    gone = obs(101, "kerberos_ticket", "worker-2", {"principal": None, "tickets": []})
    assert run("ticket_valid", [*h, gone], targets=["worker-2"], valid=False).ok


def test_node_stayed_up_records_exits_and_restarts():
    inject = ev("fault", 10, phase="inject", name="kdc_down", fault="hang", target="kdc")
    heal = ev("fault", 40, phase="heal", name="kdc_down", fault="hang", target="kdc")
    quiet = [ticket(5, "worker-1", 0), inject, ticket(20, "worker-1", 0), heal]
    assert run("node_stayed_up", quiet, fault="kdc_down").ok
    assert run("node_stayed_up", quiet, fault="kdc_down", node="worker-1").ok
    exited = [
        *quiet,
        ev("container", 45, node="worker-1-kerberos", state="restarting"),
        ev("container", 46, node="worker-1-kerberos", state="running"),
        ticket(50, "worker-1", 48, restarts=2),
    ]
    r = run("node_stayed_up", exited, fault="kdc_down")
    assert not r.ok and "restarting" in r.detail and "restart count 0->2" in r.detail
    assert run("node_stayed_up", exited, fault="kdc_down", node="worker-1").ok
    late = [*quiet, ticket(200, "worker-1", 48, restarts=2)]
    assert run("node_stayed_up", late, fault="kdc_down").ok  # after the window
    assert not run("node_stayed_up", [inject], fault="kdc_down").ok


def test_task_log_lines_carry_the_exception_message():
    from testbed.observe.logs import KERBEROS_LOG_LINE, _log_text

    line = json.dumps(
        {
            "event": "Task failed with exception",
            "error_detail": [{"exc_type": "OperationalError", "exc_value": GSS_ERROR}],
        }
    )
    text = _log_text(line)
    assert text.endswith("Ticket expired") and KERBEROS_LOG_LINE.search(text)
    assert _log_text("plain text") == "plain text" and _log_text("[1]") == "[1]"
