"""Frame-source kinds registered by whoever provides them (light: imports nothing heavy).

A factory is a callable ``factory(camera) -> FrameSource`` or its dotted path
``"package.module:name"``, imported only when a config first asks for that kind; so the
``safecode`` command can register ``simulated`` without loading the simulator.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from .config import CameraSettings
    from .frames import FrameSource

SourceFactory: TypeAlias = "Callable[[CameraSettings], FrameSource]"
_registered: dict[str, SourceFactory | str] = {}


def register_source(kind: str, factory: SourceFactory | str) -> None:
    """Make ``camera.kind = kind`` build its frame source with ``factory`` (or its path)."""
    _registered[kind] = factory


def registered_factory(kind: str) -> SourceFactory | None:
    """The factory registered for ``kind`` (a dotted path is imported now), or None."""
    factory = _registered.get(kind)
    if isinstance(factory, str):
        module_name, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        _registered[kind] = factory
    return factory
