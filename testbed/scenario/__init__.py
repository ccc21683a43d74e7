"""Scenarios as data: the model (shared by YAML files and the Python API), loading and
validation, the dry-run plan, and the executor that runs one against a cluster.

Python API::

    from testbed.scenario import Scenario, Trigger, Wait, Fault, Heal, Expect
    SCENARIO = Scenario(name="freeze", steps=[
        Trigger(name="long", dag="long_task", conf={"seconds": 40}),
        Wait(run="long", task="work", state="running", timeout=60),
        Fault(name="freeze", kind="hang", target="scheduler", mode="pause"),
        Expect(check="health_flipped", after="freeze", within=12),
        Heal(fault="freeze"),
    ])
"""

from testbed.scenario.load import from_data, load
from testbed.scenario.model import (
    AddNode,
    Expect,
    Fault,
    Heal,
    Scenario,
    Sleep,
    TopologySpec,
    Trigger,
    Wait,
)

__all__ = [
    "AddNode",
    "Expect",
    "Fault",
    "Heal",
    "Scenario",
    "Sleep",
    "TopologySpec",
    "Trigger",
    "Wait",
    "from_data",
    "load",
]
