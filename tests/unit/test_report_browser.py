"""The HTML report in a real browser: headless Chromium renders a hand-written record, and the
screenshot must really show the timeline (its fault band and its "unhealthy" red where they
belong), and the DOM must hold the timeline SVG with its lanes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testbed.report import palette as P
from testbed.report import write_html
from testbed.report.timeline import RIGHT, WIDTH, X0
from tests.unit.browser import browse
from tests.unit.report_history import drill, write_record

pytestmark = pytest.mark.browser
SPAN = 59.5  # seconds the hand-written drill lasts


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("run") / "scenarios" / "scheduler_hang-1"
    return write_html(write_record(folder, drill()))


def test_the_screenshot_shows_the_timeline(chromium, page, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    browse(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2000",
           page.as_uri())  # fmt: skip
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 2000)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours and len(colours) > 50, "the page looks blank"

    left, top, right, bottom = ground_box(image)  # the SVG: where its own background colour is
    assert right - left > 900 and bottom - top > 300, (left, top, right, bottom)
    scale = (right - left + 1) / WIDTH

    def column(t: float) -> list[tuple[int, int, int]]:
        x = round(left + (X0 + t / SPAN * (WIDTH - X0 - RIGHT)) * scale)
        return [image.getpixel((x, y)) for y in range(top, bottom + 1)]

    band, red = rgb(P.FAULT_BAND), rgb(P.STATES["bad"][0])
    assert column(30).count(band) > 100, "the fault band (20 s -> 40 s) is not drawn at 30 s"
    assert column(10).count(band) == 0, "a fault band where there is no fault (10 s)"
    assert column(30).count(rgb(P.FAULT_LABEL)) > 5, "the fault band has no label bar"
    assert column(35).count(red) > 10, "api_health is not shown unhealthy (red) at 35 s"
    assert column(10).count(red) == 0, "red at 10 s, when everything was healthy"
    dark = [y for y, p in enumerate(column(30)) if max(p) < 0x70]  # the hatch (anti-aliased)
    assert len(dark) > 2, "the scheduler's unanswered health checks are not hatched"
    lane = column(12.5)[min(dark) : max(dark) + 1]  # the same lane while the scheduler answered
    assert lane and all(p == rgb(P.STATES["ok"][0]) for p in lane), "not green when it answered"


def ground_box(image) -> tuple[int, int, int, int]:
    """The bounding box of the timeline's background colour (the colour is used nowhere else)."""
    from PIL import Image, ImageChops

    diff = ImageChops.difference(image, Image.new("RGB", image.size, rgb(P.PLOT_GROUND)))
    r, g, b = diff.split()
    largest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    box = largest.point(lambda v: 255 if v == 0 else 0).getbbox()
    assert box, "no timeline on the screenshot"
    return box[0], box[1], box[2] - 1, box[3] - 1


def test_the_dom_holds_the_timeline_svg(chromium, page, tmp_path):
    dom = browse(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert re.search(r'<svg [^>]*id="timeline"', dom), dom[:500]
    lanes = re.findall(r'data-lane="([^"]+)"', dom)
    assert "api_health · api-server" in lanes and "container scheduler" in lanes
    assert re.findall(r'data-fault="([^"]+)"', dom) == ["freeze", "cut"]
    assert "<script" not in dom
