"""CLI input handling that needs no Docker."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.airflow_config import parse_overrides
from testbed.core.errors import TestbedError


def test_parse_overrides():
    got = parse_overrides(["scheduler.scheduler_health_check_threshold=10", "core.x=a=b"])
    assert got == {"scheduler": {"scheduler_health_check_threshold": "10"}, "core": {"x": "a=b"}}


@pytest.mark.parametrize("bad", ["scheduler=1", "scheduler.threshold", ".x=1"])
def test_bad_override_says_the_format(bad):
    with pytest.raises(TestbedError, match="SECTION.KEY=VALUE"):
        parse_overrides([bad])


def _testbed(*args: str, cwd) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("testbed")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_user_text_is_not_read_as_markup_nor_wrapped_in_a_pipe(tmp_path):
    bad = tmp_path / "bad_key_with_a_long_name_so_that_the_line_is_well_past_eighty_columns.yaml"
    bad.write_text("name: x\ntopology: {config: {Scheduler.Threshold: 1}}\nsteps:\n  - sleep: 1s\n")
    r = _testbed("validate", str(bad), cwd=tmp_path)
    assert r.returncode == 2
    assert "^[a-z_]+\\.[a-z0-9_]+$" in r.stderr  # the pattern, brackets and all
    (line,) = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert bad.name in line and len(line) > 80  # one line, not broken at 80 columns


def test_report_command_writes_each_scenario_report_of_a_run(tmp_path):
    from tests.unit.report_history import drill, write_record

    run = tmp_path / "run-1"
    for name in ("a-1", "b-1"):
        write_record(run / "scenarios" / name, drill())
    r = _testbed("report", str(run), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    written = sorted(ln.split("report: ", 1)[1] for ln in r.stdout.splitlines() if "report:" in ln)
    assert written == [str(run / "scenarios" / n / "report.html") for n in ("a-1", "b-1")]
    assert "<svg" in (run / "scenarios" / "a-1" / "report.html").read_text()
    r = _testbed("report", str(tmp_path / "nothing"), cwd=tmp_path)
    assert r.returncode == 2 and "no history.jsonl" in r.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--timescale", "0.1"], "timescale: must be between 0.2 and 1, got 0.1"),
        (["--dags", "no/such/folder"], "--dags: no/such/folder is not a folder"),
        (
            ["--kubernetes", "--executor", "LocalExecutor"],
            "executor 'LocalExecutor' is not built for backend kubernetes",
        ),
        (["--kubernetes", "--workers", "3"], "the KubernetesExecutor runs no Celery workers"),
    ],
)
def test_up_refuses_bad_input_before_booting(tmp_path, args, says):
    done = _testbed("up", "--no-build", *args, cwd=tmp_path)
    assert done.returncode != 0
    assert says in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_compose_command_renders_a_kerberos_project(tmp_path):
    import yaml

    r = _testbed(
        "compose", "--out", str(tmp_path / "k"), "--workers", "1", "--kerberos", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load((tmp_path / "k" / "docker-compose.yml").read_text())
    assert {"kdc", "pg-krb", "worker-1-kerberos"} <= set(doc["services"])
    assert "password" not in (r.stdout + r.stderr).lower()  # nothing secret is printed


def test_version_and_short_help(tmp_path):
    v = _testbed("--version", cwd=tmp_path)
    assert v.returncode == 0 and v.stdout.startswith("testbed 0.") and "3.3.2" in v.stdout
    h = _testbed("-h", cwd=tmp_path)
    assert h.returncode == 0 and "validate" in h.stdout and "Exit codes" in h.stdout


def test_validate_reports_every_bad_file_results_on_stdout_errors_on_stderr(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps: [{sleep: {seconds: 1}}]\nnope: 1\n")
    r = _testbed("validate", str(bad), "quiet", "no_such_drill_here", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout.splitlines() == ["ok quiet: scenario quiet, 7 steps"]  # a bare drill name
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 2  # both bad inputs, not only the first
    assert "bad.yaml" in errors[0] and "no drill of that name" in errors[1]


def test_validate_json_parses_and_says_which_file_failed(tmp_path):
    r = _testbed("validate", "--json", "quiet", "nothing_like_it", cwd=tmp_path)
    rows = json.loads(r.stdout)
    assert [(x["file"], x["ok"]) for x in rows] == [("quiet", True), ("nothing_like_it", False)]
    assert r.returncode == 2


def test_list_is_the_catalogue_filtered(tmp_path):
    from testbed.scenario import catalog

    r = _testbed("list", "--json", "--family", "upgrade", cwd=tmp_path)
    found = json.loads(r.stdout)
    assert found and {e["family"] for e in found} == {"upgrade"}
    shipped = [n for n in catalog.names() if n.startswith("upgrade_")]
    assert [e["name"] for e in found] == shipped
    k8s = json.loads(_testbed("list", "--json", "--backend", "kubernetes", cwd=tmp_path).stdout)
    assert k8s and all(e["backend"] == "kubernetes" for e in k8s)
    assert _testbed("list", "--family", "nope", cwd=tmp_path).returncode == 2


def test_the_readme_lists_every_exit_code():
    from testbed.core import exit_codes

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for code, _ in exit_codes.TABLE:
        assert f"\n| {code} | " in readme


def test_validate_lists_every_problem_of_one_file(tmp_path):
    many = tmp_path / "many.yaml"
    many.write_text(
        "name: many\nsteps:\n"
        "  - fault: {name: a, kind: hang, target: scheduler, mdoe: x}\n"
        "  - fault: {name: b, kind: kill, target: scheduler, signal: USR9}\n"
        "  - wait: {run: r, state: success, timeout: 10, bogus: 1}\n"
        "  - sleep: {seconds: 1, also: 2}\n"
        "  - sleep: {seconds: 1, more: 3}\n"
    )
    r = _testbed("validate", str(many), cwd=tmp_path)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 5  # not cut at pydantic's first four
    assert [e.split(": ")[2] for e in errors] == [
        "steps.0.fault.mdoe",
        "steps.1.fault.signal",
        "steps.2.wait.bogus",
        "steps.3.sleep.also",
        "steps.4.sleep.more",
    ]


def test_run_json_keeps_stdout_for_the_json(tmp_path, capsys):
    from testbed import runs
    from testbed.core import progress
    from testbed.scenario.verdict import Verdict

    verdict = Verdict("drill", ok=True, heal_problems=["worker-1 is paused"], wall_seconds=3)
    (tmp_path / "report.html").write_text("<html></html>")
    with progress.results_on_stderr():
        runs.print_verdict(verdict, tmp_path)
    out, err = capsys.readouterr()
    assert out == "" and "PASSED drill" in err  # the readable verdict went to stderr
    runs.print_verdict(verdict, tmp_path)
    assert "PASSED drill" in capsys.readouterr().out  # and back on stdout afterwards
    data = json.loads(json.dumps(runs.verdict_json(verdict, tmp_path)))
    assert data["scenario"] == "drill" and data["clean"] is False and data["exit_code"] == 3
    assert data["report"] == str(tmp_path / "report.html")


def test_run_dry_run_json_is_the_plan_as_json(tmp_path):
    r = _testbed("run", "--dry-run", "--json", "quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (only,) = json.loads(r.stdout)
    assert only["scenario"] == "quiet" and any("trigger" in line for line in only["plan"])


def test_list_refuses_an_unknown_backend(tmp_path):
    r = _testbed("list", "--backend", "nomad", cwd=tmp_path)
    assert r.returncode == 2 and "allowed: docker, kubernetes" in r.stderr


# -- every command's help ---------------------------------------------------------------------


def _commands(command=None, path=()):
    """(path, command) of the testbed app, then of every group and command registered under it,
    read from the app itself: a command added later is walked too."""
    import typer.main

    from testbed.cli import app

    command = command or typer.main.get_command(app)
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands())


def _help(path: tuple[str, ...], columns: int = 200) -> str:
    """``testbed PATH --help`` as a person reads it (by default wide enough that rich wraps no
    line)."""
    from typer.testing import CliRunner

    from testbed.cli import app

    done = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(columns)})
    assert done.exit_code == 0, done.output
    return re.sub(r"\x1b\[[0-9;]*m", "", done.output)  # no colours (FORCE_COLOR in CI)


def _examples(text: str) -> list[list[str]]:
    """The `testbed ...` invocations of a help's Example line, split as a shell would."""
    (line,) = [ln for ln in text.splitlines() if "Example: `testbed " in ln]
    return [shlex.split(cmd)[1:] for cmd in re.findall(r"`(testbed [^`]+)`", line)]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "testbed")
