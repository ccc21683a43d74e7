"""Durations in scenarios: ``30s``, ``2m``, ``500ms``, ``1.5s``, ``1h`` or a number of seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

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
