"""A transparency-log witness: follow the aggregator's checkpoints and cosign consistent ones.

Each step fetches the latest checkpoint, checks the ledger key's signature, and, when
the tree grew, fetches and checks an RFC 9162 consistency proof from the last tree it
cosigned. Only then does it cosign (C2SP tlog-cosignature v1), write its new state
atomically, and post the cosignature to the aggregator. A checkpoint that contradicts
one it has signed (a different root for the same size, a proof that fails) is a fork:
the witness refuses it, keeps its state, and says so.

Where it starts matters: with no state, a witness trusts the first checkpoint it sees.
Its operator can instead hand it a checkpoint obtained out of band (``trusted_state``,
``ledger witness --trust-checkpoint FILE``): that seeds the state, so the first
checkpoint the log shows must be consistent with it. A seeded state has an empty
``cosigned`` (this witness has not signed it yet) and nothing to post.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from protocol import merkle
from protocol.checkpoint import Checkpoint, open_checkpoint
from protocol.cosignature import Cosigner, with_signatures
from protocol.errors import ProtocolError
from protocol.note import NoteVerifier, parse_note

from .log_client import LogClient, LogUnavailable

STATE_FILE = "state.json"
STATE_VERSION = 1


class WitnessRefusal(Exception):
    """The log showed a checkpoint this witness must not cosign."""


class ForkDetected(WitnessRefusal):
    """The checkpoint is inconsistent with one this witness has already cosigned."""


class StateError(Exception):
    """The witness's state directory is unusable (corrupt, locked, or for another log)."""


class Outcome(Enum):
    COSIGNED = "cosigned"
    UP_TO_DATE = "up_to_date"
    REPOSTED = "reposted"


