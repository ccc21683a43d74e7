"""Image names and input hashes; the Airflow lock files' pins."""

from __future__ import annotations

from datetime import datetime

import pytest

from testbed.core.errors import ImageMissing, TestbedError
from testbed.images import catalog, lock


def test_tags_are_deterministic_and_versioned():
    assert catalog.airflow_ref("3.3.2").name == catalog.airflow_ref("3.3.2").name
    assert catalog.airflow_ref("3.3.1").tag.startswith("3.3.1-")
    assert catalog.airflow_ref("3.3.1").tag != catalog.airflow_ref("3.3.2").tag
    assert catalog.services_ref().name.startswith("testbed-services:")


def test_tag_changes_with_the_debian_mirror(monkeypatch):
    before = (catalog.base_ref().tag, catalog.services_ref().tag, catalog.airflow_ref().tag)
    monkeypatch.setenv("TESTBED_DEBIAN_MIRROR", "http://mirror.example/debian")
    after = (catalog.base_ref().tag, catalog.services_ref().tag, catalog.airflow_ref().tag)
    assert all(a != b for a, b in zip(before, after, strict=True))


def test_unknown_version_says_what_is_buildable():
    with pytest.raises(ImageMissing, match="3.3.1, 3.3.2"):
        catalog.airflow_ref("3.2.0")


@pytest.mark.parametrize("version", catalog.AIRFLOW_VERSIONS)
def test_every_lock_pins_airflow_and_names_its_cut(version):
    pins = catalog.lock_pins(version)
    assert pins["apache-airflow"] == version
    assert pins["apache-airflow-core"] == version
    for provider in ("celery", "amazon", "postgres"):
        assert f"apache-airflow-providers-{provider}" in pins
    assert "pykerberos" in pins  # the kerberos extra
    recipe = lock.recipe(version)  # the header says how it was resolved
    assert datetime.fromisoformat(recipe.cut) and f"apache-airflow-core {version}" in recipe.why


def test_every_lock_holds_the_shared_layers_c_extensions():
    """The per-version layer has no compiler: what deps.Dockerfile compiled must not change."""
    default = catalog.lock_pins(catalog.DEFAULT_AIRFLOW_VERSION)
    for version in catalog.AIRFLOW_VERSIONS:
        pins = catalog.lock_pins(version)
        assert {n: pins[n] for n in lock.COMPILED} == {n: default[n] for n in lock.COMPILED}


def test_a_lock_without_its_recipe_says_how_to_regenerate(tmp_path, monkeypatch):
    (tmp_path / "3.1.8.txt").write_text("celery==5.6.2\n")
    monkeypatch.setattr(lock, "LOCKS", tmp_path)
    with pytest.raises(TestbedError, match="3.1.8.txt: no '# cut:' line.*make lock"):
        lock.recipe("3.1.8")


def test_tools_lock_is_hash_pinned_and_not_an_airflow_version():
    assert catalog.tools_pins() == {"py-spy": "0.4.3"}
    assert "tools" not in catalog.AIRFLOW_VERSIONS
    text = (catalog.HERE / "airflow" / catalog.TOOLS_LOCK).read_text()
    requirements = [ln for ln in text.splitlines() if "==" in ln and not ln.startswith("#")]
    assert requirements and text.count("--hash=sha256:") >= len(requirements)


