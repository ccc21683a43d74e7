"""``runtime.run_once``: one short container, removed whatever happens; a command that does not
end is an ExecTimeout naming it (a stand-in engine, no Docker). And the pre-flight's config
lint says when Airflow's lint itself failed, instead of reporting nothing to change."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from testbed import runtime
from testbed.core.errors import ExecTimeout, TestbedError


class FakeContainer:
    def __init__(self, answer) -> None:
        self.answer, self.removed, self.started = answer, False, False

    def start(self) -> None:
        self.started = True

    def wait(self, timeout):
        if isinstance(self.answer, Exception):
            raise self.answer
        return {"StatusCode": self.answer}

    def logs(self, stdout=True, stderr=True) -> bytes:
        return b"out\n" if stdout else b"err\n"

    def remove(self, force=False) -> None:
        self.removed = True


def _engine(monkeypatch, answer) -> tuple[FakeContainer, dict]:
    made, options = FakeContainer(answer), {}

    def create(image, **kw):
        options.update(kw)
        return made

    fake = SimpleNamespace(containers=SimpleNamespace(create=create))
    monkeypatch.setattr(runtime, "client", lambda: fake)
    return made, options


def test_an_answer_is_returned_and_the_container_removed(monkeypatch):
    made, options = _engine(monkeypatch, 3)
    done = runtime.run_once("img", ["python", "-c", "x"], timeout=5, node="probe", user="1:1")
    assert (done.code, done.stdout, done.stderr) == (3, "out\n", "err\n")
    assert made.removed and options["network_mode"] == "none" and options["user"] == "1:1"


def test_no_answer_is_an_exec_timeout_and_the_container_is_removed_all_the_same(monkeypatch):
    made, _ = _engine(monkeypatch, TimeoutError("read timed out"))
    with pytest.raises(ExecTimeout, match=r"`python -c x` on probe \(img\) gave no answer"):
        runtime.run_once("img", ["python", "-c", "x"], timeout=5, node="probe")
    assert made.started and made.removed


def test_a_config_lint_that_fails_is_an_error_not_an_empty_report(monkeypatch, tmp_path):
    from testbed import dagparse, preflight

    cfg = tmp_path / "airflow.cfg"
    cfg.write_text("[core]\nexecutor = %(nope)s\n")
    monkeypatch.setattr(dagparse, "built_image", lambda *a: "img")
    failed = runtime.OnceResult(1, "", "configparser.InterpolationMissingOptionError: nope\n")
    monkeypatch.setattr(runtime, "run_once", lambda *a, **kw: failed)
    with pytest.raises(TestbedError, match="config lint` of 3.3.2 failed: .*Interpolation"):
        preflight.config_lint(cfg, "3.3.2")
