"""Kerberos faults and drills without Docker: rotate_key, clock_skew and replace-with-config in
the scenario model (strict validation before anything boots), their environment and kvno
helpers, their registration beside the engine's kinds, and kerberos_refused judging by the
kerberized server's own log (``server_error``) on hand-written histories."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import faults, observe
from testbed.core.errors import ScenarioError
from testbed.core.values import parse_signed_duration
from testbed.scenario.load import from_data, load
from testbed.scenario.model import Scenario
from testbed.services import kdc

from .test_kerberos import TRIGGER, run, seen, ti, tlog, xcom

ROOT = Path(__file__).resolve().parents[2]
KRB = {"workers": 2, "kerberos": True}


UP = {"expect": {"name": "up", "check": "healthy", "probe": "api_health"}}


def scenario(*steps, topology=None) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "t",
            "topology": KRB if topology is None else topology,
            "steps": [*steps, {"sleep": 1}, UP],
        }
    )


def checked(*steps, topology=None) -> list[tuple[str, str]]:
    from testbed.scenario.validate import cross_check

    return cross_check(scenario(*steps, topology=topology), {"kerberized"})


# -- the model ----------------------------------------------------------------------------------
def test_signed_offsets():
    assert parse_signed_duration("-10m") == -600
    assert parse_signed_duration("+90s") == 90
    assert parse_signed_duration("2m") == 120
    assert parse_signed_duration(-30) == -30
    with pytest.raises(ValueError):
        parse_signed_duration("ten minutes")


def test_clock_skew_needs_an_offset_and_no_for():
    s = scenario(
        {"fault": {"name": "s", "kind": "clock_skew", "target": "pg-krb", "offset": "-10m"}}
    )
    assert s.steps[0].params() == {"offset": -600.0}
    for bad, msg in (
        ({"kind": "clock_skew"}, "needs 'offset'"),
        ({"kind": "clock_skew", "offset": "500ms"}, "at least 1s"),
        ({"kind": "clock_skew", "offset": "10m", "for": "30s"}, "'for' does not apply"),
        ({"kind": "hang", "offset": "10m"}, "'offset' does not apply"),
    ):
        with pytest.raises(ValueError, match=msg):
            scenario({"fault": {"name": "s", "target": "pg-krb", **bad}})


def test_replace_takes_airflow_config_only():
    s = scenario(
        {
            "fault": {
                "name": "r",
                "kind": "replace",
                "target": "worker-1-kerberos",
                "config": {"kerberos.reinit_frequency": 150},
            }
        }
    )
    assert s.steps[0].params() == {"config": {"kerberos.reinit_frequency": 150}}
    assert (
        scenario({"fault": {"name": "r", "kind": "replace", "target": "worker-1"}})
        .steps[0]
        .params()
        == {}
    )
    for bad, msg in (
        ({"kind": "replace", "config": {}}, "'config' is empty"),
        ({"kind": "replace", "config": {"Kerberos.X": 1}}, "String should match pattern"),
        ({"kind": "kill", "config": {"kerberos.reinit_frequency": 1}}, "'config' does not apply"),
    ):
        with pytest.raises(ValueError, match=msg):
            scenario({"fault": {"name": "r", "target": "worker-1-kerberos", **bad}})


def test_rotate_key_takes_no_parameters():
    s = scenario({"fault": {"name": "k", "kind": "rotate_key", "target": "pg-krb"}})
    assert s.steps[0].params() == {}
    with pytest.raises(ValueError, match="'mode' does not apply"):
        scenario(
            {"fault": {"name": "k", "kind": "rotate_key", "target": "pg-krb", "mode": "pause"}}
        )


# -- cross-step validation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault, topology, where, message",
    [
        ({"kind": "rotate_key", "target": "pg-krb"}, {"workers": 2}, "kind", "kerberos: true"),
        ({"kind": "clock_skew", "target": "pg-krb", "offset": 60}, {}, "kind", "kerberos: true"),
        ({"kind": "rotate_key", "target": "worker-1"}, None, "target", "worker-1-kerberos"),
        ({"kind": "rotate_key", "target": "kdc"}, None, "target", "holding a keytab"),
        ({"kind": "clock_skew", "target": "kdc", "offset": 60}, None, "target", "pg-krb"),
        (
            {"kind": "replace", "target": "pg-krb", "config": {"core.x": 1}},
            None,
            "config",
            "does not run Airflow",
        ),
    ],
)
def test_kerberos_faults_are_checked_before_boot(fault, topology, where, message):
    errors = checked({"fault": {"name": "f", **fault}}, topology=topology)
    assert any(w == f"steps.0.fault.{where}" and message in m for w, m in errors), errors


def test_good_kerberos_faults_pass():
    assert (
        checked(
            {"fault": {"name": "a", "kind": "rotate_key", "target": "pg-krb"}},
            {"fault": {"name": "b", "kind": "rotate_key", "target": "worker-2-kerberos"}},
            {"fault": {"name": "c", "kind": "clock_skew", "target": "pg-krb", "offset": "10m"}},
            {
                "fault": {
                    "name": "d",
                    "kind": "replace",
                    "target": "worker-1-kerberos",
                    "config": {"kerberos.reinit_frequency": 150},
                }
            },
        )
        == []
    )


def test_a_bad_kerberos_fault_is_one_clear_error_from_the_loader(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ntopology: {kerberos: true}\nsteps:\n"
        "  - fault: {name: s, kind: clock_skew, target: worker-1, offset: 10m}\n"
    )
    with pytest.raises(ScenarioError, match="clock_skew applies to pg-krb"):
        load(path)


def test_the_kerberos_drills_validate():
    for name in ("kerberos_lifetime_short", "kerberos_key_rotation", "kerberos_clock_skew"):
        s = load(ROOT / "scenarios" / f"{name}.yaml")
        assert s.topology.build().kerberos  # the same topology: one cluster for every drill


# -- faults without Docker ------------------------------------------------------------------------
def test_config_and_faketime_environment():
    assert faults.config_env({"kerberos.reinit_frequency": "150"}) == {
        "AIRFLOW__KERBEROS__REINIT_FREQUENCY": "150"
    }
    env = faults.faketime_env(-600.4)
    assert env["FAKETIME"] == "-600" and env["LD_PRELOAD"] == faults.FAKETIME_LIB
    assert faults.faketime_env(120)["FAKETIME"] == "+120"
    assert env["FAKETIME_DISABLE_SHM"] == "1" and env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1"


def test_fault_targets_and_principals():
    with pytest.raises(faults.FaultError, match="allowed: pg-krb"):
        faults.ClockSkew(None, "kdc", offset=600)
    assert faults.RotateKey(None, "pg-krb").principal.startswith("postgres/pg-krb.")
    assert (
        faults.RotateKey(None, "worker-2-kerberos").principal
        == "airflow/worker-2.testbed.internal@TESTBED.INTERNAL"
    )
    with pytest.raises(faults.FaultError, match="holding the keytab"):
        faults.RotateKey(None, "worker-2")
    r = faults.Replace(None, "worker-1-kerberos", config={"kerberos.reinit_frequency": 150})
    assert r.describe() == {"config": {"kerberos.reinit_frequency": "150"}}
    assert faults.Replace(None, "worker-1").describe() == {}


def test_parse_kvno():
    out = (
        "Principal: postgres/pg-krb.testbed.internal@TESTBED.INTERNAL\n"
        "Key: vno 2, aes256-cts-hmac-sha1-96\nKey: vno 2, aes128-cts-hmac-sha1-96\nMKey: vno 1\n"
    )
    assert kdc.parse_kvno(out) == 2
    assert kdc.parse_kvno('get_principal: Principal does not exist while retrieving "x"') is None


class _Said:
    """A KDC whose `getprinc` answers are given in turn."""

    def __init__(self, *outputs: str) -> None:
        self.outputs, self.asked = list(outputs), 0

    def container(self, node: str) -> str:
        return node

    def exec_run(self, container, cmd, **kw):
        self.asked += 1
        return type("R", (), {"output": self.outputs.pop(0), "exit_code": 0})()


def test_a_busy_kdc_is_asked_its_key_version_again(monkeypatch):
    monkeypatch.setattr(kdc.time, "sleep", lambda s: None)
    key = "Key: vno 3, aes256-cts-hmac-sha1-96\n"
    busy = _Said("kadmin.local: Cannot lock database", "", key)
    monkeypatch.setattr(kdc.runtime, "exec_run", busy.exec_run)
    assert kdc.kvno(busy, "p") == 3 and busy.asked == 3
    gone = _Said('get_principal: Principal does not exist while retrieving "p"')
    monkeypatch.setattr(kdc.runtime, "exec_run", gone.exec_run)
    assert kdc.kvno(gone, "p") is None and gone.asked == 1
    never = _Said(*["locked"] * kdc.KVNO_ATTEMPTS)
    monkeypatch.setattr(kdc.runtime, "exec_run", never.exec_run)
    with pytest.raises(kdc.ClusterError, match="no key version"):
        kdc.kvno(never, "p")


def test_the_engine_knows_the_kerberos_faults_and_probe():
    from testbed import engine
    from testbed.observe import kerberos as observe_kerberos

    assert engine.FAULTS["rotate_key"] is faults.RotateKey
    assert engine.FAULTS["clock_skew"] is faults.ClockSkew
    assert engine.GATHERERS["service_log"] is observe_kerberos.gather_service_log
    assert set(observe.GATHERERS) < set(engine.GATHERERS)  # the engine's own are kept


# -- kerberos_refused by the server's log ---------------------------------------------------------
def slog(mono: float, *lines: str, node: str = "pg-krb") -> dict:
    from .test_kerberos import obs

    return obs(mono, "service_log", "a", {"run": "a", "node": node, "lines": list(lines)})


KVNO = (
    "2026-11-26 07:20:48.962 UTC [100] DETAIL:  Unspecified GSS failure.  Minor code may "
    "provide more information: Request ticket server postgres/pg-krb.testbed.internal@"
    "TESTBED.INTERNAL kvno 2 not found in keytab; keytab is likely out of date"
)
NO_REASON = 'psycopg2.OperationalError: connection to server at "pg-krb" (1.2.3.4) failed: '


def test_refused_by_the_servers_log_when_the_task_is_told_nothing():
    h = [
        TRIGGER,
        ti(1, 0, "worker-1", "failed"),
        ti(1, 1, "worker-2", "failed"),
        tlog(3, 0, "worker-1", "TESTBED-KRB 0 on worker-1 KRB5CCNAME=/x"),
        tlog(3, 1, "worker-2", "TESTBED-KRB 1 on worker-2 KRB5CCNAME=/x"),
    ]
    params = {"run": "a", "error": None, "others": False, "server_error": r"kvno \d+ not found"}
    assert "the log of pg-krb was not read" in run("kerberos_refused", h, **params).detail
    r = run(
        "kerberos_refused",
        [*h, slog(4, "could not accept GSSAPI security context", KVNO)],
        **params,
    )
    assert r.ok, r.detail
    assert r.measurements["server_error"].startswith("Request ticket server postgres/pg-krb")
    assert r.measurements["first_error"] is None
    other = run("kerberos_refused", [*h, slog(4, "Ticket expired")], **params)
    assert not other.ok and "no /kvno" in other.detail
    wrong_node = run("kerberos_refused", [*h, slog(4, KVNO, node="postgres")], **params)
    assert not wrong_node.ok
    # the finding: the task's own log names no Kerberos reason
    told = run("kerberos_refused", [*h, slog(4, KVNO)], run="a", others=False, error="kvno|GSS")
    assert not told.ok and "no /kvno|GSS/ in its log" in told.detail
    # a task that succeeded is still a problem, with or without a pattern
    ok_task = [TRIGGER, ti(1, 0, "worker-1"), xcom(2, i0=seen("worker-1")), slog(4, KVNO)]
    assert "is success, not failed" in run("kerberos_refused", ok_task, **params).detail
    assert NO_REASON  # (what libpq says: kept for the reader)


def test_refused_params_reject_a_bad_regex():
    from testbed.checks.kerberos import RefusedParams

    with pytest.raises(ValueError, match="not a regular expression"):
        RefusedParams(run="a", server_error="kvno (")


def test_node_restarted_is_the_opposite_of_stayed_up():
    from .test_kerberos import ev, ticket

    inject = ev("fault", 10, phase="inject", name="rot", fault="rotate_key", target="x")
    quiet = [ticket(5, "worker-1", 0), inject, ticket(20, "worker-1", 0)]
    r = run("node_restarted", quiet, fault="rot", node="worker-1-kerberos")
    assert not r.ok and "kept running" in r.detail
    crashed = [*quiet, ticket(30, "worker-1", 28, restarts=3)]
    r = run("node_restarted", crashed, fault="rot", node="worker-1-kerberos")
    assert r.ok and "restart count 0->3" in r.detail
    assert not run("node_restarted", [inject], fault="rot").ok  # nothing seen is no exit
    assert not run("node_restarted", quiet, fault="never").ok


def test_a_kinit_right_after_a_heal_is_a_refresh_and_its_renewal_is_not():
    from .test_kerberos import ev, ticket

    heal = ev("fault", 50, phase="heal", name="rot", fault="rotate_key", target="x")
    stale = [ticket(t, "worker-1", 20) for t in range(40, 50, 2)]
    # the restarted refresher's kinit 2.5 s after the heal, its `kinit -R` 1.5 s later
    quick = [ticket(53, "worker-1", 52.5), ticket(55, "worker-1", 54)]
    r = run("ticket_refreshed", [*stale, heal, *stale[-1:], *quick], after="rot", max_interval=40)
    assert r.ok and r.measurements["worker-1"] == {"refreshes": 1, "gaps": [2.5]}
    # a renewal of the cycle in force at the heal is not a refresh after it
    renewal = [ticket(51, "worker-1", 51.0)]
    before = [ticket(t, "worker-1", 49.5) for t in range(40, 50, 2)]
    r = run("ticket_refreshed", [*before, heal, *renewal], after="rot", max_interval=40)
    assert not r.ok and "0 refresh(es)" in r.detail


def test_service_log_reads_the_servers_gssapi_lines_since_the_trigger(tmp_path):
    from types import SimpleNamespace

    from testbed.core.history import History
    from testbed.observe import kerberos as observe_kerberos

    asked = {}

    class Container:
        def logs(self, stdout, stderr, since):
            asked["since"] = since
            return (
                b"LOG:  database system is ready to accept connections\n"
                b"LOG:  could not accept GSSAPI security context\n" + KVNO.encode() + b"\n"
            )

    history = History(tmp_path / "history.jsonl")
    trigger = history.append("trigger", name="a", dag_id="kerberized", run_id="r1", conf={})
    cluster = SimpleNamespace(
        run_id="tbX",
        history=history,
        nodes={"pg-krb": Container()},
        container=lambda node: Container(),
    )
    params = SimpleNamespace(run="a", server_error="kvno", server="pg-krb")
    observe_kerberos.gather_service_log(cluster, {"a": ("kerberized", "r1")}, params)
    (seen,) = [e for e in history.events() if e.get("probe") == "service_log"]
    assert seen["target"] == "a" and seen["error"] is None
    assert seen["value"]["lines"] == ["LOG:  could not accept GSSAPI security context", KVNO]
    assert asked["since"] == int(trigger["wall"] - 1)
    # nothing is read without server_error, or for a run never triggered
    for p, runs in ((SimpleNamespace(run="a", server_error=None), {"a": 1}), (params, {})):
        observe_kerberos.gather_service_log(cluster, runs, p)
    assert len([e for e in history.events() if e.get("probe") == "service_log"]) == 1


def test_a_timer_in_a_replace_faults_config_must_be_seconds():
    """It is scaled by the timescale, so "30m" would only fail at inject time; refused first."""
    from testbed.core.errors import TestbedError
    from testbed.topology import Topology

    step = {"kind": "replace", "target": "worker-1-kerberos", "name": "f"}
    data = {"name": "x", "topology": {"kerberos": True}}
    bad = {**step, "config": {"kerberos.reinit_frequency": "30m"}}
    with pytest.raises(ScenarioError, match="kerberos.reinit_frequency: '30m' is not a number"):
        from_data({**data, "steps": [{"fault": bad}, UP]})
    with pytest.raises(TestbedError, match="kerberos.reinit_frequency: '30m' is not a number"):
        Topology(kerberos=True, config={"kerberos": {"reinit_frequency": "30m"}}, timescale=0.5)
    ok = {**step, "config": {"kerberos.reinit_frequency": 150, "kerberos.forwardable": "False"}}
    assert from_data({**data, "steps": [{"fault": ok}, UP]}).steps[0].config
