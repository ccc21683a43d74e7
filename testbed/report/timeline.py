"""The timeline: one inline SVG with a time axis (seconds since the scenario started), fault
bands across all lanes, step markers, expectation marks and one lane per probe/target, task
instance, node container and other event kind. Hovering any mark shows its ``<title>``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from testbed.report import palette as P
from testbed.report.lanes import (
    Band,
    ExpectMark,
    Lane,
    Mark,
    StepMark,
    build_lanes,
    expectation_marks,
    fault_bands,
    step_marks,
)
from testbed.report.record import Record
from testbed.report.svg import el, fits, text

WIDTH, X0, RIGHT = 1340, 270, 30
LANE_H, LANE_GAP = 18, 5
BAND_ROW, STEP_ROW, EXPECT_ROW, AXIS = 17, 124, 26, 26
CHAR_PX = 6.2  # the width of a character of 11px sans-serif, about
STEP_LABEL_MAX = 32  # characters: a longer step label would reach into the fault labels
DARK_TEXT_STATES = {"pending", "paused", "noanswer"}


@dataclass
class Frame:
    """Where things go: x for a time, y of each row."""

    span: float
    band_levels: int
    lanes: int

    def x(self, t: float) -> float:
        return X0 + max(0.0, min(t, self.span)) / self.span * (WIDTH - X0 - RIGHT)

    @property
    def band_top(self) -> float:
        return AXIS + 6

    @property
    def step_base(self) -> float:
        return self.band_top + self.band_levels * BAND_ROW + STEP_ROW

    @property
    def expect_y(self) -> float:
        return self.step_base + 4 + EXPECT_ROW / 2

    @property
    def lanes_top(self) -> float:
        return self.step_base + 4 + EXPECT_ROW + 4

    def lane_y(self, i: int) -> float:
        return self.lanes_top + i * (LANE_H + LANE_GAP)

    @property
    def lanes_bottom(self) -> float:
        return self.lane_y(self.lanes)

    @property
    def height(self) -> float:
        return self.lanes_bottom + AXIS + 6


def render_timeline(rec: Record) -> str:
    lanes, bands, steps = build_lanes(rec), fault_bands(rec), step_marks(rec)
    span = max(rec.t_end, 1.0)
    levels = band_levels(bands, Frame(span, 0, len(lanes)))
    frame = Frame(span, max(levels, default=-1) + 1, len(lanes))
    parts = [
        defs(),
        el("rect", x=0, y=0, width=WIDTH, height=frame.height, fill=P.PLOT_GROUND),
        lane_grounds(frame, lanes),
        *(draw_band(frame, b, lvl) for b, lvl in zip(bands, levels, strict=True)),
        axis(frame),
        *(draw_lane(frame, i, lane) for i, lane in enumerate(lanes)),
        *(draw_step(frame, s) for s in steps),
        *(step_label(frame, group) for group in step_groups(frame, steps)),
        text(X0 - 8, frame.expect_y + 4, "expectations", text_anchor="end", class_="row"),
        text(X0 - 8, frame.step_base - 2, "steps", text_anchor="end", class_="row"),
        *(draw_expectation(frame, m) for m in expectation_marks(rec)),
    ]
    return el(
        "svg",
        "".join(parts),
        xmlns="http://www.w3.org/2000/svg",
        id="timeline",
        class_="timeline",
        width=WIDTH,
        height=frame.height,
        viewBox=f"0 0 {WIDTH} {frame.height:.0f}",
        role="img",
        aria_label="timeline",
    )


def defs() -> str:
    stripe = el("line", x1=0, y1=0, x2=0, y2=6, stroke=P.NOANSWER_STRIPE, stroke_width=3)
    ground = el("rect", width=6, height=6, fill=P.NOANSWER_GROUND)
    pattern = el(
        "pattern",
        ground + stripe,
        id="noanswer",
        patternUnits="userSpaceOnUse",
        width=6,
        height=6,
        patternTransform="rotate(45)",
    )
    return f"<defs>{pattern}</defs>"


def band_levels(bands: list[Band], frame: Frame) -> list[int]:
    """A label row per band: the first row where neither its bar nor its label overlaps."""
    rows: list[list[tuple[float, float]]] = []
    out = []
    for b in bands:
        *_, left, right = label_place(b, frame)
        level = next(
            (i for i, row in enumerate(rows) if all(r <= left or right <= lo for lo, r in row)),
            len(rows),
        )
        if level == len(rows):
            rows.append([])
        rows[level].append((left, right))
        out.append(level)
    return out


def label_place(band: Band, frame: Frame) -> tuple[float, str, str, float, float]:
    """(x, text-anchor, class, left, right): inside the label bar if it fits, else right of
    it, or left of it at the timeline's end; left and right bound the bar and its label."""
    x0, x1 = frame.x(band.start), frame.x(band.end)
    need = len(band.label) * CHAR_PX + 6
    if x1 - x0 >= need:
        return x0 + 3, "start", "band-label", x0, x1
    if x1 + need <= WIDTH:
        return x1 + 3, "start", "band-label outside", x0, x1 + need
    return x0 - 3, "end", "band-label outside", x0 - need, x1


