"""The API's health probe with two api-servers: all are asked at once, a node gone
mid-replace or refusing does not stop the other's answer being the observation, a slow one gets
the whole timeout, and the serving api-server is the one that answered last (no Docker)."""

from __future__ import annotations

import time

import requests

from testbed import observe
from testbed.core.errors import TestbedError
from testbed.services import airflow
from testbed.topology import Topology
from tests.unit.test_hangproof import FakeCluster


class Answer:
    def json(self) -> dict:
        return {"metadatabase": {"status": "healthy"}}


def two_api_servers(tmp_path, monkeypatch):
    cluster = FakeCluster(tmp_path)
    cluster.topology = Topology(workers=1, api_servers=2)

    def url(c, node):
        if node == "api-server":
            raise TestbedError("no node 'api-server' in run")  # removed mid-replace
        return f"http://{node}"

    monkeypatch.setattr(airflow, "api_url", url)
    return cluster


def test_a_gone_or_refusing_api_server_is_skipped(tmp_path, monkeypatch):
    cluster = two_api_servers(tmp_path, monkeypatch)
    monkeypatch.setattr(requests, "get", lambda u, timeout: Answer())
    obs = observe.api_health(cluster)
    assert obs["error"] is None and obs["value"] == Answer().json()
    assert airflow._ANSWERED[cluster.run_id] == "api-server-2"

    def refused(u, timeout):
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(requests, "get", refused)
    obs = observe.api_health(cluster)
    assert obs["value"] is None
    assert obs["error"].startswith("NoAPIAnswer: api-server: TestbedError")
    assert "api-server-2: connection: ConnectionError" in obs["error"]


def test_a_slow_survivor_gets_the_whole_timeout(tmp_path, monkeypatch):
    """Asked in turn, a survivor answering in 2 s was given ~1.5 s and counted as silent."""
    cluster = two_api_servers(tmp_path, monkeypatch)
    monkeypatch.setattr(airflow, "api_url", lambda c, node: f"http://{node}")
    asked = {}

    def get(url, timeout):
        asked[url] = timeout
        if url.startswith("http://api-server/"):
            time.sleep(timeout)  # the stopping one: accepts, never answers
            raise requests.Timeout()
        time.sleep(observe.core.PROBE_TIMEOUT * 0.6)
        return Answer()

    monkeypatch.setattr(requests, "get", get)
    obs = observe.api_health(cluster)
    assert obs["error"] is None and obs["value"] == Answer().json()
    assert set(asked.values()) == {observe.core.PROBE_TIMEOUT}


def test_running_api_servers_first_and_the_last_answer_first_among_them(monkeypatch):
    from testbed import runtime

    class Ctx:
        run_id = "unit-order"
        topology = Topology(workers=1, api_servers=3)
        states = {"api-server": "exited(0)", "api-server-2": "running", "api-server-3": "running"}

        def container(self, name):
            return name

    ctx = Ctx()
    monkeypatch.setattr(runtime, "state", lambda c: ctx.states[c])
    assert airflow.api_candidates(ctx) == ["api-server-2", "api-server-3", "api-server"]
    airflow.api_answered(ctx, "api-server-3")
    assert airflow.api_candidates(ctx) == ["api-server-3", "api-server-2", "api-server"]


def test_a_frozen_api_server_is_not_asked_again_while_its_last_ask_hangs(tmp_path, monkeypatch):
    """No pile-up of threads on a frozen api-server: while its previous ask is unanswered it
    counts as silent at once; the others still answer."""
    import threading

    cluster = two_api_servers(tmp_path, monkeypatch)
    monkeypatch.setattr(airflow, "api_url", lambda c, node: f"http://{node}")
    release, frozen_asks = threading.Event(), []

    def get(url, timeout):
        if url.startswith("http://api-server/"):
            frozen_asks.append(url)
            release.wait(10)
            raise requests.Timeout()
        return Answer()

    monkeypatch.setattr(requests, "get", get)
    try:
        for _ in range(3):
            assert observe.api_health(cluster)["error"] is None
        assert len(frozen_asks) == 1
        monkeypatch.setattr(airflow, "api_url", lambda c, node: 1 / 0)  # nobody answers now
        obs = observe.api_health(cluster)
        assert "api-server: timeout" in obs["error"]  # still unanswered: not asked again
        assert len(frozen_asks) == 1
    finally:
        release.set()
