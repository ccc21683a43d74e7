"""How the DAGs reach the nodes (``topology.dag_sync``), the production guide's choices:

- ``copy`` (the default): every node that parses or runs DAGs gets its own copy of the folder
  at boot, as a deploy that copies files would leave it;
- ``git``: the guide's advice, "check out DAGs from a git repo every 5 minutes on all nodes": a
  git server node (``git daemon``) holds the folder as a repository, and each such node clones
  it at start and pulls on a timer (``every``), its cron job;
- ``bundle``: Airflow 3's git DAG bundle (``GitDagBundle``): the dag-processor tracks the
  repository's branch, a run is pinned to the commit it was created with, and a worker fetches
  that commit before it runs a task. No node holds a DAG folder of its own.

Pure: the scripts and options the nodes get; :mod:`testbed.services.git_server` runs the
server and pushes to it.
"""

from __future__ import annotations

import json

GIT_SERVER = "git-server"
GIT_PORT = 9418
REPO = "dags.git"
BRANCH = "main"
REPO_URL = f"git://{GIT_SERVER}/{REPO}"
SYNC_SCRIPT_PATH = "/run/testbed/dag-sync"  # beside the node's secret files, not a secret
BUNDLE_NAME = "dags"
# the line each pull prints (the node's log): the commit it holds, or why the pull failed
SYNCED, SYNC_FAILED = "dag-sync: at", "dag-sync: pull failed"

FETCH_TIMEOUT = 30


def pull_command(folder: str) -> str:
    """One pull of the checkout in ``folder`` (a shell word): the branch as the server has it."""
    return (
        f"timeout {FETCH_TIMEOUT} git -C {folder} fetch -q origin "
        f"&& git -C {folder} reset -q --hard origin/{BRANCH}"
    )


# The node's cron job, as a script its command starts under: ``sh dag-sync REPO FOLDER EVERY
# COMMAND...``. The first clone before Airflow starts (retried until the server answers; a node
# started again keeps its checkout and pulls once instead), then a pull every EVERY seconds in
# the background (a pull that fails is logged with git's reason and the next one tried), then
# the Airflow command itself. A pull makes the checkout the branch as the server has it (fetch,
# then reset --hard, as git-sync does): a local edit is undone, and a branch moved back is
# followed back. A fetch gives up after FETCH_TIMEOUT seconds (a frozen server does not freeze
# the job: git's own protocol has no timeout).
SYNC_SCRIPT = f"""#!/bin/sh
repo=$1; dags=$2; every=$3; shift 3
pull() {{
  if out=$({{ {pull_command('"$dags"')}; }} 2>&1); then
    echo "{SYNCED} $(git -C "$dags" rev-parse --short HEAD)" >&2
  else
    echo "{SYNC_FAILED} ($(date -u +%H:%M:%S)): $(echo "$out" | tr '\\n' ' ')" >&2
  fi
}}
if [ -d "$dags/.git" ]; then
  pull
else
  until out=$(git clone -q --branch {BRANCH} "$repo" "$dags" 2>&1); do
    echo "dag-sync: waiting for $repo: $(echo "$out" | tail -n 1)" >&2; sleep 1
  done
  echo "{SYNCED} $(git -C "$dags" rev-parse --short HEAD)" >&2
fi
(while sleep "$every"; do pull; done) &
exec "$@"
"""


def sync_command(command: list[str], dags_folder: str, every: float) -> list[str]:
    """``command`` started under the node's sync job (the folder cloned first)."""
    return ["sh", SYNC_SCRIPT_PATH, REPO_URL, dags_folder, f"{every:g}", *command]


def bundle_environment(every: float) -> dict[str, str]:
    """The Airflow options of a git DAG bundle tracking :data:`BRANCH` of the repository,
    refreshed every ``every`` seconds, reached through the ``git_default`` connection."""
    bundles = [
        {
            "name": BUNDLE_NAME,
            "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
            "kwargs": {"tracking_ref": BRANCH, "git_conn_id": "git_default"},
        }
    ]
    return {
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": f"{int(every)}",
        "AIRFLOW_CONN_GIT_DEFAULT": json.dumps({"conn_type": "git", "host": REPO_URL}),
    }
