"""Run labels and owner liveness; per-run secrets never shown, stored 0600."""

from __future__ import annotations

import os
import stat
import subprocess

from testbed.core import labels as L
from testbed.core.secrets import Secrets


def test_run_ids_are_unique_and_labelled():
    ids = {L.new_run_id() for _ in range(50)}
    assert len(ids) == 50
    lab = L.run_labels("tbX")
    assert lab[L.RUN] == "tbX" and lab[L.PID] == str(os.getpid()) and lab[L.DETACHED] == "0"


def test_owner_alive():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert L.owner_alive(L.run_labels("r"))
    gone = {**L.run_labels("r"), L.PID: str(proc.pid)}
    assert not L.owner_alive(gone)
    assert L.owner_alive({**gone, L.DETACHED: "1"})  # `testbed up` clusters outlive it
    assert not L.owner_alive({**gone, L.PID: "0"})
    assert L.owner_alive({**gone, L.HOST: "another-host"})


def test_secrets_are_fresh_masked_and_private(tmp_path):
    a, b = Secrets.generate(), Secrets.generate()
    assert a.fernet_key != b.fernet_key and a.admin_password != b.admin_password
    assert a.admin_password not in repr(a) and "***" in repr(a)
    folder = a.save(tmp_path / "s")
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert Secrets.load(folder) == a
