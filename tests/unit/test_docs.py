"""The documentation: the MkDocs site builds with ``--strict`` (no broken link or anchor), its
generated reference pages name every fault kind, check, step action, topology field and
shipped drill, its examples are valid, the README stays short and opens with the two commands,
and the front page renders in headless Chromium.

``TESTBED_DOCS_SCREENSHOTS=1`` also saves the pictures the README and the docs link:
``docs/assets/docs-front.png`` (this site's front page) and ``docs/assets/report.png`` (the
report of a drill recorded by a real run, ``tests/unit/histories/``)."""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import yaml

from tests.prerequisites import missing
from tests.unit.browser import browse

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BUILD_TIMEOUT = 300
SCREENSHOTS = os.environ.get("TESTBED_DOCS_SCREENSHOTS") == "1"
REPORT_HISTORY = "upgrade_rolling_faults"  # the recorded drill whose report is pictured
README_HEAD = (  # exactly as CI proves them: the title, then the two set-up commands
    "# airflow-testbed\n\n```\n"
    "make demo    # provisions Docker + images if missing, boots a real Airflow 3.3 Celery "
    "cluster, runs the smoke drill and a fault drill, tears down, prints where the drill's "
    "report is\n"
    "make test    # the test suite (unit + integration on real clusters); CI runs exactly this\n"
    "```\n"
)


