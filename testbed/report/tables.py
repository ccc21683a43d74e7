"""The report's tables, each a function of the record: expectations, findings, failed steps,
triggered runs, config in force, heal audit and failures, diagnostics, container logs and the
events of kinds the report does not know. Every value from the history is escaped."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from testbed.report.lanes import ExpectMark, expectation_marks, short
from testbed.report.record import Record, log_links

KNOWN_KINDS = {
    "scenario", "step", "fault", "observation", "container", "trigger", "expectation",
    "aborted", "heal_audit", "resolved", "reset", "interrupted", "diagnostics",
}  # fmt: skip


TIMES = ("seq", "kind", "wall", "mono")  # shown as the row's time, not again in its event


def cell(value: Any) -> str:
    if value is None:
        return "<td class='none'>—</td>"
    return f"<td>{escape(value if isinstance(value, str) else short(value, 2000))}</td>"


def table(title: str, head: list[str], rows: list[str], empty: str, id_: str) -> str:
    """A titled table of ready rows (``<tr>`` strings), or ``empty`` when there are none."""
    heading = f"<h2 id='{id_}'>{escape(title)}</h2>"
    if not rows:
        return f"{heading}<p class='empty'>{escape(empty)}</p>"
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = f"<thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody>"
    return f"{heading}<table class='{id_}'>{body}</table>"


def row(*cells: str, cls: str = "") -> str:
    return f"<tr class='{cls}'>{''.join(cells)}</tr>" if cls else f"<tr>{''.join(cells)}</tr>"


def link(href: str, label: str) -> str:
    return f"<a href='{escape(quote(href, safe='/._-~'), quote=True)}'>{escape(label)}</a>"


def t_cell(seconds: float) -> str:
    return f"<td class='num'>{seconds:.1f}</td>"


def expectation_row(m: ExpectMark) -> str:
    verdict = ("NOTE ok" if m.ok else "NOTE not ok") if m.finding else ("PASS" if m.ok else "FAIL")
    cls = "finding" if m.finding else ("pass" if m.ok else "fail")
    return row(
        cell(f"E{m.number}"),
        t_cell(m.at),
        cell(m.name),
        cell(m.check),
        f"<td class='{cls}'>{verdict}</td>",
        cell(m.detail),
        cell(m.measurements or None),
        cls=cls,
    )


def expectations(rec: Record) -> str:
    marks = expectation_marks(rec)
    head = ["#", "at (s)", "name", "check", "result", "detail", "measurements"]
    return table(
        "Expectations",
        head,
        [expectation_row(m) for m in marks if not m.finding],
        "no expectation recorded (the verdict fails without one)",
        "expectations",
    ) + table(
        "Findings (recorded, not part of the verdict)",
        head,
        [expectation_row(m) for m in marks if m.finding],
        "no findings",
        "findings",
    )


def failed_steps(rec: Record) -> str:
    rows = []
    for e in rec.events:
        if e["kind"] == "step" and e.get("phase") == "end" and e.get("error"):
            what = (e.get("index"), e.get("action"), e.get("name"), e.get("error"))
        elif e["kind"] in ("aborted", "interrupted"):
            what = (e.get("index"), e["kind"], e.get("name"), e.get("error") or e["kind"])
        else:
            continue
        rows.append(row(t_cell(rec.t(e)), *map(cell, what), cls="fail"))
    head = ["at (s)", "index", "action", "name", "error"]
    return table("Failed steps and aborts", head, rows, "every step completed", "failed-steps")


def triggers(rec: Record) -> str:
    rows = [
        row(t_cell(rec.t(e)), cell(e.get("name")), cell(e.get("dag_id")), cell(e.get("run_id")))
        for e in rec.of("trigger")
    ]
    return table("Runs triggered", ["at (s)", "name", "dag", "run id"], rows, "none", "runs")


def config(rec: Record) -> str:
    wanted = (rec.start or {}).get("config") or {}
    read: dict[str, dict[str, Any]] = {}  # node -> what Airflow read there (last observation)
    for e in rec.of("observation"):
        if e.get("probe") == "config":
            value = e.get("value")
            read[str(e.get("target"))] = (
                value if isinstance(value, dict) else {"(error)": e.get("error")}
            )
    keys = sorted(set(wanted) | {k for values in read.values() for k in values})
    nodes = sorted(read)
    rows = [row(cell(k), cell(wanted.get(k)), *(cell(read[n].get(k)) for n in nodes)) for k in keys]
    head = ["option", "set by the scenario", *(f"read by Airflow on {n}" for n in nodes)]
    return table("Config in force", head, rows, "no overrides", "config")


def heal(rec: Record) -> str:
    audits = rec.of("heal_audit")
    problems = audits[-1].get("problems") if audits else rec.verdict.heal_problems
    rows = [row(cell(p), cls="fail") for p in problems or []]
    out = table("Heal audit", ["problem left behind"], rows, "clean: nothing left broken", "heal")
    failures = [
        row(t_cell(rec.t(e)), cell(e.get("name")), cell(e.get("fault")), cell(e.get("target")),
            cell(e.get("error")), cls="fail")
        for e in rec.of("fault")
        if e.get("phase") == "heal_failed"
    ]  # fmt: skip
    head = ["at (s)", "fault", "kind", "target", "error"]
    return out + table("Heal failures", head, failures, "every heal succeeded", "heal-failures")


def diagnostics(rec: Record) -> str:
    rows = []
    for e in rec.of("diagnostics"):
        path = str(e.get("path") or "")
        present = "" if (rec.folder / path).exists() else " (missing)"
        target = f"<td>{link(path, path)}{escape(present)}</td>" if path else cell(None)
        rows.append(row(t_cell(rec.t(e)), cell(e.get("node")), cell(e.get("reason")), target))
    head = ["at (s)", "node", "reason", "file"]
    return table("Diagnostics", head, rows, "none collected", "diagnostics")


def logs(rec: Record) -> str:
    rows = [row(cell(node), f"<td>{link(href, href)}</td>") for node, href in log_links(rec.folder)]
    return table("Container logs", ["node", "log"], rows, "no container logs saved", "logs")


def unknown(rec: Record) -> str:
    rows = [
        row(t_cell(rec.t(e)), cell(e["kind"]), cell({k: v for k, v in e.items() if k not in TIMES}))
        for e in rec.events
        if e["kind"] not in KNOWN_KINDS
    ]
    head = ["at (s)", "kind", "event"]
    return table("Other events", head, rows, "none of a kind this report does not know", "other")


SECTIONS = (expectations, failed_steps, triggers, config, heal, diagnostics, logs, unknown)
