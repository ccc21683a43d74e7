"""The value types scenario fields share: durations (``30s``, ``2m``, ``500ms``, ``1.5s``,
``1h`` or a number of seconds), signed durations (a clock offset, ``-10m``), sizes (``300m``,
``1g``, ``64k`` or a number of bytes) and Airflow option keys (``section.key``).

Pure and low in the layering: both the scenario model (:mod:`testbed.scenario`) and the fault
kinds' parameter models (:mod:`testbed.faults.params`) build on them.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")


def parse_duration(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _PATTERN.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"bad duration {value!r}; use e.g. 30s, 2m, 500ms, 1h or seconds")
    if not math.isfinite(seconds):
        raise ValueError(f"duration {value!r} is not finite")
    if seconds < 0:
        raise ValueError(f"duration {value!r} is negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def parse_signed_duration(value: object) -> float:
    """A duration that may be negative (``-10m``, ``+90s``, ``-600``): a clock offset."""
    if isinstance(value, str) and value.strip()[:1] in "+-":
        sign = -1.0 if value.strip()[0] == "-" else 1.0
        return sign * parse_duration(value.strip()[1:])
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return -parse_duration(-value)
    return parse_duration(value)


SignedDuration = Annotated[float, BeforeValidator(parse_signed_duration)]


_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)b?\s*$", re.I)


def parse_size(value: object) -> int:
    """Bytes from ``300m``/``300MB``, ``1g``, ``64k`` or a whole number (binary units)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        return int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
    raise ValueError(f"bad size {value!r}; use e.g. 300m, 1g, 64k or a number of bytes")


Size = Annotated[int, BeforeValidator(parse_size)]


ConfigKey = Annotated[str, Field(pattern=r"^[a-z_]+\.[a-z0-9_]+$")]  # section.key


def check_regex(value: str) -> str:
    """A regular expression Python compiles (a frame, a log line, a command line to match)."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(check_regex)]
ConfigValue = str | int | float | bool


def nested_config(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{"section.key": value} -> {"section": {"key": "value"}} (Airflow options)."""
    nested: dict[str, dict[str, str]] = {}
    for dotted, value in config.items():
        section, key = dotted.split(".", 1)
        nested.setdefault(section, {})[key] = str(value)
    return nested
