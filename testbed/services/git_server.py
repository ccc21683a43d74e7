"""The git server of ``topology.dag_sync: git`` and ``bundle``: ``git daemon`` serving one
repository, made at the node's first start from the scenario's DAG folder (one commit on
``main``), on the Airflow image with git (the git provider's image).

A push (:func:`push`) is a deploy: new file contents committed in the server's working copy
and pushed to the repository the nodes pull from. A stopped and restarted server keeps its
repository (made once, in the container's own filesystem).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from testbed import airflow_config as AC
from testbed import dag_sync as DS
from testbed import runtime
from testbed.core.errors import TestbedError
from testbed.readiness import Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx
from testbed.services.airflow import dag_files

HOME = "/opt/airflow/home"
SEED, WORK, REPOS = f"{HOME}/git-seed", f"{HOME}/git-work", f"{HOME}/git-repos"
_GIT = "git -c user.name=testbed -c user.email=testbed@git-server"
SERVE = f"""set -e
if [ ! -d {REPOS}/{DS.REPO} ]; then
  git init -q -b {DS.BRANCH} {WORK} && cp -a {SEED}/. {WORK}/
  cd {WORK} && git add -A && {_GIT} commit -q -m "the DAGs as booted" && cd {HOME}
  mkdir -p {REPOS} && git clone -q --bare {WORK} {REPOS}/{DS.REPO}
  git -C {WORK} remote add server {REPOS}/{DS.REPO}
fi
exec git daemon --reuseaddr --export-all --informative-errors --base-path={REPOS} \\
  --listen=0.0.0.0 --port={DS.GIT_PORT} {REPOS}
"""


def spec(ctx: Ctx, node: str = DS.GIT_SERVER) -> NodeSpec:
    folder = ctx.topology.dags
    seed = {
        f"{SEED}/{path.removeprefix(f'{AC.DAGS_FOLDER}/')}": blob
        for path, blob in dag_files(Path(folder) if folder else None).items()
    }
    return NodeSpec(
        name=node,
        role="git-server",
        image=ctx.image_for("scheduler"),  # the Airflow image with git
        command=["sh", "-c", SERVE],
        files=seed,
    )


def probe(ctx: Ctx, node: str = DS.GIT_SERVER) -> Probe:
    """The repository answers over the git protocol (``git ls-remote``)."""

    def attempt() -> bool:
        cmd = ["git", "ls-remote", f"git://localhost/{DS.REPO}", DS.BRANCH]
        return runtime.exec_run(ctx.container(node), cmd, timeout=10, node=node).exit_code == 0

    return Probe(f"git ls-remote git://{node}/{DS.REPO}", attempt, interval=0.5)


def reset(ctx: Ctx, holders: list[str]) -> None:
    """The repository back at its first commit (the DAGs as booted), and each of ``holders``
    (the nodes with a checkout of their own) pulled to it at once, not at its next pull."""
    script = (
        f"cd {WORK} && git reset -q --hard $(git rev-list --max-parents=0 HEAD) "
        f"&& git clean -q -fdx && git push -q -f server {DS.BRANCH}"
    )
    _run(ctx, DS.GIT_SERVER, script)
    for node in holders:
        _run(ctx, node, DS.pull_command(AC.DAGS_FOLDER))


def _run(ctx: Ctx, node: str, script: str) -> str:
    r = runtime.exec_run(ctx.container(node), ["sh", "-c", script], timeout=30, node=node)
    if r.exit_code != 0:
        raise TestbedError(f"{node}: {script[:80]}... failed: {r.output.strip()[-300:]}")
    return r.output


def push(ctx: Ctx, files: dict[str, bytes], message: str) -> str:
    """Commit ``files`` ({path in the repository: content}) and push them: the commit pushed."""
    c = ctx.container(DS.GIT_SERVER)
    runtime.put_files(c, {f"{WORK}/{path}": (data, 0o644) for path, data in files.items()})
    script = (
        f"cd {WORK} && git add -A && {_GIT} commit -q --allow-empty -m {shlex.quote(message)} "
        f"&& git push -q server {DS.BRANCH} && git rev-parse HEAD"
    )
    return _run(ctx, DS.GIT_SERVER, script).strip().splitlines()[-1]
