"""The kiosk's device key: made on the device, kept there (mode 0600), never copied off."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import keys


def ensure_device_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """Load the device key at ``path``, making one first if there is none; (key, created)."""
    return keys.load_or_create_private(path)
