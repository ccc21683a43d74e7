"""DAGs from git (topology ``dag_sync``): what boots (a git server, each DAG holder's sync job,
or a git DAG bundle on every node), the image it needs, and what a scenario may not ask."""

from __future__ import annotations

import json
import subprocess

import pytest

from testbed import dag_sync as DS
from testbed.core.errors import ScenarioError, TestbedError
from testbed.drift import compare
from testbed.images import catalog
from testbed.scenario.load import from_data
from testbed.services import airflow, git_server
from testbed.topology import Topology
from tests.unit.test_service_specs import FakeCtx

GIT = Topology(dag_sync="git", dag_sync_every=10)
BUNDLE = Topology(dag_sync="bundle", dag_sync_every=10)


def _scenario(topology: dict, *steps: dict) -> dict:
    expect = {"expect": {"name": "x", "check": "no_task_lost"}}
    return {"name": "s", "topology": topology, "steps": [*steps, expect]}


def test_a_git_server_boots_with_the_infrastructure_and_the_image_has_the_provider():
    assert DS.GIT_SERVER in GIT.infra_nodes and DS.GIT_SERVER in BUNDLE.infra_nodes
    assert DS.GIT_SERVER not in Topology().nodes
    assert catalog.GIT_PROVIDER in GIT.image_requirements
    assert catalog.GIT_PROVIDER not in Topology().image_requirements
    assert catalog.system_packages(GIT.image_requirements) == ("git",)
    assert catalog.system_packages((catalog.K8S_PROVIDER,)) == ()
    # the Debian package is an input of the derived image's tag
    plain = catalog.extra_ref("3.3.2", (catalog.K8S_PROVIDER,)).tag
    assert plain != catalog.extra_ref("3.3.2", (catalog.K8S_PROVIDER, catalog.GIT_PROVIDER)).tag


def test_with_git_each_dag_holder_starts_under_its_sync_job_and_gets_no_copy():
    ctx = FakeCtx(topology=GIT)
    worker = airflow.spec(ctx, "worker-1")
    assert worker.command[:4] == ["sh", DS.SYNC_SCRIPT_PATH, "/opt/airflow/dags", "10"]
    assert worker.command[4:] == ["airflow", "celery", "worker"]
    assert DS.SYNC_SCRIPT_PATH in worker.files
    assert not [p for p in worker.files if p.startswith("/opt/airflow/dags/")]
    assert airflow.spec(ctx, "dag-processor").command[0] == "sh"
    assert airflow.spec(ctx, "scheduler").command == ["airflow", "scheduler"]  # reads no DAGs
    seed = git_server.spec(ctx).files
    assert f"{git_server.SEED}/drift_probe.py" in seed and len(seed) > 3


def test_the_sync_script_is_valid_shell_and_pulls_the_branch_as_the_server_has_it():
    assert subprocess.run(["sh", "-n"], input=DS.SYNC_SCRIPT, text=True).returncode == 0
    pull = DS.pull_command("/d")
    assert "fetch" in pull and f"reset -q --hard origin/{DS.BRANCH}" in pull


def test_with_a_bundle_every_node_names_the_git_bundle_and_none_holds_a_folder():
    ctx = FakeCtx(topology=BUNDLE)
    for node in ("worker-1", "dag-processor", "scheduler", "api-server"):
        s = airflow.spec(ctx, node)
        bundles = json.loads(s.env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
        assert bundles[0]["classpath"].endswith("GitDagBundle")
        assert s.env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"] == "10"
        assert not [p for p in s.files if p.startswith("/opt/airflow/dags/")]
        assert s.command[0] == "airflow"
    conn = json.loads(airflow.spec(ctx, "worker-1").env["AIRFLOW_CONN_GIT_DEFAULT"])
    assert conn["host"] == DS.REPO_URL


def test_the_audit_expects_no_dag_folder_where_a_bundle_fetches_the_dags():
    bundle = {"dag_processor.dag_bundle_config_list": "[...]", "core.executor": "CeleryExecutor"}
    snaps = {
        n: {"config": dict(bundle), "dags": {}, "packages": {}}
        for n in ("worker-1", "worker-2", "dag-processor", "scheduler")
    }
    assert compare(snaps).clean
    for s in snaps.values():
        del s["config"]["dag_processor.dag_bundle_config_list"]
    snaps["worker-1"]["dags"] = {"a.py": "1"}
    assert [d.item for d in compare(snaps).differences] == ["a.py"]  # the others must hold it


def test_kubernetes_and_copy_refuse_what_they_cannot_do():
    with pytest.raises(TestbedError, match="dag_sync 'git' is not built for backend kubernetes"):
        Topology(backend="kubernetes", executor="KubernetesExecutor", dag_sync="git")
    with pytest.raises(ScenarioError, match="dag_sync_every.*set dag_sync: git or bundle"):
        from_data(_scenario({"dag_sync_every": "30s"}))


def test_push_dags_needs_a_git_server_and_existing_files(tmp_path):
    push = {"push_dags": {"files": {"drift_probe.py": "nope.py"}}}
    with pytest.raises(ScenarioError, match="needs a git server"):
        from_data(_scenario({}, push), base=tmp_path)
    with pytest.raises(ScenarioError, match="files.drift_probe.py: .*nope.py is not a file"):
        from_data(_scenario({"dag_sync": "git"}, push), base=tmp_path)
    (tmp_path / "new.py").write_text("x = 1\n")
    bad = {"push_dags": {"files": {"../x.py": "new.py"}}}
    with pytest.raises(ScenarioError, match="a path inside the DAG folder"):
        from_data(_scenario({"dag_sync": "git"}, bad), base=tmp_path)
    ok = from_data(
        _scenario({"dag_sync": "git"}, {"push_dags": {"files": {"a.py": "new.py"}}}), base=tmp_path
    )
    assert ok.steps[0].files == {"a.py": str(tmp_path / "new.py")}


def test_the_sync_job_is_hung_only_where_it_runs():
    hang = {"fault": {"name": "f", "kind": "hang", "target": "worker-1", "process": "dag-sync"}}
    from_data(_scenario({"dag_sync": "git"}, hang))  # accepted
    with pytest.raises(ScenarioError, match="'dag-sync' runs only with topology dag_sync: git"):
        from_data(_scenario({}, hang))
    on_api = {"fault": {**hang["fault"], "target": "api-server"}}
    with pytest.raises(ScenarioError, match="'dag-sync' runs in worker nodes, dag-processor"):
        from_data(_scenario({"dag_sync": "git"}, on_api))
    drift = {"fault": {"name": "d", "kind": "dag_drift", "target": "worker-1", "file": "x.py"}}
    with pytest.raises(ScenarioError, match="with dag_sync: bundle no node holds DAG files"):
        from_data(_scenario({"dag_sync": "bundle"}, drift))
