"""The dry-run plan: what a scenario will do, step by step, without booting anything."""

from __future__ import annotations

from testbed.scenario.model import (
    AddNode,
    Backup,
    DelayDraw,
    Expect,
    Fault,
    Heal,
    Migrate,
    RemoveNode,
    Restore,
    Scenario,
    Sleep,
    StopWorkload,
    Trigger,
    Upgrade,
    Wait,
    WaitNode,
    Workload,
)


def describe_step(step) -> str:
    if isinstance(step, Trigger):
        conf = f" conf={step.conf}" if step.conf else ""
        return f"trigger {step.dag} as {step.name!r}{conf}"
    if isinstance(step, Wait):
        what = f"task {step.task} of {step.run}" if step.task else f"run {step.run}"
        return f"wait until {what} is {step.state} (at most {step.timeout:g}s)"
    if isinstance(step, Fault):
        params = ", ".join(f"{k}={v}" for k, v in step.params().items())
        scope = f" for {step.for_:g}s" if step.for_ is not None else " until healed"
        return (
            f"fault {step.name!r}: {step.kind} {step.target}"
            + (f" ({params})" if params else "")
            + scope
            + _delay(step)
        )
    if isinstance(step, Heal):
        return f"heal {step.fault!r}"
    if isinstance(step, AddNode):
        version = f" on Airflow {step.version}" if step.version else ""
        wait = "and wait until it is ready" if step.wait else "without waiting"
        return f"add node {step.node}{version} ({wait})"
    if isinstance(step, Sleep):
        return f"sleep {step.seconds:g}s"
    if isinstance(step, Expect):
        params = ", ".join(f"{k}={v}" for k, v in (step.model_extra or {}).items())
        if step.during is not None:
            when = f"always during the next {step.during:g}s"
        elif step.within is not None:
            when = f"eventually within {step.within:g}s"
        else:
            when = "now"
        kind = "record finding" if step.finding else "expect"
        return f"{kind} {step.check}({params}) {when}"
    return _describe_upgrade_step(step)


def _delay(step: Fault) -> str:
    seconds = step.delay_seconds()
    if seconds is None:
        return ""
    drawn = ""
    if isinstance(step.delay, DelayDraw):
        lo, hi = step.delay.between
        drawn = f", drawn from seed {step.delay.seed} in [{lo:g}s, {hi:g}s]"
    return f"; injected {seconds:g}s later in the background{drawn}"


def _describe_upgrade_step(step) -> str:
    if isinstance(step, Upgrade):
        nodes = ", ".join(step.nodes) if step.nodes else "every Airflow node"
        how = "rolling only" if step.strategy == "rolling" else "as the guide says"
        how += "" if step.rollback == "restore" else "; a rollback by `airflow db downgrade`"
        return f"upgrade {nodes} to Airflow {step.to} ({how}; see `testbed upgrade-plan`)"
    if isinstance(step, Migrate):
        tail = "and wait until it exits" if step.wait else "(and go on at once)"
        return f"airflow db migrate of {step.to} as node {step.name} {tail}"
    if isinstance(step, WaitNode):
        return f"wait until node {step.node} is {step.state} (at most {step.timeout:g}s)"
    if isinstance(step, Backup):
        return f"back up the metadata DB as {step.name!r} (pg_dump)"
    if isinstance(step, Restore):
        return f"restore the metadata DB from backup {step.name!r}"
    if isinstance(step, Workload):
        return f"workload {step.name!r}: trigger {step.dag} every {step.every:g}s"
    if isinstance(step, RemoveNode):
        return f"remove node {step.node}"
    if isinstance(step, StopWorkload):
        return f"stop workload {step.name!r}"
    raise TypeError(step)


def plan(s: Scenario) -> list[str]:
    t = s.topology
    lines = [
        f"scenario {s.name}: {' '.join(s.description.split())}".rstrip(": "),
        f"topology: Airflow {t.airflow_version}, {t.workers} Celery worker(s)",
    ]
    lines += [f"  config {k} = {v}" for k, v in t.config.items()]
    lines += [f"{i:2}. {describe_step(step)}" for i, step in enumerate(s.steps)]
    lines.append(f"then: heal every fault, heal audit; no step starts after {s.timeout:g}s")
    return lines