@dataclass(frozen=True)
class State:
    """The last checkpoint this witness cosigned, and whether the log has its cosignature."""

    origin: str
    size: int
    root: bytes
    cosigned: str  # the checkpoint note with this witness's line; "" for a trusted seed
    posted: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "origin": self.origin,
            "size": self.size,
            "root": base64.b64encode(self.root).decode("ascii"),
            "cosigned": self.cosigned,
            "posted": self.posted,
        }

    @classmethod
    def from_json(cls, value: Any) -> State:
        try:
            if value["v"] != STATE_VERSION:
                raise StateError(f"state version {value['v']!r} is not {STATE_VERSION}")
            state = cls(
                origin=value["origin"],
                size=value["size"],
                root=base64.b64decode(value["root"], validate=True),
                cosigned=value["cosigned"],
                posted=value["posted"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"witness state is corrupt: {exc}") from exc
        if (
            type(state.size) is not int
            or state.size < 1
            or len(state.root) != 32
            or not isinstance(state.cosigned, str)
            or type(state.posted) is not bool
        ):
            raise StateError("witness state is corrupt: bad field types")
        return state


def trusted_state(note: str, log: NoteVerifier) -> State:
    """A state seeded from a checkpoint the operator trusts; it must verify under ``log``."""
    try:
        checkpoint = open_checkpoint(note, log, log.name)
    except ProtocolError as exc:
        raise StateError(f"the trusted checkpoint does not verify: {exc}") from exc
    if checkpoint.size < 1:
        raise StateError("the trusted checkpoint is of the empty tree")
    return State(checkpoint.origin, checkpoint.size, checkpoint.root_hash, "", posted=True)


def starting_state(
    stored: State | None, trusted: State | None, *, trust_first_seen: bool
) -> State | None:
    """The state a witness starts from: its own, else the trusted seed, else none (TOFU).

    Its own state is newer than any seed it was started with before; a seed of the same
    size with another root contradicts it and stops the witness.
    """
    if stored is not None:
        if trusted is not None and trusted.size == stored.size and trusted.root != stored.root:
            raise StateError(
                f"the trusted checkpoint's root for tree size {trusted.size} differs from "
                "the one this witness cosigned"
            )
        return stored
    if trusted is None and not trust_first_seen:
        raise StateError(
            "no witness state yet: give --trust-checkpoint FILE (or --trust-first-seen)"
        )
    return trusted


class StateStore:
    """``DIR/state.json``, replaced atomically (write, fsync, rename, fsync dir); one owner."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.directory / STATE_FILE
        self._lock = open(self.directory / "lock", "a")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise StateError(f"another witness is using {self.directory}") from exc

    def load(self) -> State | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return State.from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise StateError(f"{self.path} is not JSON: {exc}") from exc

    def save(self, state: State) -> None:
        tmp = self.path.with_name(STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state.to_json(), out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def close(self) -> None:
        self._lock.close()


class Witness:
    """Cosigns the checkpoints of one log, never two inconsistent ones."""

    def __init__(
        self,
        client: LogClient,
        log: NoteVerifier,
        cosigner: Cosigner,
        store: StateStore,
        *,
        now: Callable[[], float] = time.time,
        trusted: State | None = None,
        trust_first_seen: bool = True,
    ) -> None:
        self.client = client
        self.log = log
        self.cosigner = cosigner
        self.store = store
        self._now = now
        stored = store.load()
        state = starting_state(stored, trusted, trust_first_seen=trust_first_seen)
        if state is not None and state.origin != log.name:
            raise StateError(f"state is for log {state.origin!r}, not {log.name!r}")
        if stored is None and state is not None:
            store.save(state)  # the seed holds from now on, also without the option
        self.state = state

    def step(self) -> tuple[Outcome, Checkpoint]:
        """Fetch, check, cosign and post the latest checkpoint once."""
        note = self.client.text("/v1/checkpoint")
        try:
            checkpoint = open_checkpoint(note, self.log, self.log.name)
        except ProtocolError as exc:
            raise WitnessRefusal(f"the log's checkpoint does not verify: {exc}") from exc
        body, _ = parse_note(note)
        last = self.state
        if last is not None:
            if checkpoint.size < last.size:
                raise WitnessRefusal(
                    f"the log shows tree size {checkpoint.size}, smaller than {last.size} "
                    "already cosigned (rolled back or stale)"
                )
            if checkpoint.size == last.size:
                if checkpoint.root_hash != last.root:
                    raise ForkDetected(
                        f"FORK: tree size {checkpoint.size} now has root "
                        f"{checkpoint.root_hash.hex()}, but this witness cosigned root "
                        f"{last.root.hex()}"
                    )
                if last.cosigned and parse_note(last.cosigned)[0] == body:
                    if not last.posted:
                        self._post(last)
                        return Outcome.REPOSTED, checkpoint
                    return Outcome.UP_TO_DATE, checkpoint
            else:
                self._check_consistency(last, checkpoint)
        line = self.cosigner.cosign(body, int(self._now()))
        state = State(
            origin=checkpoint.origin,
            size=checkpoint.size,
            root=checkpoint.root_hash,
            cosigned=with_signatures(note, [line]).decode("utf-8"),
            posted=False,
        )
        # Remember what we signed before anyone can see the signature.
        self.store.save(state)
        self.state = state
        self._post(state)
        return Outcome.COSIGNED, checkpoint

    def _check_consistency(self, last: State, checkpoint: Checkpoint) -> None:
        answer = self.client.json(f"/v1/proof/consistency?old={last.size}&new={checkpoint.size}")
        try:
            proof = [bytes.fromhex(p) for p in answer["proof"]]
            if answer["old"] != last.size or answer["new"] != checkpoint.size:
                raise ValueError("the proof is for other sizes")
            merkle.verify_consistency(
                last.size, checkpoint.size, last.root, checkpoint.root_hash, proof
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ForkDetected(
                f"FORK: no valid consistency proof from tree size {last.size} "
                f"(root {last.root.hex()}) to {checkpoint.size} "
                f"(root {checkpoint.root_hash.hex()}): {exc}"
            ) from exc

    def _post(self, state: State) -> None:
        self.client.post_text("/v1/checkpoint/cosignature", state.cosigned)
        posted = State(state.origin, state.size, state.root, state.cosigned, True)
        self.store.save(posted)
        self.state = posted


def run_witness(
    witness: Witness,
    *,
    once: bool,
    interval: float,
    say: Callable[[str], None],
    stop: Callable[[float], bool],
) -> int:
    """Step once or forever; return the exit status (0 fine, 1 refused, 2 unreachable)."""
    while True:
        try:
            outcome, checkpoint = witness.step()
            say(
                f"witness: {outcome.value}: tree size {checkpoint.size}, "
                f"root {checkpoint.root_hash.hex()}"
            )
        except ForkDetected as exc:
            say(f"REFUSED: {exc}")
            return 1
        except WitnessRefusal as exc:
            say(f"REFUSED: {exc}")
            if once:
                return 1
        except (LogUnavailable, ValueError) as exc:
            say(f"witness: log unavailable: {exc}")
            if once:
                return 2
        if once:
            return 0
        if stop(interval):
            return 0
