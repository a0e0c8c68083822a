"""Simulated visitors: wallets with issuer credentials, showing fresh codes to a camera.

For the demo, tests and benchmarks only. A real wallet lives on the visitor's
phone and its key never leaves it; here the crowd file holds the wallet seeds,
so it is written with mode 0600 and must never leave the test machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.config import CameraSettings, ConfigError
from kiosk.frames import GeneratedFrameSource
from protocol import keys
from protocol.credential import Credential, issue_credential
from protocol.encoding import decode, encode
from protocol.presentation import CodeType, Presentation, present

from .render import blank_frame, render_code_frame

YEAR_S = 365 * 24 * 3600


@dataclass(frozen=True)
class Wallet:
    """A visitor's wallet key and the credential the issuer gave it."""

    key: Ed25519PrivateKey
    credential: Credential

    def show(self, now: float, code_type: CodeType = CodeType.CHECKIN) -> Presentation:
        """A fresh presentation, as the phone would display at ``now``."""
        return present(self.key, self.credential, now=now, code_type=code_type)


def enrol_visitor(issuer_key: Ed25519PrivateKey, now: float) -> Wallet:
    """A new wallet key with a credential valid for a year."""
    wallet_key = keys.generate()
    credential = issue_credential(
        issuer_key,
        keys.public_bytes(wallet_key),
        not_before=int(now) - 60,
        not_after=int(now) + YEAR_S,
    )
    return Wallet(wallet_key, credential)


def save_crowd(path: Path, wallets: list[Wallet]) -> None:
    """Write wallets (seeds included) to a mode-0600 file."""
    data = encode([[keys.private_seed(w.key), w.credential.to_bytes()] for w in wallets])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when overwriting a file made with looser permissions
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def write_crowd(path: Path, issuer_key: Ed25519PrivateKey, count: int) -> None:
    """Enrol ``count`` new visitors with ``issuer_key`` and save them at ``path``."""
    save_crowd(path, [enrol_visitor(issuer_key, time.time()) for _ in range(count)])


def load_crowd(path: Path) -> list[Wallet]:
    """Read wallets written by :func:`save_crowd`."""
    items = decode(Path(path).read_bytes(), max_size=10_000_000, what="crowd")
    return [
        Wallet(
            Ed25519PrivateKey.from_private_bytes(seed),
            Credential.from_array(decode(cred, max_size=512, what="credential")),
        )
        for seed, cred in items
    ]


class VisitorQueue:
    """Frames from a door camera as visitors walk up one after another.

    Each visitor holds a phone in view for ``hold_frames`` frames, then the
    view stays empty for ``gap_frames``. One visitor in ``mischief_every``
    (the second, then every ``mischief_every``-th after it) shows something a
    kiosk must refuse: an expired code, random text or a code from an unknown issuer.
    """

    def __init__(
        self,
        wallets: list[Wallet],
        *,
        seed: int | None = None,
        hold_frames: int = 4,
        gap_frames: int = 6,
        mischief_every: int = 7,
        now: Callable[[], float] = time.time,
        size: tuple[int, int] = (640, 480),
    ) -> None:
        if not wallets:
            raise ValueError("a visitor queue needs at least one wallet")
        self.wallets = wallets
        self.rng = np.random.default_rng(seed)
        self.hold_frames = hold_frames
        self.gap_frames = gap_frames
        self.mischief_every = mischief_every
        self.now = now
        self.size = size
        self.visitors = 0
        self._text: str | None = None
        self._left = 0
        self._gap = gap_frames
        self._stranger = enrol_visitor(keys.generate(), now())

    def _next_text(self) -> str:
        self.visitors += 1
        # The second visitor misbehaves first, so even a short demo shows a refusal.
        every = self.mischief_every
        if every and self.visitors % every == 2 % every:
            kind = self.visitors // self.mischief_every % 3
            if kind == 0:
                return self._wallet().show(self.now() - 120).to_text()
            if kind == 1:
                return "SC1:" + "".join(self.rng.choice(list("0123456789ABCDEF"), 40))
            return self._stranger.show(self.now()).to_text()
        return self._wallet().show(self.now()).to_text()

    def _wallet(self) -> Wallet:
        return self.wallets[int(self.rng.integers(len(self.wallets)))]

    def next_frame(self, index: int) -> np.ndarray:
        """The camera's next grayscale frame."""
        if self._left == 0 and self._gap > 0:
            self._gap -= 1
            return blank_frame(self.size, self.rng)
        if self._left == 0:
            self._text = self._next_text()
            self._left = self.hold_frames
        self._left -= 1
        if self._left == 0:
            self._gap = self.gap_frames
        assert self._text is not None
        return render_code_frame(self._text, size=self.size, rng=self.rng)


def simulated_camera(camera: CameraSettings) -> GeneratedFrameSource:
    """The ``simulated`` camera kind: this kiosk's share of the crowd walking up."""
    if not camera.path:
        raise ConfigError("camera.kind = 'simulated' needs camera.path (a crowd file)")
    first, step = camera.visitor_share
    crowd = VisitorQueue(
        load_crowd(Path(camera.path))[first::step], size=(camera.width, camera.height)
    )
    return GeneratedFrameSource(crowd.next_frame, fps=camera.fps)