def axis(frame: Frame) -> str:
    step = tick_step(frame.span)
    parts = []
    for i in range(int(frame.span / step) + 1):
        t = i * step
        x = frame.x(t)
        parts.append(
            el("line", x1=x, y1=frame.step_base, x2=x, y2=frame.lanes_bottom, class_="grid")
        )
        label = f"{t:g}s"
        parts.append(text(x, AXIS - 8, label, text_anchor="middle", class_="tick"))
        parts.append(text(x, frame.lanes_bottom + 16, label, text_anchor="middle", class_="tick"))
    return el("g", "".join(parts), class_="axis")


def tick_step(span: float, wanted: int = 12) -> float:
    raw = span / wanted
    base = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw)


def lane_grounds(frame: Frame, lanes: list[Lane]) -> str:
    parts = [
        el("rect", x=X0, y=frame.lane_y(i) - 1, width=WIDTH - X0 - RIGHT, height=LANE_H + 2)
        for i in range(len(lanes))
        if i % 2 == 0
    ]
    return el("g", "".join(parts), fill=P.LANE_GROUND)


def draw_band(frame: Frame, band: Band, level: int) -> str:
    x0, x1 = frame.x(band.start), frame.x(band.end)
    y = frame.band_top + level * BAND_ROW
    width = max(x1 - x0, 2.0)
    parts = [
        el("rect", x=x0, y=y, width=width, height=frame.lanes_bottom - y, fill=P.FAULT_BAND),
        el("rect", x=x0, y=y, width=width, height=BAND_ROW - 3, fill=P.FAULT_LABEL),
    ]
    x, anchor, cls, *_ = label_place(band, frame)
    parts.append(text(x, y + BAND_ROW - 7, band.label, class_=cls, text_anchor=anchor))
    for t, error in band.heal_failures:
        parts.append(
            el(
                "circle",
                cx=frame.x(t),
                cy=y + 7,
                r=5,
                fill=P.STATES["error"][0],
                title=f"heal failed at {t:.1f}s: {error}",
            )
        )
    tip = f"fault {band.label}: {band.start:.1f}s → {band.end:.1f}s"
    return el("g", "".join(parts), title=tip, class_="fault-band", data_fault=band.name)


def draw_lane(frame: Frame, i: int, lane: Lane) -> str:
    y = frame.lane_y(i)
    parts = [text(X0 - 8, y + 13, lane.title, text_anchor="end", class_="lane-title")]
    parts += [draw_mark(frame, y, m) for m in lane.marks]
    return el("g", "".join(parts), class_=f"lane {lane.group}", data_lane=lane.title)


def draw_mark(frame: Frame, y: float, m: Mark) -> str:
    fill = P.fill(m.state)
    if m.end is None:
        x = frame.x(m.start)
        return el(
            "rect",
            x=x - 2,
            y=y,
            width=5,
            height=LANE_H,
            fill=fill,
            title=m.tip,
            class_=f"mark point state-{m.state}",
        )
    x0 = frame.x(m.start)
    width = max(frame.x(m.end) - x0, 2.0)
    body = el(
        "rect",
        x=x0,
        y=y,
        width=width,
        height=LANE_H,
        fill=fill,
        title=m.tip,
        class_=f"mark span state-{m.state}",
    )
    if fits(m.label, width):
        cls = "mark-label dark" if m.state in DARK_TEXT_STATES else "mark-label"
        body += text(x0 + 3, y + 13, m.label, class_=cls)
    return body


