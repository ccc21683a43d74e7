"""`testbed images build` on a cold machine: the base first, then the services and shared
Airflow images side by side, then the Airflow images side by side; a failed build stops new
ones and is raised (no Docker)."""

from __future__ import annotations

import threading
import time

import pytest

from testbed.core.errors import ImageBuildError
from testbed.images import build

VERSIONS = ("3.3.2", "3.3.1", "3.2.2")


def fake_builds(monkeypatch, fail: str | None = None):
    log, lock, running = [], threading.Lock(), [0, 0]  # (now, most at once)
    paired = {"services": threading.Event(), "airflow": threading.Event()}  # two at once

    def builder(ref, verbose):
        with lock:
            log.append(("start", ref.kind, ref.name))
            running[0] += 1
            running[1] = max(running[1], running[0])
            stage = "airflow" if ref.kind == "airflow" else "services"
            if running[0] >= 2:
                paired[stage].set()
        if ref.kind != "base":  # give a second build the chance to start (none does one by one)
            paired[stage].wait(0.5)
        time.sleep(0.02)
        with lock:
            running[0] -= 1
            log.append(("end", ref.kind, ref.name))
        if fail and fail in ref.name:
            raise ImageBuildError(ref.name, "boom", tail=[])

    monkeypatch.setattr(build, "exists", lambda ref: False)
    monkeypatch.setattr(build, "_BUILDERS", {k: builder for k in build._BUILDERS})
    return log, running


def test_base_then_services_beside_shared_image_then_airflow_images_two_at_a_time(monkeypatch):
    log, running = fake_builds(monkeypatch)
    out = build.ensure(VERSIONS)
    assert [what for _, what in out] == ["built"] * 6
    kinds = [k for e, k, _ in log if e == "start"]
    assert kinds[0] == "base" and set(kinds[1:3]) == {"services", "airflow-deps"}
    assert kinds[3:] == ["airflow"] * 3
    assert log[1] == ("end", "base", log[0][2])  # nothing starts before the base is built
    # the services image and the shared Airflow layer were under way at once
    assert [e for e, _, _ in log[2:4]] == ["start", "start"]
    first_airflow = next(i for i, e in enumerate(log) if e[1] == "airflow")
    before = [(e, k) for e, k, _ in log[:first_airflow]]
    assert ("end", "services") in before and ("end", "airflow-deps") in before
    assert running[1] == build.SIDE_BY_SIDE  # two builds overlapped, never three


def test_verbose_builds_one_at_a_time(monkeypatch):
    _, running = fake_builds(monkeypatch)
    build.ensure(VERSIONS, verbose=True)
    assert running[1] == 1


def test_a_failed_build_is_raised_and_starts_no_more(monkeypatch):
    monkeypatch.setattr(build, "SIDE_BY_SIDE", 1)
    log, _ = fake_builds(monkeypatch, fail="testbed-airflow:")  # whichever goes first
    with pytest.raises(ImageBuildError, match="testbed-airflow:"):
        build.ensure(VERSIONS)
    started = [n for e, k, n in log if e == "start" and k == "airflow"]
    assert len(started) == 1  # the other two never began
