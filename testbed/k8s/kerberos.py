"""Kerberos on Kubernetes, as the production guide arranges it in a pod: ``airflow kerberos`` as
a sidecar container in each Celery worker's pod (the chart's ``workers.kerberosSidecar``). Only
the sidecar mounts the worker's keytab (a Secret of its own); it refreshes a credential cache on
a memory-backed ``emptyDir`` the worker container mounts read-only; both read the realm's
``krb5.conf`` from a ConfigMap. The KDC and the kerberized Postgres stay containers beside the
node (their names are ``hostAliases`` entries, as Postgres' is).

Pure: the objects, and the sidecar added to a worker's pod spec (testbed.k8s.manifests).
"""

from __future__ import annotations

import base64
from typing import Any

from testbed import airflow_config as AC
from testbed import krb5, timescale
from testbed.k8s.meta import _meta, _secret
from testbed.services import kdc
from testbed.services.kerberos import KEYTAB_NAME, worker_principal
from testbed.topology import Topology, sidecar_name

SIDECAR = "kerberos"  # the sidecar container's name in a worker's pod
# the sidecar's first ticket, awaited before the worker starts: up to 2 min (a KDC slow to
# answer); a sidecar that never gets one is restarted by the kubelet
FIRST_TICKET = {"periodSeconds": 1, "timeoutSeconds": 5, "failureThreshold": 120}
CONF_MAP = "krb5-conf"


def objects(topology: Topology, keytabs: dict[str, bytes]) -> list[dict[str, Any]]:
    """Per worker, its keytab's Secret and its sidecar's environment (no cluster secret in it);
    the realm's ``krb5.conf`` (this run's ticket life) as a ConfigMap."""
    conf = kdc.krb5_conf(timescale.ticket_life(kdc.TICKET_LIFE, topology.timescale))
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(CONF_MAP),
            "data": {"krb5.conf": conf},
        }
    ]
    for worker in topology.worker_names:
        # a worker's principal names its Deployment, whichever pod runs it
        env = AC.sidecar_environment(topology, worker_principal(worker), KEYTAB_NAME)
        out.append(_secret(f"airflow-env-{sidecar_name(worker)}", worker, env))
        if worker in keytabs:  # (none given: the objects an upgrade applies again)
            keytab = base64.b64encode(keytabs[worker]).decode()
            out.append(_keytab_secret(worker, keytab))
    return out


def _keytab_secret(worker: str, keytab_b64: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(f"keytab-{worker}", worker),
        "type": "Opaque",
        "data": {KEYTAB_NAME: keytab_b64},
    }


def add_sidecar(spec: dict[str, Any], worker: str) -> None:
    """The worker's pod spec gains the sidecar, the keytab volume (mounted in the sidecar
    only), the shared cache (read-only in the worker) and ``krb5.conf`` (in both). A native
    sidecar (an init container that keeps running): the worker starts only once the cache
    holds a ticket (its startup probe), and at the pod's deletion the refresher stops after
    the worker, so a warm shutdown's tasks keep their tickets."""
    conf = {"name": "krb5-conf", "mountPath": krb5.KRB5_CONF, "subPath": "krb5.conf"}
    cache = {"name": "ccache", "mountPath": AC.CCACHE_DIR}
    worker_c = spec["containers"][0]
    worker_c["volumeMounts"] += [conf, {**cache, "readOnly": True}]
    sidecar = {
        "name": SIDECAR,
        "image": worker_c["image"],
        "imagePullPolicy": "Never",
        "command": ["airflow", "kerberos"],
        "envFrom": [{"secretRef": {"name": f"airflow-env-{sidecar_name(worker)}"}}],
        "volumeMounts": [
            {"name": "keytab", "mountPath": AC.SECRETS_DIR, "readOnly": True},
            conf,
            cache,
        ],
        "restartPolicy": "Always",
        "startupProbe": {"exec": {"command": ["klist", "-s", "-c", AC.CCACHE]}, **FIRST_TICKET},
    }
    spec.setdefault("initContainers", []).append(sidecar)
    spec["volumes"] += [
        # 0440, group root: the image's airflow user (uid 50000) is in group 0
        {"name": "keytab", "secret": {"secretName": f"keytab-{worker}", "defaultMode": 0o440}},
        {"name": "krb5-conf", "configMap": {"name": CONF_MAP}},
        {"name": "ccache", "emptyDir": {"medium": "Memory"}},
    ]
