"""Each Airflow lock is what its recipe resolves to today: the release's dependency set.

The header of ``locks/<version>.txt`` names its cut (nothing uploaded after the release's last
candidate). Resolved again with that recipe, the pins a reported bug most often depends on
must come out the same: a lock edited by hand, or regenerated without its cut, fails here.
Needs PyPI (the registries this machine reaches), not Docker.
"""

from __future__ import annotations

import pytest

from testbed.images import catalog, lock

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("version", catalog.IMAGE_VERSIONS)
def test_lock_core_pins_match_its_recipe(version):
    again = catalog._pins_of(lock.compile_lock(lock.recipe(version), hashes=False))
    committed = catalog.lock_pins(version)
    core = [name for name in lock.CORE if name in again or name in committed]
    assert {n: committed.get(n) for n in core} == {n: again.get(n) for n in core}
    # Airflow 2's webserver is Flask, not FastAPI
    web = "fastapi" if catalog.major(version) >= 3 else "flask"
    assert {"sqlalchemy", "celery", "kombu"} <= set(core)
    assert "pydantic" in core or version.startswith("2.10.")  # Airflow 2.10 has no pydantic
    assert web in again and again[web] == committed[web]
