"""An Airflow 2 cluster's shape: webservers where Airflow 3 runs api-servers, Airflow 3's links
kept (the 2 -> 3 upgrade reuses them), Airflow 2's configuration and admin, the v1 API, and
what it refuses before anything boots."""

from __future__ import annotations

import pytest

from testbed import airflow_config as AC
from testbed.api import AirflowAPI
from testbed.api_v1 import AirflowV1API
from testbed.core.errors import TestbedError
from testbed.core.secrets import Secrets
from testbed.images.catalog import AIRFLOW_2_VERSIONS
from testbed.scenario.topology_spec import TopologySpec
from testbed.services import airflow
from testbed.topology import Topology

V2 = AIRFLOW_2_VERSIONS[0]


def test_webservers_serve_the_api_where_airflow_3_runs_api_servers():
    t = Topology(airflow_version=V2, workers=1, api_servers=2)
    assert t.line == 2
    assert t.api_server_names == ["webserver", "webserver-2"]
    assert t.airflow_nodes == ["webserver", "webserver-2", "scheduler", "dag-processor",
                               "triggerer", "worker-1"]  # fmt: skip
    assert Topology(workers=1).api_server_names == ["api-server"]
    assert airflow.role_of("webserver-2") == "webserver"


def test_airflow_3_links_keep_their_ports_and_the_webservers_come_last():
    three = {k.label: k.listen_port for k in Topology(workers=2, api_servers=2).links()}
    two = {
        k.label: k.listen_port
        for k in Topology(airflow_version=V2, workers=2, api_servers=2).links()
    }
    assert {k: two[k] for k in three} == three  # an upgrade to 3 finds every link where it was
    extra = [k for k in two if k not in three]
    assert extra == ["webserver->postgres", "webserver->minio", "webserver-2->postgres",
                     "webserver-2->minio"]  # fmt: skip
    assert min(two[k] for k in extra) > max(three.values())


def test_airflow_2_config_drops_airflow_3_options_and_runs_the_dag_processor_standalone():
    env = AC.environment(Topology(airflow_version=V2, workers=1), "scheduler", Secrets.generate())
    assert env["AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR"] == "True"
    assert env["AIRFLOW__API__AUTH_BACKENDS"] == "airflow.api.auth.backend.basic_auth"
    assert env["AIRFLOW__WEBSERVER__WORKERS"] == "1"
    gone = ("CORE__EXECUTION_API_SERVER_URL", "API__WORKERS", "CORE__SIMPLE_AUTH_MANAGER_USERS",
            "API__SECRET_KEY")  # fmt: skip
    assert not {f"AIRFLOW__{name}" for name in gone} & set(env)
    assert env["AIRFLOW__WEBSERVER__SECRET_KEY"]
    three = AC.environment(Topology(workers=1), "worker-1", Secrets.generate())
    assert "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR" not in three
    assert three["AIRFLOW__API__SECRET_KEY"] and "AIRFLOW__WEBSERVER__SECRET_KEY" not in three


def test_only_a_webserver_gets_the_admin_password_and_never_on_its_command_line():
    secrets = Secrets.generate()
    t = Topology(airflow_version=V2, workers=1)
    typed = AC.secret_files(t, "webserver", secrets)["admin_password"]
    assert typed.splitlines() == [secrets.admin_password] * 2  # the CLI asks twice
    assert "admin_password" not in AC.secret_files(t, "scheduler", secrets)
    command = airflow.ROLE_COMMANDS["webserver"][-1]
    assert "users create" in command and f"< {AC.SECRETS_DIR}/admin_password" in command
    assert secrets.admin_password not in " ".join(airflow.ROLE_COMMANDS["webserver"])


def test_the_api_client_follows_the_line(tmp_path):
    class FakeCluster:  # what api_for reads: the topology, the secrets, a host port
        def __init__(self, version):
            self.topology, self.secrets = (
                Topology(airflow_version=version, workers=1),
                Secrets.generate(),
            )
            self.run_id = "tbx"

        def host_port(self, node, port):
            return 1234

    from testbed.smoke import api_for

    assert isinstance(api_for(FakeCluster(V2)), AirflowV1API)
    assert isinstance(api_for(FakeCluster("3.3.2")), AirflowAPI)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("backend", "kubernetes", "backend"), ("kerberos", True, "kerberos"),
     ("dag_sync", "git", "dag_sync"), ("clock_jumps", True, "clock_jumps"),
     ("timescale", 0.5, "timescale")],
)  # fmt: skip
def test_what_airflow_2_does_not_run_is_refused_by_name(field, value, named):
    with pytest.raises(TestbedError, match=rf"airflow_version {V2}: .*{named}"):
        Topology(airflow_version=V2, **{field: value})


def test_a_scenario_may_name_an_airflow_2_version():
    assert TopologySpec(airflow_version=V2).airflow_version == V2
    with pytest.raises(ValueError, match="airflow_version"):
        TopologySpec(airflow_version="2.9.3")


def _two_to_three(*steps: dict) -> dict:
    return {
        "name": "up",
        "topology": {"workers": 1, "airflow_version": V2, "api_servers": 2},
        "steps": [*steps, {"expect": {"check": "no_task_lost"}}],
    }


def _error(data: dict) -> str:
    from testbed.core.errors import ScenarioError
    from testbed.scenario import from_data

    with pytest.raises(ScenarioError) as info:
        from_data(data, "drill.yaml")
    return str(info.value)


def test_after_a_two_to_three_upgrade_the_webservers_are_api_servers_to_later_steps():
    from testbed.scenario import from_data

    up = {"upgrade": {"to": "3.3.2"}}
    kill = {"fault": {"name": "k", "kind": "kill", "target": "api-server-2"}}
    assert from_data(_two_to_three(up, kill), "drill.yaml").steps[1].target == "api-server-2"
    assert "unknown" in _error(_two_to_three(kill))  # before the upgrade there is none
    webserver = {"fault": {"name": "k", "kind": "kill", "target": "webserver-2"}}
    assert "webserver-2" in _error(_two_to_three(up, webserver))  # gone after it
    add = {"add_node": {"node": "webserver-3"}}
    assert from_data(_two_to_three(add), "drill.yaml").steps[0].node == "webserver-3"


@pytest.mark.parametrize(
    ("step", "field", "says"),
    [({"to": "3.3.2", "strategy": "rolling"}, "strategy", "never live"),
     ({"to": "3.3.2", "nodes": ["scheduler"]}, "nodes", "takes every node")],
)  # fmt: skip
def test_a_two_to_three_upgrade_is_refused_live_or_partial_before_boot(step, field, says):
    assert f"steps.0.upgrade.{field}" in _error(_two_to_three({"upgrade": step}))
    assert says in _error(_two_to_three({"upgrade": step}))


def test_refused_by_names_a_check_of_a_two_to_three_upgrade_only():
    from testbed.scenario import from_data

    refused = {"upgrade": {"to": "3.3.2", "refused_by": "preflight"}}
    kill = {"fault": {"name": "k", "kind": "kill", "target": "webserver"}}  # still there after
    assert from_data(_two_to_three(refused, kill), "drill.yaml").steps[0].refused_by
    three = {"name": "up", "topology": {"workers": 1, "airflow_version": "3.2.2"},
             "steps": [refused, {"expect": {"check": "no_task_lost"}}]}  # fmt: skip
    assert "refused_by" in _error(three) and "2 -> 3 upgrade" in _error(three)
