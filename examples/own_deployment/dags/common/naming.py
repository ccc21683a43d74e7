"""How this deployment names its reports."""

from __future__ import annotations


def report_name(run_id: str) -> str:
    return f"daily-report-{run_id.split('__')[-1][:10]}"
