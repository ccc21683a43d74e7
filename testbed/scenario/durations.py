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
