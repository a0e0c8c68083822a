"""A site laid out by provisioning, with simulated visitors in its crowd file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioning.site import Site, init_site

from .visitors import write_crowd


def init_simulated_site(root: Path, **options: Any) -> Site:
    """:func:`provisioning.site.init_site` with this simulator's visitors."""
    return init_site(root, write_crowd=write_crowd, **options)