def test_every_command_help_ends_with_an_example_that_parses(path):
    text = _help(path)
    assert text.count("Example: `testbed ") == 1, f"testbed {' '.join(path)} --help: no Example"
    for args in _examples(text):  # each one names commands and options that exist
        command, rest = COMMANDS[()], list(args)
        while rest and rest[0] in getattr(command, "commands", {}):
            command = command.commands[rest.pop(0)]
        command.make_context("testbed", rest)  # raises on an unknown option or a bad value


def test_the_walk_reaches_the_groups_and_their_sub_commands():
    assert {("run",), ("chaos",), ("images",), ("images", "build"), ("images", "prune")} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "testbed")
def test_defaults_are_shown_one_way(path):
    """Only typer's `[default: ...]` (a described one, such as "the only running one", as its
    show_default string), never a default written in an option's prose."""
    text = _help(path)
    assert "(default" not in text.lower()
    for param in COMMANDS[path].params:
        assert "default" not in (param.help or "").lower(), f"{param.name}: {param.help}"
    if path == ("down",):
        assert "Run id. [default: (the only running one)]" in text
    if path == ("chaos",):
        assert "[default: 10m]" in text and "[default: hang,kill,restart,link]" in text


def test_the_command_list_has_one_line_per_command():
    """`testbed --help` in a 100-column terminal lists each command on one line: a short
    summary, not one broken by the source's line breaks (rich prints those as they are)."""
    text = _help((), columns=100)
    for path, command in COMMANDS.items():
        if len(path) == 1:
            (row,) = [ln for ln in text.splitlines() if re.match(rf"│ {path[0]} +\S", ln)]
            first = command.help.split("\n\n")[0]
            assert "\n" not in first and first in row, row