def build_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "NO_MKDOCS_2_WARNING": "1"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built as `make docs` builds it, but strict: a warning fails the build."""
    if not (importlib.util.find_spec("mkdocs") and importlib.util.find_spec("material")):
        missing("mkdocs and mkdocs-material are not installed: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("site")
    front = DOCS / "assets" / "docs-front.png"
    if SCREENSHOTS and not front.exists():  # the index links its own picture: a stand-in
        from PIL import Image  # until the browser test below takes the real one

        front.parent.mkdir(exist_ok=True)
        Image.new("RGB", (1, 1)).save(front)
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")]
    done = subprocess.run(
        [*cmd, "-d", str(out)],
        cwd=ROOT,
        env=build_env(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"
    return out


def page(site: Path, name: str) -> str:
    return (site / name).read_text(encoding="utf-8")


def anchors(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


# -- the build and the generated reference -----------------------------------------------------
def test_the_site_builds_strict_with_every_page_of_the_nav(site):
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(entries) -> list[str]:
        out = []
        for entry in entries:
            for value in entry.values() if isinstance(entry, dict) else [entry]:
                out += pages(value) if isinstance(value, list) else [value]
        return out

    for md in pages(nav):
        assert (site / md.replace(".md", ".html")).is_file(), md


def test_every_fault_kind_is_on_the_faults_page(site):
    from testbed.faults.registry import REGISTRY

    html = page(site, "reference/faults.html")
    assert set(REGISTRY) <= anchors(html), set(REGISTRY) - anchors(html)
    text = unescape(re.sub(r"<[^>]+>", "", html))
    for spec in REGISTRY.values():  # and what each does
        assert spec.doc[:30] in text, spec.kind


def test_every_check_is_on_the_checks_page(site):
    from testbed.checks.registry import REGISTRY

    html = page(site, "reference/checks.html")
    assert set(REGISTRY) <= anchors(html), set(REGISTRY) - anchors(html)
    for spec in REGISTRY.values():  # and every parameter of its model
        for name, field in spec.params.model_fields.items():
            assert f"<code>{field.alias or name}</code>" in html, (spec.name, name)


def test_every_step_action_is_on_the_steps_page(site):
    from testbed.scenario.steps import ACTION_MODELS, ACTIONS

    html = page(site, "reference/steps.html")
    assert set(ACTIONS) <= set(ACTION_MODELS)
    assert set(ACTION_MODELS) <= anchors(html), set(ACTION_MODELS) - anchors(html)


def test_every_topology_field_is_on_the_topology_page(site):
    from testbed.scenario.topology_spec import TopologySpec

    html = page(site, "reference/topology.html")
    for name, field in TopologySpec.model_fields.items():
        assert f"<code>{field.alias or name}</code>" in html, name


def test_the_catalogue_lists_every_shipped_drill(site):
    html = page(site, "reference/catalogue.html")
    shipped = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert shipped
    for name in shipped:
        assert f"<code>{name}</code>" in html, name


def test_no_page_fetches_anything_from_the_internet(site):
    for html_file in site.rglob("*.html"):
        html = html_file.read_text(encoding="utf-8")
        loads = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(https?:)?//', html)
        assert not loads, f"{html_file.relative_to(site)} loads from the internet"
        assert "fonts.googleapis" not in html and "fonts.gstatic" not in html


def reference_hook():
    spec = importlib.util.spec_from_file_location(
        "docs_reference_hook", DOCS / "hooks" / "reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fault_parameters_are_read_from_the_kinds_own_model():
    from types import SimpleNamespace

    from pydantic import BaseModel

    from testbed.faults.registry import REGISTRY

    hook = reference_hook()
    hang = hook.fault_parameters(REGISTRY["hang"])
    assert [p.name for p in hang] == ["process", "cmdline", "mode"] and "pause" in hang[2].type

    class HangParams(BaseModel):
        kind: str = "hang"  # the discriminator, not a parameter
        mode: str = "pause"  # how to freeze it
        seconds: float

    as_model = hook.fault_parameters(SimpleNamespace(params=HangParams))
    assert [(p.name, p.default) for p in as_model] == [("mode", "`pause`"), ("seconds", "required")]
    assert as_model[0].doc == "how to freeze it"
    assert hook.fault_parameters(SimpleNamespace(params=None)) == []


# -- the examples in the pages are valid -------------------------------------------------------
def code_blocks(language: str) -> list[tuple[str, str]]:
    """(page, code) of every fenced block of ``language`` in the hand-written pages."""
    fence = re.compile(rf"^( *)```{language}\n(.*?)^\1```", re.S | re.M)
    out = []
    for md in sorted(DOCS.glob("*.md")):
        for indent, code in fence.findall(md.read_text(encoding="utf-8")):
            out.append((md.name, "\n".join(line[len(indent) :] for line in code.splitlines())))
    return out


def test_every_whole_yaml_scenario_in_the_docs_validates():
    from testbed.scenario.load import from_data

    whole = [(p, yaml.safe_load(c)) for p, c in code_blocks("yaml")]
    whole = [(p, d) for p, d in whole if isinstance(d, dict) and {"name", "steps"} <= set(d)]
    assert len(whole) >= 2
    for md, data in whole:
        from_data(data, f"{md}: {data['name']}", base=ROOT)


def test_every_python_scenario_in_the_docs_validates(tmp_path, monkeypatch):
    from testbed.scenario import Scenario
    from testbed.scenario.load import check, load

    monkeypatch.chdir(ROOT)
    blocks = [(md, c) for md, c in code_blocks("python") if "Scenario(" in c]
    assert len(blocks) >= 2
    for i, (md, code) in enumerate(blocks):
        if "SCENARIO =" in code:  # a scenario file
            path = tmp_path / f"scenario_{i}.py"
            path.write_text(code)
            load(path)
        else:  # the pytest page's test module: its scenarios, and the paths its markers name
            namespace: dict = {}
            exec(compile(code, md, "exec"), namespace)
            built = [v for v in namespace.values() if isinstance(v, Scenario)]
            assert built, md
            for scenario in built:
                check(scenario, md)
            for path in re.findall(r'mark\.scenario\("([^"]+)"\)', code):
                load(ROOT / path)


def test_the_pytest_example_is_collected_with_its_three_tests(tmp_path):
    (code,) = [c for md, c in code_blocks("python") if md == "pytest.md"]
    (tmp_path / "test_my_drills.py").write_text(code)
    env = {**build_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "testbed.pytest_plugin"]
    done = subprocess.run(
        [*cmd, "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 tests collected" in done.stdout, done.stdout[-2000:]


# -- the README ---------------------------------------------------------------------------------
def test_the_readme_is_short_and_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(README_HEAD)
    assert len(readme.encode()) < 10_000, len(readme.encode())


def test_the_readme_links_resolve_and_nothing_links_outside_the_project():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target
    for text in [readme, *(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))]:
        assert "../shared" not in text


# -- in a browser ---------------------------------------------------------------------------------


def screenshot(chromium: str, tmp_path: Path, url: str, size: str, name: str) -> Path:
    from PIL import Image

    shot = tmp_path / name
    browse(chromium, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={size}", url)
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours and len(colours) > 50, f"{url} looks blank"
    return shot


@pytest.mark.browser
def test_the_front_page_renders_in_a_browser(site, chromium, tmp_path):
    front = site / "index.html"
    dom = browse(chromium, tmp_path / "profile", "--dump-dom", front.as_uri()).stdout
    assert re.search(r"<title>\s*airflow-testbed\s*</title>", dom), dom[:500]
    assert re.search(r"<h1[^>]*>\s*airflow-testbed", dom), "no title heading"
    assert "make demo" in dom and 'href="getting-started.html"' in dom
    shot = screenshot(chromium, tmp_path, front.as_uri(), "1280,900", "docs-front.png")
    if SCREENSHOTS:
        (DOCS / "assets").mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / "assets" / "docs-front.png")


@pytest.mark.browser
def test_the_report_picture_is_a_report_of_a_recorded_drill(chromium, tmp_path):
    from testbed.report import write_html

    folder = tmp_path / "run" / "scenarios" / f"{REPORT_HISTORY}-1"
    folder.mkdir(parents=True)
    recorded = ROOT / "tests" / "unit" / "histories" / f"{REPORT_HISTORY}.jsonl.gz"
    (folder / "history.jsonl").write_bytes(gzip.decompress(recorded.read_bytes()))
    report = write_html(folder)
    shot = screenshot(chromium, tmp_path, report.as_uri(), "1400,1000", "report.png")
    if SCREENSHOTS:
        (DOCS / "assets").mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / "assets" / "report.png")
    assert (DOCS / "assets" / "report.png").is_file(), "run once with TESTBED_DOCS_SCREENSHOTS=1"
