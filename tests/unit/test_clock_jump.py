"""``clock_jump``: a scenario with one starts its Airflow nodes with a movable clock (and only
then); the step is checked before anything boots (an Airflow node, an offset, the Docker
backend); the node's environment preloads libfaketime on the offset file."""

from __future__ import annotations

import pytest

from testbed import airflow_config, faketime
from testbed.core.errors import ScenarioError
from testbed.core.secrets import Secrets
from testbed.faults import clock
from testbed.scenario.load import from_data
from testbed.topology import Topology


def scenario(fault: dict, topology: dict | None = None) -> dict:
    return {
        "name": "jump",
        "topology": topology or {},
        "steps": [
            {"fault": {"name": "j", "kind": "clock_jump", **fault}},
            {"expect": {"name": "healthy", "check": "healthy"}},
        ],
    }


def test_a_clock_jump_step_makes_the_clocks_movable():
    s = from_data(scenario({"target": "scheduler", "offset": "2m"}))
    assert s.topology.clock_jumps and s.topology.build().clock_jumps
    plain = from_data({**scenario({}), "steps": [{"expect": {"name": "h", "check": "healthy"}}]})
    assert not plain.topology.build().clock_jumps


@pytest.mark.parametrize(
    ("fault", "topology", "said"),
    [
        ({"target": "postgres", "offset": "2m"}, None, "a node running Airflow: api-server"),
        ({"target": "scheduler"}, None, "needs 'offset' of at least 1s"),
        ({"target": "scheduler", "offset": "0s"}, None, "needs 'offset' of at least 1s"),
        ({"target": "worker-9", "offset": "1m"}, None, "worker-9"),
        (
            {"target": "worker-1-kerberos", "offset": "1m"},
            {"kerberos": True},
            "a node running Airflow",
        ),
    ],
)
def test_a_bad_clock_jump_is_refused_before_anything_boots(fault, topology, said):
    with pytest.raises(ScenarioError) as err:
        from_data(scenario(fault, topology))
    assert said in str(err.value)


def test_kubernetes_has_no_movable_clocks():
    with pytest.raises(ScenarioError) as err:
        from_data(scenario({"target": "scheduler", "offset": "1m"}, {"backend": "kubernetes"}))
    assert "clock_jump faults run on the docker backend only" in str(err.value)


class _Cluster:
    """What picking a cluster's movable nodes reads: its topology and its nodes."""

    def __init__(self, topology: Topology, extra: tuple[str, ...] = ()) -> None:
        self.topology = topology
        self.nodes = {n: None for n in (*topology.nodes, *extra)}


def test_the_movable_nodes_are_the_airflow_ones_added_ones_included():
    topology = Topology(workers=1, kerberos=True, clock_jumps=True)
    movable = clock._airflow_nodes(_Cluster(topology, extra=("scheduler-2",)))
    assert sorted(movable) == sorted([*topology.airflow_nodes, "scheduler-2"])
    assert "worker-1-kerberos" not in movable and "postgres" not in movable
    assert clock._airflow_nodes(_Cluster(Topology(workers=1))) == []  # clocks not movable


def test_a_movable_node_preloads_libfaketime_on_the_offset_file():
    secrets = Secrets.generate()
    env = airflow_config.environment(Topology(workers=1, clock_jumps=True), "worker-1", secrets)
    assert env["LD_PRELOAD"] == faketime.LIBRARY
    assert env["FAKETIME_TIMESTAMP_FILE"] == faketime.OFFSET_FILE
    assert env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1" and "FAKETIME" not in env
    plain = airflow_config.environment(Topology(workers=1), "worker-1", secrets)
    assert "LD_PRELOAD" not in plain


def test_offsets_are_libfaketimes_whole_seconds():
    assert [faketime.offset_text(x) for x in (300, -60.4, 0.6)] == ["+300", "-60", "+1"]
