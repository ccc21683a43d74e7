"""The fault kinds' classes, for the engine: :data:`testbed.faults.registry.REGISTRY`'s ``impl``
paths resolved. Importing this imports every fault family (Docker and HTTP clients with them);
the scenario model, the checks and the chaos generator read the pure registry instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from testbed.faults.base import Fault
from testbed.faults.registry import REGISTRY


def resolve(impl: str) -> Callable[..., Fault]:
    """``"package.module:Name"`` -> that module's ``Name``."""
    module, _, name = impl.partition(":")
    return getattr(importlib.import_module(module), name)


FAULTS: dict[str, Callable[..., Fault]] = {k: resolve(s.impl) for k, s in REGISTRY.items()}


def hooks(name: str) -> list[Callable]:
    """Each fault class's own ``name`` hook (``leftovers`` for the heal audit, ``reset`` for a
    reset), where its class has one; a class serving several kinds counts once."""
    return [getattr(f, name) for f in dict.fromkeys(FAULTS.values()) if hasattr(f, name)]
