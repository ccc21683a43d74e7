"""Per-run secrets: generated fresh for every run, kept in files with mode 0600, never printed.

Airflow reads most of them through ``*_cmd`` options (``cat /run/testbed/<name>``) from files
copied into each container, so they are not in the containers' environment either.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True, repr=False)
class Secrets:
    fernet_key: str
    jwt_secret: str
    api_secret_key: str
    admin_password: str
    pg_password: str
    redis_password: str
    minio_password: str
    # The KDC database's master password (clusters with Kerberos): only the KDC node gets it,
    # once, to create its database; a default keeps records of older runs loadable.
    kdc_master_password: str = ""

    def __repr__(self) -> str:  # never leak a value through a log line or a traceback
        return f"Secrets({', '.join(f.name + '=***' for f in fields(self))})"

    @classmethod
    def generate(cls) -> Secrets:
        return cls(
            fernet_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            jwt_secret=secrets.token_urlsafe(32),
            api_secret_key=secrets.token_urlsafe(32),
            admin_password=secrets.token_urlsafe(12),
            pg_password=secrets.token_hex(16),
            redis_password=secrets.token_hex(16),
            minio_password=secrets.token_hex(16),
            kdc_master_password=secrets.token_urlsafe(24),
        )

    def save(self, folder: Path) -> Path:
        """Write one file per secret (0600) plus secrets.json; return the folder."""
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        for f in fields(self):
            _write_private(folder / f.name, getattr(self, f.name))
        _write_private(folder / "secrets.json", json.dumps(self._asdict()))
        return folder

    @classmethod
    def load(cls, folder: Path) -> Secrets:
        return cls(**json.loads((folder / "secrets.json").read_text()))

    def _asdict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
