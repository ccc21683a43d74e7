"""The report's colours: one per lane state, the fault band's, the steps' and the expectations';
shared by the timeline, its legend and the tests that look for them in a screenshot."""

from __future__ import annotations

# lane states (a mark's ``state``) -> (fill, legend text)
STATES: dict[str, tuple[str, str]] = {
    "ok": ("#2ca02c", "healthy / ok / success / running container"),
    "bad": ("#d62728", "unhealthy / 503 / failed / container down"),
    "noanswer": ("url(#noanswer)", "no answer (timeout, connection refused)"),
    "error": ("#ff8c1a", "probe error"),
    "running": ("#1f77b4", "task running"),
    "pending": ("#aab4c0", "queued / scheduled / starting / other state"),
    "paused": ("#e6c229", "container paused"),
    "info": ("#5b6b7b", "event"),
}
NOANSWER_STRIPE = "#1a1a1a"
NOANSWER_GROUND = "#c8c8c8"

FAULT_BAND = "#ecdcff"  # the band behind the lanes, inject -> heal
FAULT_LABEL = "#7a35e8"  # the band's label bar
PLOT_GROUND = "#fcfbf4"  # the timeline's background (unique: tests find the SVG by it)
LANE_GROUND = "#eef0f3"
STEP = "#6b7785"
STEP_FAILED = "#d62728"
EXPECT_OK = "#2ca02c"
EXPECT_FAILED = "#d62728"
FINDING = "#e09b00"


def fill(state: str) -> str:
    return STATES.get(state, STATES["info"])[0]
