"""Compressed time: one factor (``timescale``, 0.1–1.0) applied to every Airflow timer a drill
depends on, so that a drill waiting for a heartbeat timeout or a health threshold waits a
fraction of it — consistently, every timer by the same factor.

A timer's base value is the topology's override if it has one, else Airflow's default; the
scaled value is what the nodes get (and what ``config_in_force`` checks Airflow really reads).
Integer thresholds and timeouts round up, integer intervals down; nothing goes below one
second (the lowest timescale, 0.2, takes Airflow's 5 s heartbeats to exactly that).

A scenario's own durations follow (:mod:`testbed.scenario.compress`): a fault's ``for:``, a
``sleep``, an expectation's ``during:`` window scale by the factor; the detection bounds
``max_delay`` and ``max_age`` scale except for :data:`SLACK` seconds of observation (probe
interval, a heartbeat written late by a busy 2-core machine), which do not shrink with Airflow's
timers. ``within:`` and ``timeout:`` are upper bounds on waiting: a passing drill never waits
them out, so they are left as written.

Pure: no Docker.
"""

from __future__ import annotations

import math
import os

from testbed.core.errors import TestbedError

# section.key: (Airflow 3's default in seconds, kind): the defaults from config.yml of the
# pinned Airflow; the kind from how Airflow's code reads the option (getint/getfloat;
# `triggerer_health_check_threshold` is read both ways, so it must be an integer) and what it
# is: an integer threshold or timeout rounds up, an integer interval rounds down, so the
# margin between a heartbeat and the threshold that judges it never shrinks by rounding.
TIMERS: dict[str, tuple[float, str]] = {
    "scheduler.scheduler_heartbeat_sec": (5, "float"),
    "scheduler.job_heartbeat_sec": (5, "float"),
    "scheduler.scheduler_health_check_threshold": (30, "int-up"),
    "scheduler.orphaned_tasks_check_interval": (300, "float"),
    "scheduler.task_instance_heartbeat_timeout": (300, "int-up"),
    "scheduler.task_instance_heartbeat_timeout_detection_interval": (10, "float"),
    "workers.min_heartbeat_interval": (5, "int-down"),
    "triggerer.job_heartbeat_sec": (5, "float"),
    "triggerer.triggerer_health_check_threshold": (30, "int-up"),
    "dag_processor.health_check_threshold": (30, "int-up"),
    # how long the token a task starts with lives (before 3.2.2: from its queueing on)
    "execution_api.jwt_expiration_time": (600, "int-up"),
}
# Kerberos (clusters with a KDC): the refresher's cycle (`airflow kerberos` reads it with getint;
# Airflow's default 3600, the testbed's 30) and the ticket life the KDC grants (the testbed's 90 s,
# an integer of seconds in kdc.conf), so an expiry a drill waits out shrinks with the cycle that
# is meant to prevent it.
KERBEROS_TIMERS: dict[str, tuple[float, str]] = {
    "kerberos.reinit_frequency": (3600, "int-down"),
}
ALL_TIMERS = {**TIMERS, **KERBEROS_TIMERS}  # every option a timescale scales
TICKET_LIFE_KIND = "int-up"
MIN_SECONDS = 1.0
SLACK = 5.0  # seconds of a detection bound that are observation, not Airflow's timers
LIMITS = (0.2, 1.0)  # 0.2: Airflow's 5 s heartbeats become 1 s, the floor
ENV = "TESTBED_TIMESCALE"  # overrides every scenario's timescale (proof runs, benchmarks)


def check(timescale: float) -> None:
    lo, hi = LIMITS
    if not lo <= timescale <= hi:
        raise TestbedError(f"timescale: must be between {lo:g} and {hi:g}, got {timescale:g}")


def from_env(default: float) -> float:
    """``TESTBED_TIMESCALE`` when set (validated), else ``default``."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise TestbedError(f"timescale: {ENV}={raw!r} is not a number (e.g. 0.5)") from None
    lo, hi = LIMITS
    if not lo <= value <= hi:
        raise TestbedError(f"timescale: {ENV}={raw!r} is not between {lo:g} and {hi:g}")
    return value


def timer_value(base: float, kind: str, timescale: float) -> str:
    value = max(MIN_SECONDS, float(base) * timescale)
    if kind == "int-up":
        return str(math.ceil(round(value, 6)))
    if kind == "int-down":
        return str(max(1, math.floor(round(value, 6))))
    return f"{value:g}"


def check_timers(config: dict[str, dict[str, str]]) -> None:
    """A timer override must be a number of seconds (it is scaled)."""
    for dotted in ALL_TIMERS:
        section, key = dotted.split(".", 1)
        raw = config.get(section, {}).get(key)
        if raw is None:
            continue
        try:
            float(raw)
        except ValueError:
            raise TestbedError(
                f"config {dotted}: {raw!r} is not a number of seconds (it is a timer)"
            ) from None


def effective(config: dict[str, dict[str, str]], timescale: float) -> dict[str, dict[str, str]]:
    """The overrides with every timer scaled (unchanged at 1.0)."""
    out = {section: dict(keys) for section, keys in config.items()}
    if timescale == 1.0:
        return out
    for dotted, (default, kind) in TIMERS.items():
        section, key = dotted.split(".", 1)
        base = config.get(section, {}).get(key, default)
        out.setdefault(section, {})[key] = timer_value(float(base), kind, timescale)
    return out


def option(dotted: str, value: str | float, timescale: float) -> str:
    """One Airflow option's value in force: scaled if it is a timer, else as written (a fault's
    ``config:`` and the ``[kerberos]`` options pass through here)."""
    kind = ALL_TIMERS.get(dotted, (None, None))[1]
    if kind is None or timescale == 1.0:
        return str(value)
    return timer_value(float(value), kind, timescale)


def ticket_life(seconds: int, timescale: float) -> int:
    """The KDC's ticket life, scaled (whole seconds, rounded up)."""
    return int(timer_value(seconds, TICKET_LIFE_KIND, timescale))


def duration(seconds: float, timescale: float) -> float:
    """A scenario's own wait (``for:``, ``sleep``, ``during:``), scaled."""
    return round(seconds * timescale, 3)


def detection_bound(seconds: float, timescale: float) -> float:
    """A detection bound (``max_delay``, ``max_age``): the timer part scales, :data:`SLACK`
    seconds of observation do not (and the bound never grows)."""
    return round(min(seconds, seconds * timescale + SLACK * (1 - timescale)), 3)