def draw_step(frame: Frame, s: StepMark) -> str:
    x, failed = frame.x(s.start), bool(s.error)
    colour = P.STEP_FAILED if failed else P.STEP
    end = frame.x(s.end) if s.end is not None else x
    parts = [
        el(
            "line",
            x1=x,
            y1=frame.step_base,
            x2=x,
            y2=frame.lanes_bottom,
            stroke=colour,
            stroke_width=1.6 if failed else 1,
            stroke_dasharray=None if failed else "3 3",
        ),
        el("rect", x=x, y=frame.step_base, width=max(end - x, 2.0), height=4, fill=colour),
    ]
    duration = f", {s.end - s.start:.1f}s" if s.end is not None else ", never ended"
    tip = f"step {s.label} at {s.start:.1f}s{duration}" + (f"; error: {s.error}" if failed else "")
    cls = "step failed" if failed else "step"
    return el("g", "".join(parts), title=tip, class_=cls, data_index=s.index)


def step_groups(frame: Frame, steps: list[StepMark], min_px: float = 14) -> list[list[StepMark]]:
    """Steps that start too close together to label apart share one label."""
    groups: list[list[StepMark]] = []
    for s in steps:
        if groups and frame.x(s.start) - frame.x(groups[-1][0].start) < min_px:
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


def step_label(frame: Frame, group: list[StepMark]) -> str:
    x = frame.x(group[0].start)
    spans: list[str] = []
    room = STEP_LABEL_MAX
    for s in group:
        label = s.label if len(s.label) <= room else s.label[: max(room - 1, 0)] + "…"
        cls = "step-label failed" if s.error else "step-label"
        spans.append(f"<tspan class='{cls}'>{escape(label)}</tspan>")
        room -= len(label) + 3
        if room <= 3:
            break
    title = f"<title>{escape(' · '.join(s.label for s in group))}</title>"
    if x + STEP_LABEL_MAX * CHAR_PX * 0.77 < WIDTH:  # up and to the right
        at, anchor = f"translate({x + 3:.1f},{frame.step_base - 3:.1f}) rotate(-40)", "start"
    else:  # near the right edge: up and to the left
        at, anchor = f"translate({x - 3:.1f},{frame.step_base - 3:.1f}) rotate(40)", "end"
    return (
        f"<text transform='{at}' text-anchor='{anchor}' class='step-label'>"
        f"{title}{' · '.join(spans)}</text>"
    )


def draw_expectation(frame: Frame, m: ExpectMark) -> str:
    x, y = frame.x(m.at), frame.expect_y
    if m.finding:
        kind, colour = "finding", P.FINDING
        shape = el("path", d=f"M{x:.1f},{y - 7:.1f} l7,7 l-7,7 l-7,-7 z", fill=colour)
    else:
        kind, colour = ("pass", P.EXPECT_OK) if m.ok else ("fail", P.EXPECT_FAILED)
        shape = el("circle", cx=x, cy=y, r=7, fill=colour)
    glyph = (
        f"M{x - 3.5:.1f},{y:.1f} l2.5,3 l4.5,-6"
        if m.ok
        else f"M{x - 3:.1f},{y - 3:.1f} l6,6 m0,-6 l-6,6"
    )
    parts = [
        shape,
        el("path", d=glyph, stroke="#ffffff", stroke_width=1.8, fill="none"),
        text(x + 9, y + 4, f"E{m.number}", class_=f"expect-label {kind}"),
    ]
    delay = m.measurements.get("delay")
    tip = f"E{m.number} {m.name} ({m.check}) {kind.upper()} at {m.at:.1f}s: {m.detail}"
    tip += f"; measured delay {delay}s" if delay is not None else ""
    tip += "".join(f"; {k}={v}" for k, v in m.measurements.items() if k != "delay")
    return el("g", "".join(parts), title=tip, class_=f"expectation {kind}")
