"""The api-server's readiness (``airflow.api_ready``) against a real HTTP server on loopback
that answers as an api-server does: its health, then the Execution API's first request, which
takes a while (it builds the Execution API's routes). No Docker."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from testbed.services import airflow


class FakeApiServer(BaseHTTPRequestHandler):
    """Answers health with ``health`` and the Execution API with ``execution`` after
    ``warmup`` seconds; records the paths asked."""

    health, execution, warmup, asked = 200, 404, 0.0, []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).asked.append(self.path)
        status = type(self).health
        if self.path == airflow.EXECUTION_WARMUP:
            time.sleep(type(self).warmup)
            status = type(self).execution
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    FakeApiServer.health, FakeApiServer.execution, FakeApiServer.warmup = 200, 404, 0.0
    FakeApiServer.asked = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_ready_only_once_the_execution_api_has_answered(server):
    FakeApiServer.warmup = 1.0
    started = time.monotonic()
    assert airflow.api_ready(server)
    assert time.monotonic() - started >= 1.0  # it waited for the slow first answer
    assert FakeApiServer.asked == [airflow.HEALTH_PATH, airflow.EXECUTION_WARMUP] + [
        airflow.HEALTH_PATH
    ]


def test_unhealthy_api_is_not_ready_and_the_execution_api_is_not_asked(server):
    FakeApiServer.health = 503
    assert not airflow.api_ready(server)
    assert FakeApiServer.asked == [airflow.HEALTH_PATH]


def test_a_build_longer_than_one_attempt_is_waited_out_by_the_next(server):
    FakeApiServer.warmup = airflow.WARMUP_TIMEOUT + 0.5
    with pytest.raises(requests.Timeout):  # readiness counts it as "not ready yet"
        airflow.api_ready(server)
    FakeApiServer.warmup = 0.0
    assert airflow.api_ready(server)


def test_any_answer_below_500_means_the_routes_are_built(server):
    for status, ready in ((401, True), (404, True), (200, True), (500, False), (503, False)):
        FakeApiServer.execution = status
        assert airflow.api_ready(server) is ready, status