def test_chaos_option_defaults_are_the_chaos_step_defaults():
    from testbed.chaos.cli import step_default
    from testbed.core.values import parse_duration
    from testbed.scenario.steps_chaos import Chaos

    for field in ("duration", "min_fault", "max_fault", "min_gap", "max_gap", "settle"):
        assert parse_duration(step_default(field)) == Chaos.model_fields[field].default
    assert step_default("duration") == "10m" and step_default("settle") == "4m"
    assert step_default("faults").split(",") == Chaos.model_fields["faults"].default
    assert step_default("workload") == Chaos.model_fields["workload"].default


def test_chaos_options_left_out_stay_the_step_defaults(tmp_path):
    """A default shown is not a value given: --replay still refuses only what was typed."""
    r = _testbed("chaos", "--seed", "3", "--dry-run", cwd=tmp_path)
    same = _testbed("chaos", "--seed", "3", "--duration", "10m", "--dry-run", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == same.stdout, r.stderr
    bare = _testbed("chaos", "--replay", str(tmp_path / "none"), cwd=tmp_path)
    assert bare.returncode == 2 and "does not apply" not in bare.stderr
    typed = _testbed("chaos", "--replay", str(tmp_path / "none"), "--settle", "4m", cwd=tmp_path)
    assert typed.returncode == 2 and "--settle does not apply" in typed.stderr


def test_chaos_on_kubernetes_draws_pod_kinds_on_a_kubernetes_topology(tmp_path):
    """`--kubernetes` draws the backend's default kinds (pod_delete and link) on a Kubernetes
    topology; its Kubernetes options alone are refused, and so is a Kubernetes kind on Docker,
    with the reason, before anything boots."""
    r = _testbed("chaos", "--seed", "13", "--kubernetes", "--k8s-nodes", "3", "--duration", "2m",
                 "--dry-run", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "pod_delete(" in r.stdout and "on Kubernetes (3 node(s)" in r.stdout
    docker = _testbed("chaos", "--seed", "13", "--duration", "2m", "--dry-run", cwd=tmp_path)
    assert docker.returncode == 0 and "pod_delete" not in docker.stdout
    alone = _testbed("chaos", "--seed", "13", "--executor", "KubernetesExecutor", "--dry-run",
                     cwd=tmp_path)  # fmt: skip
    assert alone.returncode != 0 and "--executor applies with --kubernetes only" in alone.stderr
    pods = _testbed("chaos", "--seed", "13", "--faults", "pod_delete", "--dry-run", cwd=tmp_path)
    assert pods.returncode != 0 and "'pod_delete' runs on backend kubernetes" in pods.stderr