def _copy(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(catalog.HERE / "airflow", tmp_path / "airflow")
    monkeypatch.setattr(catalog, "HERE", tmp_path)
    return tmp_path / "airflow"


def test_airflow_tag_covers_the_tools_lock(tmp_path, monkeypatch):
    ctx = _copy(tmp_path, monkeypatch)
    before = (catalog.deps_ref().tag, catalog.airflow_ref("3.3.2").tag)
    lock = ctx / catalog.TOOLS_LOCK
    lock.write_text(lock.read_text().replace("0.4.3", "0.4.2"))
    after = (catalog.deps_ref().tag, catalog.airflow_ref("3.3.2").tag)
    assert after[0] != before[0] and after[1] != before[1]


def test_shared_lock_is_the_default_lock_without_airflows_own_packages():
    shared = catalog._pins_of(catalog.deps_lock())
    default = catalog.lock_pins(catalog.DEFAULT_AIRFLOW_VERSION)
    assert set(default) - set(shared) == catalog.PER_VERSION
    assert all(default[name] == pin for name, pin in shared.items())
    assert catalog.deps_lock().count("--hash=sha256:") >= len(shared)  # still hash-pinned


def test_a_versions_lock_names_only_its_own_image_the_default_lock_every_image(
    tmp_path, monkeypatch
):
    ctx = _copy(tmp_path, monkeypatch)
    before = {v: catalog.airflow_ref(v).tag for v in ("3.1.7", "3.3.2")}
    old = ctx / "locks" / "3.1.7.txt"
    old.write_text(old.read_text() + "\n")
    assert catalog.airflow_ref("3.1.7").tag != before["3.1.7"]
    assert catalog.airflow_ref("3.3.2").tag == before["3.3.2"]
    default = ctx / "locks" / "3.3.2.txt"
    default.write_text(default.read_text().replace("a2wsgi==1.10.10", "a2wsgi==1.10.9"))
    assert all(catalog.airflow_ref(v).tag != before[v] for v in before)


def test_snapshot_name_is_tied_to_both_images():
    name = catalog.snapshot_name("testbed-airflow:3.3.2-aaa", "testbed-services:bbb")
    assert name == "testbed-pgdata:3.3.2-aaa--bbb"
    assert catalog.snapshot_is_current({name}) is False
    current = catalog.snapshot_name(catalog.airflow_ref().name, catalog.services_ref().name)
    assert catalog.snapshot_is_current({"testbed-pgdata:old", current})


def test_airflow_2_builds_on_its_own_base_and_shared_layer_but_boots_no_cluster():
    assert "2.11.2" in catalog.IMAGE_VERSIONS and "2.11.2" not in catalog.AIRFLOW_VERSIONS
    two, three = catalog.airflow_ref("2.11.2"), catalog.airflow_ref("3.3.2")
    assert two.tag.startswith("2.11.2-") and (two.line, three.line) == (2, 3)
    # bookworm (Python 3.11) under Airflow 2, trixie (3.13) under Airflow 3: other inputs,
    # other tags, all the way down
    assert catalog.LINES[2].suite == "bookworm" and catalog.LINES[3].suite == "trixie"
    assert catalog.base_ref(2).tag != catalog.base_ref(3).tag
    assert catalog.deps_ref(2).tag != catalog.deps_ref(3).tag


def test_all_refs_adds_the_airflow_2_base_and_layer_only_when_asked_for():
    only3 = catalog.all_refs(("3.3.2", "3.3.1"))
    assert [r.kind for r in only3] == ["base", "services", "airflow-deps", "airflow", "airflow"]
    assert {r.line for r in only3} == {3}
    both = catalog.all_refs(("3.3.2", "2.11.2"))
    assert {(r.kind, r.line) for r in both} == {
        ("base", 3), ("base", 2), ("services", 3), ("airflow-deps", 3), ("airflow-deps", 2),
        ("airflow", 3), ("airflow", 2),
    }  # fmt: skip


def test_airflow_2_shared_layer_is_its_own_lock_without_apache_airflow():
    shared = catalog._pins_of(catalog.deps_lock(2))
    own = catalog.lock_pins("2.11.2")
    assert set(own) - set(shared) == {"apache-airflow"}  # 2.x has no -core, no -task-sdk
    assert shared["sqlalchemy"].startswith("1.4.")  # Airflow 2 stays on SQLAlchemy 1.4
    assert lock.recipe("2.11.2").why == "the upload of apache-airflow 2.11.2rc1"
