"""DAGs from git (topology ``dag_sync``): what boots (a git server, each DAG holder's sync job,
or a git DAG bundle on every node), the image it needs, and what a scenario may not ask."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

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


def test_with_git_each_dag_holder_starts_under_its_sync_job_and_gets_no_copy():
    ctx = FakeCtx(topology=GIT)
    worker = airflow.spec(ctx, "worker-1")
    assert worker.command[:5] == ["sh", DS.SYNC_SCRIPT_PATH, DS.REPO_URL, "/opt/airflow/dags", "10"]
    assert worker.command[5:] == ["airflow", "celery", "worker"]
    assert DS.SYNC_SCRIPT_PATH in worker.files
    assert not [p for p in worker.files if p.startswith("/opt/airflow/dags/")]
    assert airflow.spec(ctx, "dag-processor").command[0] == "sh"
    assert airflow.spec(ctx, "scheduler").command == ["airflow", "scheduler"]  # reads no DAGs
    seed = git_server.spec(ctx).files
    assert f"{git_server.SEED}/drift_probe.py" in seed and len(seed) > 3


def _git(*args: str, cwd: Path) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    return subprocess.run(["git", *ident, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def _sync(tmp: Path, repo: str, dags: Path, command: str) -> subprocess.CompletedProcess:
    """The node's sync job with a long period: its first clone or pull, then ``command`` (``$0``
    the DAG folder); its output in files (the background loop keeps them open)."""
    script, out, err = tmp / "dag-sync", tmp / "out.txt", tmp / "err.txt"
    script.write_text(DS.SYNC_SCRIPT)
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            ["sh", str(script), repo, str(dags), "3600", "sh", "-c", command, str(dags)],
            stdout=o, stderr=e, start_new_session=True,
        )  # fmt: skip
    try:
        code = proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the background loop
    return subprocess.CompletedProcess(proc.args, code, out.read_text(), err.read_text())


def test_the_sync_job_clones_then_follows_the_branch_and_survives_a_restart(tmp_path):
    work, bare, dags = tmp_path / "work", tmp_path / "dags.git", tmp_path / "dags"
    work.mkdir()
    _git("init", "-q", "-b", DS.BRANCH, cwd=work)
    (work / "a.py").write_text("v = 1\n")
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "one", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    first = _git("rev-parse", "--short", "HEAD", cwd=work)
    dags.mkdir()  # the image's empty DAG folder
    run = _sync(tmp_path, f"file://{bare}", dags, 'cat "$0/a.py"')
    assert run.stdout.startswith("v = 1") and f"{DS.SYNCED} {first}" in run.stderr
    (dags / "a.py").write_text("edited on the node\n")
    (work / "a.py").write_text("v = 2\n")
    _git("commit", "-q", "-am", "two", cwd=work)
    _git("push", "-q", str(bare), DS.BRANCH, cwd=work)
    again = _sync(tmp_path, f"file://{bare}", dags, 'cat "$0/a.py"')  # a restart: it pulls
    assert again.returncode == 0, again.stderr
    assert (dags / "a.py").read_text() == "v = 2\n"  # the edit undone, the push pulled
    bare.rename(tmp_path / "moved.git")  # the server away
    gone = _sync(tmp_path, f"file://{bare}", dags, "true")
    assert gone.returncode == 0, gone.stderr  # the node starts
    failed = [ln for ln in gone.stderr.splitlines() if DS.SYNC_FAILED in ln]
    assert failed and "dags.git" in failed[0], gone.stderr  # logged with git's reason


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
    for bad_path in ("../x.py", ".git/config"):
        bad = {"push_dags": {"files": {bad_path: "new.py"}}}
        with pytest.raises(ScenarioError, match="a path inside the DAG folder"):
            from_data(_scenario({"dag_sync": "git"}, bad), base=tmp_path)
    # a DAG the push adds can be triggered after it, not before
    (tmp_path / "brand_new.py").write_text(
        "from airflow.sdk import dag\n@dag(schedule=None)\ndef brand_new(): pass\nbrand_new()\n"
    )
    push = {"push_dags": {"files": {"brand_new.py": "brand_new.py"}}}
    trigger = {"trigger": {"name": "t", "dag": "brand_new"}}
    from_data(_scenario({"dag_sync": "git"}, push, trigger), base=tmp_path)
    with pytest.raises(ScenarioError, match="unknown DAG 'brand_new'"):
        from_data(_scenario({"dag_sync": "git"}, trigger, push), base=tmp_path)
    ok = from_data(
        _scenario({"dag_sync": "git"}, {"push_dags": {"files": {"a.py": "new.py"}}}), base=tmp_path
    )
    assert ok.steps[0].files == {"a.py": str(tmp_path / "new.py")}


def test_the_sync_job_is_hung_only_where_it_runs():
    hang = {"fault": {"name": "f", "kind": "hang", "target": "worker-1", "process": "dag-sync"}}
    from_data(_scenario({"dag_sync": "git"}, hang))  # accepted
    with pytest.raises(ScenarioError, match="'dag-sync' runs only with topology dag_sync: git"):
        from_data(_scenario({}, hang))
    kill = {"fault": {**hang["fault"], "kind": "kill"}}
    with pytest.raises(ScenarioError, match="a kill of 'dag-sync' never comes back"):
        from_data(_scenario({"dag_sync": "git"}, kill))
    on_api = {"fault": {**hang["fault"], "target": "api-server"}}
    with pytest.raises(ScenarioError, match="'dag-sync' runs in worker nodes, dag-processor"):
        from_data(_scenario({"dag_sync": "git"}, on_api))
    drift = {"fault": {"name": "d", "kind": "dag_drift", "target": "worker-1", "file": "x.py"}}
    with pytest.raises(ScenarioError, match="with dag_sync: bundle no node holds DAG files"):
        from_data(_scenario({"dag_sync": "bundle"}, drift))
    with pytest.raises(ScenarioError, match="the node's next pull undoes a dag_drift"):
        from_data(_scenario({"dag_sync": "git"}, drift))
    anew = {"fault": {"name": "r", "kind": "replace", "target": DS.GIT_SERVER}}
    with pytest.raises(ScenarioError, match="every push lost"):
        from_data(_scenario({"dag_sync": "git"}, anew))
    from_data(_scenario({"dag_sync": "git"}, {"fault": {**anew["fault"], "kind": "stop"}}))
