"""A user's own secret options, read the way the production guide advises: through a command
(``KEY_cmd``, e.g. ``database.sql_alchemy_conn_cmd: cat /run/secrets/db``) or the secrets
backend (``KEY_secret``), and how they meet the secrets the testbed generates per run.

Airflow runs ``KEY_cmd`` (and asks its backend for ``KEY_secret``) only for its *sensitive*
options (``conf.sensitive_config_values``); on any other option the suffixed key is silently
unused, and a plain value beside it wins without the command ever running. Both mistakes are
refused here, before anything boots. A user's command for one of the testbed's own secrets
(the database URL, the fernet key, ...) replaces the testbed's: the node then reads that secret
from the user's command only. A plain value for one of them is refused: the testbed generates
those per run, never records them, and reads the database URL, fernet key, broker URL and
result backend from files through ``_cmd`` (the API and JWT secrets are plain environment).

Pure: nothing here touches Docker.
"""

from __future__ import annotations

from testbed.core.errors import TestbedError

SUFFIXES = ("_cmd", "_secret")
# Airflow 3.3.2's ``conf.sensitive_config_values`` (a superset of 3.1.7's, which loads the Celery
# provider's own later): the options whose ``_cmd`` / ``_secret`` Airflow honours
SENSITIVE: frozenset[tuple[str, str]] = frozenset(
    {
        ("api", "secret_key"),
        ("api_auth", "jwt_secret"),
        ("atlas", "password"),
        ("celery", "broker_url"),
        ("celery", "flower_basic_auth"),
        ("celery", "result_backend"),
        ("celery_broker_transport_options", "sentinel_kwargs"),
        ("celery_result_backend_transport_options", "sentinel_kwargs"),
        ("core", "asset_manager_kwargs"),
        ("core", "fernet_key"),
        ("core", "sql_alchemy_conn"),
        ("database", "sql_alchemy_conn"),
        ("database", "sql_alchemy_conn_async"),
        ("database", "sql_alchemy_engine_args"),
        ("logging", "remote_task_handler_kwargs"),
        ("opensearch", "password"),
        ("secrets", "backend_kwargs"),
        ("sentry", "sentry_dsn"),
        ("webserver", "secret_key"),
        ("workers", "secrets_backend_kwargs"),
    }
)

# Older names Airflow 3 still reads as the new ones, after them: a user's command under the old
# name would lose to the testbed's under the new one, so it is refused, naming the new one
RENAMED: dict[tuple[str, str], tuple[str, str]] = {
    ("core", "sql_alchemy_conn"): ("database", "sql_alchemy_conn"),
    ("webserver", "secret_key"): ("api", "secret_key"),
}

# The secrets the testbed generates per run (``testbed.airflow_config``): a user may replace
# each with a command of their own, never with a plain value
OWNED: frozenset[tuple[str, str]] = frozenset(
    {
        ("database", "sql_alchemy_conn"),
        ("core", "fernet_key"),
        ("celery", "broker_url"),
        ("celery", "result_backend"),
        ("api_auth", "jwt_secret"),
        ("api", "secret_key"),
    }
)


def split(section: str, key: str) -> tuple[str, str | None]:
    """``sql_alchemy_conn_cmd`` -> (``sql_alchemy_conn``, ``_cmd``); a plain key -> (key, None).
    No Airflow option's own name ends in ``_cmd``; many end in ``_secret`` (``jwt_secret``, a
    provider's ``client_secret``), so that suffix counts only on a sensitive option."""
    if key.endswith("_cmd"):
        return key.removesuffix("_cmd"), "_cmd"
    base = key.removesuffix("_secret")
    if base != key and (section, base) in SENSITIVE:
        return base, "_secret"
    return key, None


def user_supplies(config: dict[str, dict[str, str]], section: str, key: str) -> bool:
    """The user's config gives ``section.key`` through a command or the secrets backend."""
    keys = config.get(section, {})
    return any(key + suffix in keys for suffix in SUFFIXES)


def check(config: dict[str, dict[str, str]]) -> None:
    """Refuse a suffix Airflow would ignore, a plain value that would shadow a command, and a
    plain value for a secret the testbed generates (one line each: which key, what to do)."""
    for section, keys in config.items():
        for key in keys:
            _check_key(section, key, keys)
            if split(section, key)[1] == "_secret" and "backend" not in config.get("secrets", {}):
                raise TestbedError(
                    f"config {section}.{key}: Airflow asks the secrets backend for it, and none "
                    "is configured; give secrets.backend (and secrets.backend_kwargs)"
                )


def _check_key(section: str, key: str, keys: dict[str, str]) -> None:
    base, suffix = split(section, key)
    name = f"config {section}.{key}"
    if (section, base) in RENAMED:
        new_section, new_key = RENAMED[section, base]
        raise TestbedError(
            f"{name}: Airflow 3 reads this option as {new_section}.{new_key} (and that name "
            f"first); give {new_section}.{new_key}{suffix or ''}"
        )
    if suffix and (section, base) not in SENSITIVE:
        raise TestbedError(
            f"{name}: Airflow runs a _cmd only for its sensitive options, and "
            f"{section}.{base} is not one (the key would be silently unused); allowed: "
            + ", ".join(f"{s}.{k}" for s, k in sorted(SENSITIVE))
        )
    if suffix and base in keys:
        raise TestbedError(
            f"{name} and {section}.{base}: give one (Airflow takes the plain value first and "
            "never runs the command)"
        )
    if not suffix and (section, key) in OWNED:
        raise TestbedError(
            f"{name}: the testbed generates this secret per run (and never records it); to "
            f"read your own, give {section}.{key}_cmd (a command that prints it)"
        )


# What the configuration probe reports for a ``_cmd`` key: the option Airflow read is the
# command's output (the value itself is never recorded)
FROM_CMD = "the command's output"


RESOLVED = " (from _cmd)"


def resolved_key(dotted: str) -> str:
    """``database.sql_alchemy_conn_cmd`` -> the probe's key for what Airflow made of it."""
    return dotted.removesuffix("_cmd") + RESOLVED


def resolved_expected(flat: dict[str, str]) -> dict[str, str]:
    """For each ``_cmd`` override, the probe's answer that proves Airflow ran the command."""
    return {resolved_key(k): FROM_CMD for k in sorted(flat) if k.endswith("_cmd")}
