"""What every Kubernetes object of the deployment shares: its namespace, the chart's labels
(each role's ``component``), and a Secret built from strings (pure)."""

from __future__ import annotations

from typing import Any

NAMESPACE = "default"
LABELS = {"tier": "airflow", "release": "testbed"}
RUN_LABEL = "testbed.io/run"  # every object of a run in an existing cluster (its run id)


def _meta(name: str, role: str | None = None) -> dict[str, Any]:
    labels = {**LABELS, **({"component": role} if role else {})}
    return {"name": name, "namespace": NAMESPACE, "labels": labels}


def _secret(name: str, role: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, role),
        "type": "Opaque",
        "stringData": data,
    }
