"""An aggregator process: MQTT in, ingest workers, sequencer, receipts out.

``roles`` picks what a process runs: ``ingest`` (N worker threads taking check-ins
from the bus), ``sequence`` (the one sequencer sealing blocks and sending
receipts), or both (the all-in-one ``safecode aggregator run``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Collection

import peewee

from protocol import topics
from protocol.errors import ProtocolError
from protocol.kiosk_config import parse_kiosk_config
from protocol.status import parse_status

from . import counters, key_files, placement
from .api.fleet import parse_heartbeat
from .bus import Bus
from .config import AggregatorConfig
from .config_memory import PublishedConfigs, config_digest
from .db import KioskEntry, open_database
from .heartbeat_gate import HeartbeatGate
from .ingest import Ingestor, Outcome, Result, counter_key
from .logs import RateLimitedLog
from .revocation_push import RevocationWatch
from .revocations import next_seq_floor, publish_revocations, revoked_ids
from .sequencer import SealedBlock, Sequencer, run_sequencer, seal_once

log = logging.getLogger(__name__)

INGEST = "ingest"
SEQUENCE = "sequence"
ALL_ROLES = frozenset({INGEST, SEQUENCE})


class CounterFlusher:
    """Adds what a tally gained since the last flush to the shared counter table."""

    def __init__(self, snapshot: Callable[[], Counter[str]]) -> None:
        self._snapshot = snapshot
        self._flushed: Counter[str] = Counter()

    def flush(self) -> bool:
        """One flush; False (and the delta kept for next time) if the database failed."""
        now = self._snapshot()
        delta: Counter[tuple[str, str]] = Counter()
        for key, value in now.items():
            if value - self._flushed[key]:
                delta[counter_key(key)] += value - self._flushed[key]
        try:
            counters.add(delta)
        except peewee.DatabaseError as exc:
            log.warning("could not flush counters: %s", exc)
            return False
        self._flushed = now
        return True


def _holds_no_config(status: dict[str, object]) -> bool:
    """The heartbeat says its kiosk holds no config."""
    return "config_serial" in status and status["config_serial"] is None


#: Stands for "the kiosk did not say which config it holds": treated as up to date.
CURRENT_CONFIG = 2**63


def _held_serial(status: dict[str, object]) -> int | None:
    """The config serial the heartbeat says its kiosk holds: None for none.

    A heartbeat that does not say (an older firmware) counts as holding the newest.
    """
    if "config_serial" not in status:
        return CURRENT_CONFIG
    serial = status["config_serial"]
    return serial if type(serial) is int else None


def _wants_config(before: KioskEntry, status: dict[str, object]) -> bool:
    """A kiosk needs its config now: it just came online, or says it holds none."""
    if status["state"] != "online":
        return False
    came_online = parse_heartbeat(before.last_status).state != "online"
    return came_online or _holds_no_config(status)


def _status_kiosk(topic: str) -> str | None:
    """The kiosk id of a status topic (``safecode/v1/kiosk/<id>/status``), else None."""
    try:
        kiosk_id, leaf = topics.parse_topic(topic)
    except ProtocolError:
        return None
    return kiosk_id if leaf == topics.STATUS else None


#: Messages waiting for one ingest worker (the bus inbox holds the rest).
PARTITION_SIZE = 2_000


class AggregatorService:
    """Wires bus, ingestor and sequencer; ``start`` runs them on worker threads."""

    def __init__(
        self,
        config: AggregatorConfig,
        bus: Bus,
        *,
        on_event: Callable[[str], None] | None = None,
        roles: Collection[str] = ALL_ROLES,
    ) -> None:
        unknown = set(roles) - ALL_ROLES
        if unknown or not roles:
            raise ValueError(f"roles must be some of {sorted(ALL_ROLES)}, not {sorted(roles)}")
        self.config = config
        self.bus = bus
        self.roles = frozenset(roles)
        self.db = open_database(config.database_url)
        # Only ingest seals visits (data master key) and checks issuers (public key only).
        ingests = INGEST in self.roles
        self.vault = key_files.data_vault(config) if ingests else None
        self.refusal_log = RateLimitedLog(
            log, per_interval=config.log_lines_per_reason, interval_s=config.log_interval_s
        )
        self.ingestor = Ingestor(
            key_files.issuer_public_keys(config) if ingests else [],
            window=config.window_s,
            skew=config.skew_s,
            issuer_cache_size=config.issuer_cache_size,
            refusal_log=self.refusal_log,
            data_vault=self.vault,
            max_outbox_age_s=config.max_outbox_age_days * 86_400,
            card_travel_s=config.card_travel_minutes * 60,
        )
        # Ingest processes sign refusals and receipts for duplicates, so they hold the key.
        ledger = key_files.ledger_signing_key(config)
        self.sequencer = Sequencer(ledger, config.origin, batch_size=config.batch_size)
        self.flusher = CounterFlusher(self.counts)
        # A heartbeat storm costs a dict update per message, not a database write.
        self.heartbeats: HeartbeatGate[tuple[str, bytes]] = HeartbeatGate(
            config.heartbeat_interval_s
        )
        self.published_configs = PublishedConfigs()
        self.revocation_watch = RevocationWatch()
        self._on_event = on_event or (lambda line: log.info("%s", line))
        self._stop_ingest = threading.Event()
        self._stop_sequencer = threading.Event()
        self._stop_flush = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._partitions: list[queue.Queue[tuple[str, bytes]]] = []
        self.blocks_sealed = 0

    def counts(self) -> Counter[str]:
        """This process's counts, with messages the bus dropped."""
        counts = self.ingestor.counts
        dropped = getattr(self.bus, "dropped", 0)
        if dropped:
            counts["error:inbox_full"] = dropped
        # The sequencer's database, lock and publish errors (counted in sequencer.py).
        for key in ("error:database", "error:lock", "error:publish"):
            if self.sequencer.counts[key]:
                counts[f"error:sequencer_{key.split(':')[1]}"] = self.sequencer.counts[key]
        oversize = getattr(self.bus, "oversize", 0)
        if oversize:
            counts["refused:oversize_payload"] = oversize
        waited = getattr(self.bus, "waited", 0)
        if waited:
            counts["backpressure:inbox_full"] = waited
        if self.heartbeats.coalesced:
            counts["dropped:heartbeat_coalesced"] = self.heartbeats.coalesced
        return counts

    def _event(self, text: str) -> None:
        self._on_event(f"aggregator: {text}")

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads[name] = thread

    def start(self) -> None:
        """Connect to the broker and start this process's threads."""
        self.bus.start()
        if INGEST in self.roles:
            workers = self.config.ingest_workers
            if workers > 1:
                # One queue per worker, chosen by kiosk: each kiosk's check-ins are
                # stored in the order they came, kiosks are ingested in parallel.
                self._partitions = [queue.Queue(maxsize=PARTITION_SIZE) for _ in range(workers)]
                self._spawn("ingest-dispatch", self._dispatch_loop)
            for number in range(workers):
                inbox = self._partitions[number] if workers > 1 else self.bus.inbox
                self._spawn(f"ingest-{number}", lambda inbox=inbox: self._ingest_loop(inbox))
        if SEQUENCE in self.roles:
            self._spawn("sequencer", self._sequencer_loop)
        self._spawn("counters", self._flush_loop)

    def stop(self) -> None:
        """Finish the work in hand, seal what is verified, and disconnect.

        New messages stop first; those already taken from the broker (acknowledged
        to it) are stored before the workers stop, so a restart loses none of them
        and each kiosk's check-ins keep their order.
        """
        self.bus.pause()
        self._drain_inboxes(timeout=20)
        self._stop_ingest.set()
        for name, thread in self._threads.items():
            if name.startswith("ingest-"):
                thread.join(timeout=10)
        self._store_held_heartbeats()
        self._stop_sequencer.set()
        if "sequencer" in self._threads:
            self._threads["sequencer"].join(timeout=10)
        self._stop_flush.set()
        if "counters" in self._threads:
            self._threads["counters"].join(timeout=10)
        self.bus.stop()
        self.db.close()

    def _store_held_heartbeats(self) -> None:
        """Heartbeats the rate limit still holds were acknowledged: store them before stopping.

        A kiosk's newest word (its last will saying offline, say) is then in the fleet
        view even if the broker's retained copy is gone when the service comes back.
        """
        if not any(name.startswith("ingest-") for name in self._threads):
            return
        held = self.heartbeats.flush()
        if held:
            self.handle_many(held)

    def _drain_inboxes(self, timeout: float) -> None:
        """Wait (up to ``timeout``) until ingest workers have taken every waiting message."""
        if not any(name.startswith("ingest-") for name in self._threads):
            return
        deadline = time.monotonic() + timeout
        queues = [self.bus.inbox, *self._partitions]
        while any(not q.empty() for q in queues) and time.monotonic() < deadline:
            time.sleep(0.05)
        # A batch a worker holds now is stored before it sees the stop (stop() joins it).

    def handle(self, topic: str, payload: bytes) -> None:
        """Route one message by topic; bad input is counted, never raised."""
        self.handle_many([(topic, payload)])

    def handle_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Status messages one by one; check-ins verified, then stored in one commit."""
        checkins: list[tuple[str, bytes]] = []
        for topic, payload in messages:
            try:
                kiosk_id, leaf = topics.parse_topic(topic)
            except ProtocolError:
                self.ingestor.count("refused:bad_topic")
                self.refusal_log.warning("bad_topic", "message on a foreign topic %.80r", topic)
                continue
            if leaf == topics.STATUS:
                self._note_status_isolated(kiosk_id, payload)
            else:
                checkins.append((topic, payload))
        if not checkins:
            return
        for (topic, _), outcome in zip(checkins, self.ingestor.handle_many(checkins), strict=True):
            self._answer(topics.parse_topic(topic)[0], outcome)

    def _answer(self, kiosk_id: str, outcome: Outcome) -> None:
        """Tell the kiosk about a refusal it must know, or re-send a receipt for a duplicate."""
        if outcome.result is Result.REFUSED:
            # Rate-limited per reason: a flood of refusals must not flood the log.
            self.refusal_log.log(
                logging.INFO,
                f"refused:{outcome.reason}",
                "refused a check-in from %s (%s)",
                kiosk_id,
                outcome.reason,
            )
            if outcome.refused_record is not None:
                refusal = self.sequencer.refusal_for(outcome.refused_record, outcome.reason)
                self.bus.send_answer(kiosk_id, refusal)
        elif outcome.result is Result.DUPLICATE and outcome.entry is not None:
            again = self.sequencer.receipt_again(outcome.entry)
            if again is not None:
                self.bus.send_answer(kiosk_id, again)

    def _note_status_isolated(self, kiosk_id: str, payload: bytes) -> None:
        """Note one status; a fault in it is counted and logged, the batch goes on.

        A database error still stops the batch (nothing stored, the kiosks resend).
        """
        try:
            self._note_status(kiosk_id, payload)
        except peewee.DatabaseError:
            raise
        except Exception:  # noqa: BLE001 - one kiosk's status must not sink the others' batch
            self.ingestor.count("error:status")
            self.refusal_log.log(
                logging.ERROR,
                "status_error",
                "fault while noting a status from %s",
                kiosk_id,
                exc_info=True,
            )

    def _note_status(self, kiosk_id: str, payload: bytes) -> None:
        try:
            status = parse_status(payload)
        except ProtocolError as exc:
            self.ingestor.count("refused:bad_status")
            self.refusal_log.warning("bad_status", "bad status from %s: %s", kiosk_id, exc)
            return
        now_ms = int(time.time() * 1000)
        before = KioskEntry.get_or_none(KioskEntry.kiosk_id == kiosk_id)
        updated = (
            KioskEntry.update(
                # The whole heartbeat (a small strict JSON object) for the fleet view.
                last_status=json.dumps(status, sort_keys=True),
                last_status_ms=now_ms,
            )
            .where(KioskEntry.kiosk_id == kiosk_id)
            .execute()
        )
        if updated:
            placement.note_heartbeat(kiosk_id, status, now_ms)
        if not updated or before is None or before.retired:
            return
        if _wants_config(before, status):
            self.send_config(kiosk_id, held_serial=_held_serial(status))
        elif status["state"] == "online" and self.revocation_watch.due(kiosk_id):
            self.ingestor.count("configs_pushed")  # revocations for a kiosk that stayed online
            self.send_config(kiosk_id, held_serial=_held_serial(status))

    def send_config(self, kiosk_id: str, *, held_serial: int | None = None) -> None:
        """Send a kiosk that just came online its config: revocations and its seq floor.

        A kiosk whose outbox lost its last commits (a power cut) learns here the
        sequence numbers the ledger already holds, so it never gives them out again.
        A config is signed again only when its content changed since the last one
        this process published to the kiosk. A kiosk holding none (``held_serial``
        None) or an older one than those bytes gets the same bytes again (its broker
        may have lost the retained message); one holding them is left as it is.
        """
        revoked = revoked_ids()
        floors = next_seq_floor(kiosk_id)
        digest = config_digest(revoked, floors.get(kiosk_id))
        last = self.published_configs.unchanged(kiosk_id, digest)
        try:
            if last is not None:
                wire, serial = last
                if held_serial is None or held_serial < serial:
                    self.bus.publish_config(kiosk_id, wire)
                    self.ingestor.count("configs_resent")
                else:
                    self.ingestor.count("configs_unchanged")
                self.revocation_watch.sent(kiosk_id, revoked)
                return
            sent = publish_revocations(
                lambda topic, wire: self.bus.publish_config(kiosk_id, wire),
                self.sequencer.ledger_key,
                revoked,
                kiosk_ids=[kiosk_id],
                floors=floors,
            )
        except NotImplementedError:
            return
        wire = sent[kiosk_id]
        self.published_configs.remember(kiosk_id, digest, wire, parse_kiosk_config(wire).serial)
        self.revocation_watch.sent(kiosk_id, revoked)
        self.ingestor.count("configs_sent")

    def _admit(self, message: tuple[str, bytes]) -> bool:
        """False if ``message`` is a heartbeat held back by the per-kiosk rate limit."""
        kiosk_id = _status_kiosk(message[0])
        return kiosk_id is None or self.heartbeats.admit(kiosk_id, message)

    def _take(
        self, inbox: queue.Queue[tuple[str, bytes]], *, gate: bool = False
    ) -> list[tuple[str, bytes]]:
        """One message (waiting up to 0.1 s), then whatever else is queued, up to a batch.

        With ``gate`` (a worker reading the bus inbox itself), heartbeats pass the
        per-kiosk rate limit first and held ones whose time has come join the batch.
        """
        released = self.heartbeats.due() if gate else []
        try:
            batch = [inbox.get(timeout=0 if released else 0.1)]
        except queue.Empty:
            return released
        while len(batch) < self.config.ingest_batch:
            try:
                batch.append(inbox.get_nowait())
            except queue.Empty:
                break
        if gate:
            batch = [message for message in batch if self._admit(message)]
        return released + batch

    def _dispatch_loop(self) -> None:
        """Move messages from the bus to the worker that owns their kiosk.

        Heartbeats pass the per-kiosk rate limit here, before they can fill a
        worker's queue; held ones go to their worker when their time comes.
        """
        while not self._stop_ingest.is_set():
            for message in self.heartbeats.due():
                self._route(message)
            try:
                message = self.bus.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            if self._admit(message):
                self._route(message)

    def _route(self, message: tuple[str, bytes]) -> None:
        """Put one message on the queue of the worker that owns its kiosk."""
        topic = message[0]
        # safecode/v1/kiosk/<id>/...: a malformed topic still lands somewhere and is
        # refused there; zlib.crc32 is stable across processes, unlike hash().
        kiosk = topic.split("/", 4)[3] if topic.count("/") >= 4 else topic
        partitions = self._partitions
        target = partitions[zlib.crc32(kiosk.encode("utf-8", "replace")) % len(partitions)]
        while not self._stop_ingest.is_set():
            try:
                target.put(message, timeout=0.1)
                break
            except queue.Full:  # that worker is behind: hold here, the bus inbox fills
                continue

    def _ingest_loop(self, inbox: queue.Queue[tuple[str, bytes]]) -> None:
        try:
            self._ingest_until_stopped(inbox)
        finally:
            self._close_connection()

    def _ingest_until_stopped(self, inbox: queue.Queue[tuple[str, bytes]]) -> None:
        # No connection_context: after a database error the connection is closed and
        # peewee opens a new one on the next query (a restarted PostgreSQL, say).
        while not self._stop_ingest.is_set():
            batch = self._take(inbox, gate=inbox is self.bus.inbox)
            if not batch:
                continue
            try:
                self.handle_many(batch)
            except peewee.DatabaseError as exc:
                # Not stored, so no receipt: the kiosk keeps the rows and sends them again.
                self.ingestor.count("error:database", len(batch))
                self.refusal_log.log(
                    logging.ERROR,
                    "database_error",
                    "database error while ingesting %d message(s): %s",
                    len(batch),
                    exc,
                )
                self._reconnect()
            except Exception:  # noqa: BLE001 - the loop's last line of defence
                self.ingestor.count("error:ingest", len(batch))
                log.exception("fault while ingesting %d message(s)", len(batch))

    def _reconnect(self) -> None:
        """After a database error: drop this thread's connection and back off a little.

        peewee connects again on the next query.
        """
        self._close_connection()
        time.sleep(0.5)

    def _close_connection(self) -> None:
        with contextlib.suppress(peewee.DatabaseError):
            self.db.close()

    def publish_block(self, block: SealedBlock) -> None:
        """Send a sealed block's receipts (after its commit) and say so."""
        self.blocks_sealed += 1
        self.ingestor.count("sealed", block.leaf_count - block.audit_count)
        for kiosk_id, wire in block.receipts.items():
            self.bus.send_answer(kiosk_id, wire)
        self._event(
            f"sealed block {block.height}: {block.leaf_count - block.audit_count} check-in(s), "
            f"tree size {block.tree_size}, root {block.root.hex()[:16]}"
        )

    def seal_once(self) -> int:
        """Seal one block now if check-ins wait; returns check-ins sealed (-1: database error)."""
        sealed = seal_once(
            self.sequencer, self.publish_block, max_age_s=0, guard=self.ingestor.store_lock
        )
        return sealed

    def _sequencer_loop(self) -> None:
        # Exactly one sequencer per ledger: run_sequencer waits for the ledger's lock
        # (a PostgreSQL advisory lock, or a lock file beside the SQLite database). In
        # one process, ingest threads and the sequencer take turns at SQLite's single
        # write lock (``store_lock``) instead of starving each other in its busy handler.
        try:
            run_sequencer(
                self.sequencer,
                self._stop_sequencer,
                self.publish_block,
                max_age_s=self.config.batch_interval_s,
                guard=self.ingestor.store_lock,
            )
        finally:
            self._close_connection()

    def _flush_loop(self) -> None:
        try:
            while not self._stop_flush.wait(self.config.counter_flush_s):
                if not self.flusher.flush():
                    self._close_connection()
                self.refusal_log.flush()
            self.flusher.flush()
        finally:
            self._close_connection()
