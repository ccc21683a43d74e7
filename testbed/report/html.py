"""The HTML report of one scenario record: ``write_html(folder)`` writes ``folder/report.html``,
a single self-contained page (inline CSS and SVG, no script, nothing fetched) with a header
(scenario, verdict, run, wall time), a legend, the timeline and the tables."""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

from testbed.report import palette as P
from testbed.report import tables
from testbed.report.record import Record, load_record
from testbed.report.timeline import render_timeline

CSS = f"""
body {{ font: 13px/1.4 sans-serif; margin: 16px 24px; color: #1d2329; background: #fff; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} h2 {{ font-size: 15px; margin: 22px 0 6px; }}
.badge {{ display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff;
  font-weight: bold; margin-left: 10px; vertical-align: middle; font-size: 14px; }}
.badge.passed {{ background: {P.EXPECT_OK}; }} .badge.failed {{ background: {P.EXPECT_FAILED}; }}
.badge.left {{ background: {P.STATES["error"][0]}; }}
.meta {{ color: #4a5560; margin: 2px 0 10px; }} .meta b {{ color: #1d2329; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 8px 0; font-size: 12px; }}
.legend span.sw {{ display: inline-block; width: 22px; height: 12px; vertical-align: -2px;
  margin-right: 5px; border: 1px solid #0002; }}
.scroll {{ overflow-x: auto; border: 1px solid #d5d9de; }}
svg.timeline {{ display: block; width: 100%; min-width: 900px; height: auto; }}
svg.timeline text {{ font: 11px sans-serif; fill: #1d2329; }}
svg.timeline .tick {{ fill: #4a5560; }} svg.timeline .row {{ font-weight: bold; }}
svg.timeline .grid {{ stroke: #d5d9de; stroke-width: 1; }}
svg.timeline .mark-label {{ fill: #fff; }}
svg.timeline .mark-label.dark {{ fill: #1d2329; stroke: #fff; stroke-width: 3px;
  paint-order: stroke; }}
svg.timeline .band-label {{ fill: #fff; font-weight: bold; }}
svg.timeline .band-label.outside {{ fill: {P.FAULT_LABEL}; }}
svg.timeline .step-label.failed, svg.timeline .expect-label.fail {{ fill: {P.STEP_FAILED};
  font-weight: bold; }}
table {{ border-collapse: collapse; margin: 4px 0; }}
th, td {{ border: 1px solid #d5d9de; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #eef0f3; }} td.num {{ text-align: right; }}
td.pass {{ color: {P.EXPECT_OK}; font-weight: bold; }}
td.fail, tr.fail td:first-child {{ color: {P.EXPECT_FAILED}; font-weight: bold; }}
td.finding {{ color: {P.FINDING}; font-weight: bold; }} .empty, td.none {{ color: #7a848e; }}
td {{ max-width: 700px; overflow-wrap: anywhere; }}
"""

NOANSWER_CSS = (
    f"repeating-linear-gradient(45deg, {P.NOANSWER_STRIPE} 0 2px, {P.NOANSWER_GROUND} 2px 5px)"
)
FAULT_CSS = f"linear-gradient({P.FAULT_LABEL} 0 35%, {P.FAULT_BAND} 35%)"


def write_html(folder: Path) -> Path:
    """Write ``folder/report.html`` from ``folder/history.jsonl`` (and ``verdict.json``)."""
    folder = Path(folder)
    out = folder / "report.html"
    out.write_text(page(load_record(folder)), encoding="utf-8")
    return out


def page(rec: Record) -> str:
    body = "".join(
        [
            header(rec),
            legend(),
            f"<div class='scroll'>{render_timeline(rec)}</div>",
            *(section(rec) for section in tables.SECTIONS),
        ]
    )
    title = f"{rec.scenario} — {'PASSED' if rec.verdict.ok else 'FAILED'}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def header(rec: Record) -> str:
    v = rec.verdict
    badge = (
        "<span class='badge passed'>PASSED</span>"
        if v.ok
        else ("<span class='badge failed'>FAILED</span>")
    )
    if v.known_failure:  # expected: a reported issue reproduced on a version it affects
        k = v.known_issue
        badge = f"<span class='badge left'>KNOWN ISSUE {escape(k['reference'])} REPRODUCED</span>"
    if v.heal_problems or v.heal_failures:
        badge += "<span class='badge left'>LEFT BROKEN</span>"
    start = rec.start or (rec.events[0] if rec.events else {})
    wall = start.get("wall")
    started = (
        dt.datetime.fromtimestamp(wall, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if isinstance(wall, int | float)
        else "unknown"
    )
    meta = [
        ("run", rec.run_id or "unknown"),
        ("record", rec.folder.name),
        ("started", started),
        ("wall time", f"{v.wall_seconds:g} s"),
        ("events", str(len(rec.events))),
    ]
    if rec.skipped_lines:
        meta.append(("unreadable lines skipped", str(rec.skipped_lines)))
    items = " · ".join(f"{escape(k)} <b>{escape(val)}</b>" for k, val in meta)
    return f"<h1>{escape(rec.scenario)}{badge}</h1><p class='meta'>{items}</p>"


def legend() -> str:
    def swatch(background: str, label: str) -> str:
        return f"<span><span class='sw' style='background: {background}'></span>{label}</span>"

    items = [
        swatch(NOANSWER_CSS if state == "noanswer" else colour, escape(label))
        for state, (colour, label) in P.STATES.items()
    ]
    items += [
        swatch(FAULT_CSS, "fault: inject → heal (label bar, band behind the lanes)"),
        swatch(P.STEP, "step (dashed line at its start)"),
        swatch(P.STEP_FAILED, "failed step"),
        swatch(P.EXPECT_OK, "expectation held (E#)"),
        swatch(P.EXPECT_FAILED, "expectation failed"),
        swatch(P.FINDING, "finding (not part of the verdict)"),
    ]
    note = "<span>time axis: seconds since the scenario started; hover a mark for details</span>"
    return f"<div class='legend'>{''.join(items)}{note}</div>"
