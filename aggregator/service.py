"""An aggregator process: MQTT in, ingest workers, sequencer, receipts out.

``roles`` picks what a process runs: ``ingest`` (N worker threads taking check-ins
from the bus), ``sequence`` (the one sequencer sealing blocks and sending
receipts), or both (the all-in-one ``safecode aggregator run``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Collection

import peewee

from protocol import topics
from protocol.checkin import SEQ_MAX
from protocol.errors import ProtocolError
from protocol.kiosk_config import parse_kiosk_config
from protocol.status import parse_status

from . import counters, key_files, status_store
from .api.fleet import parse_heartbeat
from .bus import Bus, status_kiosk
from .config import AggregatorConfig
from .config_memory import PublishedConfigs, config_digest
from .config_pacing import ConfigPacer
from .db import open_database
from .fleet_sampler import FleetSampler
from .heartbeat_gate import HeartbeatGate
from .ingest import Ingestor, Outcome, Result, counter_key
from .logs import RateLimitedLog
from .models_base import write_transaction
from .revocation_push import RevocationWatch
from .revocations import next_seq_floor, publish_revocations, revoked_ids
from .sequencer import SealedBlock, Sequencer, run_sequencer, seal_once
from .status_box import StatusBox
from .status_store import Before, StatusRow

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


def _came_online(before: Before, status: dict[str, object]) -> bool:
    """The heartbeat says online and the kiosk's stored one did not, or the kiosk has
    booted since its stored heartbeat (a new ``clock_boot``).

    Statuses are coalesced (newest per kiosk), so a kiosk that went offline and came
    back between two batches, or rebooted before the broker sent its will, shows no
    offline status in between. A reboot still needs its config: after a power cut its
    outbox may have lost its last commits, and the config's sequence floor keeps it
    from giving those numbers out again.
    """
    if status["state"] != "online":
        return False
    stored = parse_heartbeat(before.last_status)
    if stored.state != "online":
        return True
    boot = status.get("clock_boot")
    return boot is not None and stored.clock_boot is not None and boot != stored.clock_boot


#: Messages waiting for one ingest worker (the bus inbox holds the rest).
PARTITION_SIZE = 2_000


def _take_queued(
    inbox: queue.Queue[tuple[str, bytes]], batch: list[tuple[str, bytes]], limit: int
) -> None:
    """Move what ``inbox`` holds now onto ``batch``, until it holds ``limit`` messages."""
    while len(batch) < limit:
        try:
            batch.append(inbox.get_nowait())
        except queue.Empty:
            return


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
        # Heartbeats wait here, not in the inbox: check-ins never queue behind them.
        self.statuses: StatusBox = bus.statuses if bus.statuses is not None else StatusBox()
        self.published_configs = PublishedConfigs()
        self.config_pacer = ConfigPacer()
        # Ingest processes hear the kiosks: they sample the online count every 5 minutes.
        self.fleet_sampler = FleetSampler() if ingests else None
        self.revocation_watch = RevocationWatch()
        self._on_event = on_event or (lambda line: log.info("%s", line))
        self._stop_ingest = threading.Event()
        self._stop_status = threading.Event()
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
        coalesced = self.heartbeats.coalesced + self.statuses.coalesced
        if coalesced:
            counts["dropped:heartbeat_coalesced"] = coalesced
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
            self._spawn("status", self._status_loop)
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
        self._stop_status.set()
        if "status" in self._threads:
            self._threads["status"].join(timeout=10)
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
        if "status" not in self._threads:
            return
        # Newest last: what the box holds came after what the rate limit held.
        held = self.heartbeats.flush() + [message for _, message in self.statuses.take()]
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
        statuses: list[tuple[str, bytes]] = []
        for topic, payload in messages:
            try:
                kiosk_id, leaf = topics.parse_topic(topic)
            except ProtocolError:
                self.ingestor.count("refused:bad_topic")
                self.refusal_log.warning("bad_topic", "message on a foreign topic %.80r", topic)
                continue
            if leaf == topics.STATUS:
                statuses.append((kiosk_id, payload))
            else:
                checkins.append((topic, payload))
        if statuses:
            self._note_statuses(statuses)
        if not checkins:
            return
        for (topic, _), outcome in zip(checkins, self.ingestor.handle_many(checkins), strict=True):
            if outcome.result is not Result.STORED:  # a stored check-in's receipt comes later
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

    def _note_statuses(self, statuses: list[tuple[str, bytes]]) -> None:
        """A batch of heartbeats: stored in one write transaction, configs sent after.

        Three raw statements per 500 kiosks (aggregator/status_store.py) instead of
        three peewee queries per heartbeat (1.1 ms of CPU each, which capped one
        aggregator near 5,000 kiosks at a 15 s interval). Configs are signed and sent
        after the commit, outside the store lock, so ingest never waits for them.
        """
        now_ms = int(time.time() * 1000)
        rows = [
            row
            for kiosk_id, payload in statuses
            if (row := self._status_row(kiosk_id, payload, now_ms))
        ]
        if not rows:
            return
        with self.ingestor.store_lock, write_transaction():
            befores = status_store.store_statuses(rows)
        sends: list[tuple[str, int | None, int]] = []
        for row, before in zip(rows, befores, strict=True):
            if before is None or before.retired:
                continue
            wanted = self._wants_config(row.kiosk_id, before, row.status)
            if wanted:
                sends.append((row.kiosk_id, _held_serial(row.status), before.highest_seq))
        if sends:
            self._send_configs(sends)

    def _status_row(self, kiosk_id: str, payload: bytes, now_ms: int) -> StatusRow | None:
        """One heartbeat parsed and made a row; refused or faulty ones are counted (None)."""
        try:
            return status_store.status_row(kiosk_id, parse_status(payload), now_ms)
        except ProtocolError as exc:
            self.ingestor.count("refused:bad_status")
            self.refusal_log.warning("bad_status", "bad status from %s: %s", kiosk_id, exc)
        except Exception:  # noqa: BLE001 - one kiosk's status must not sink the others' batch
            self.ingestor.count("error:status")
            self.refusal_log.log(
                logging.ERROR,
                "status_error",
                "fault while noting a status from %s",
                kiosk_id,
                exc_info=True,
            )
        return None

    def _wants_config(self, kiosk_id: str, before: Before, status: dict[str, object]) -> bool:
        """A kiosk needs its config now: it came online, holds none (paced), or its
        revocations moved while it stayed online."""
        if status["state"] != "online":
            return False
        if not _holds_no_config(status):
            self.config_pacer.settled(kiosk_id)
        if _came_online(before, status):
            if _holds_no_config(status):
                self.config_pacer.sent(kiosk_id)
            return True
        if _holds_no_config(status):
            if self.config_pacer.allow(kiosk_id):
                return True
            self.ingestor.count("configs_paced")  # one is on its way: not sent again yet
            return False
        if self.revocation_watch.due(kiosk_id):
            self.ingestor.count("configs_pushed")  # revocations for a kiosk that stayed online
            return True
        return False

    def _send_configs(self, sends: list[tuple[str, int | None, int]]) -> None:
        """Send each (kiosk, held serial, highest seq) its config; the revocation list
        is read once for the batch. A fault is counted and logged, the others go on."""
        try:
            revoked = revoked_ids()
        except peewee.DatabaseError as exc:  # the kiosks ask again with their next heartbeat
            self.ingestor.count("error:config", len(sends))
            log.warning("could not read the revocation list for %d config(s): %s", len(sends), exc)
            self._close_connection()
            return
        for kiosk_id, held, highest_seq in sends:
            floors = {kiosk_id: min(highest_seq, SEQ_MAX) + 1}
            try:
                self.send_config(kiosk_id, held_serial=held, revoked=revoked, floors=floors)
            except peewee.DatabaseError:
                raise
            except Exception:  # noqa: BLE001 - one kiosk's config must not sink the others'
                self.ingestor.count("error:status")
                self.refusal_log.log(
                    logging.ERROR,
                    "status_error",
                    "fault while sending a config to %s",
                    kiosk_id,
                    exc_info=True,
                )

    def send_config(
        self,
        kiosk_id: str,
        *,
        held_serial: int | None = None,
        revoked: list[bytes] | None = None,
        floors: dict[str, int] | None = None,
    ) -> None:
        """Send a kiosk that just came online its config: revocations and its seq floor.

        A kiosk whose outbox lost its last commits (a power cut) learns here the
        sequence numbers the ledger already holds, so it never gives them out again.
        A config is signed again only when its content changed since the last one
        this process published to the kiosk. A kiosk holding none (``held_serial``
        None) or an older one than those bytes gets the same bytes again (its broker
        may have lost the retained message); one holding them is left as it is.
        ``revoked`` and ``floors`` are read from the database unless given.
        """
        revoked = revoked_ids() if revoked is None else revoked
        floors = next_seq_floor(kiosk_id) if floors is None else floors
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

    def _divert_status(self, message: tuple[str, bytes]) -> bool:
        """Put a status message in the heartbeat queue; False for any other (or a full box)."""
        kiosk_id = status_kiosk(message[0])
        return kiosk_id is not None and self.statuses.put(kiosk_id, message)

    def _take(self, inbox: queue.Queue[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """One message (waiting up to 0.1 s), then the rest of its burst, up to a batch.

        Micro-batching: unless a whole batch is queued already, the worker waits
        ``ingest_linger_s`` after the first message and then takes what came, so a
        burst is stored in one transaction instead of one per few messages (each costs
        a commit and a few statements). Messages held meanwhile were acknowledged to
        the broker and are stored before the worker stops (see :meth:`stop`).

        A worker reading the bus inbox itself moves status messages to the heartbeat
        queue (the status thread stores them).
        """
        try:
            batch = [inbox.get(timeout=0.1)]
        except queue.Empty:
            return []
        limit = self.config.ingest_batch
        _take_queued(inbox, batch, limit)
        linger = self.config.ingest_linger_s
        if len(batch) < limit and linger > 0 and not self._stop_ingest.is_set():
            time.sleep(linger)
            _take_queued(inbox, batch, limit)
        if inbox is self.bus.inbox:
            batch = [message for message in batch if not self._divert_status(message)]
        return batch

    def _take_statuses(self) -> list[tuple[str, bytes]]:
        """The heartbeats due now: the queue's newest per kiosk past the per-kiosk rate
        limit, and held ones whose time has come (waits up to 0.1 s for one)."""
        released = self.heartbeats.due()
        taken = self.statuses.take(timeout=0 if released else 0.1)
        linger = self.config.ingest_linger_s
        if taken and len(taken) < self.config.ingest_batch and linger > 0:
            time.sleep(linger)  # a burst in one transaction, not one per few heartbeats
            taken += self.statuses.take()
        admitted = [
            message for kiosk_id, message in taken if self.heartbeats.admit(kiosk_id, message)
        ]
        return released + admitted

    def _status_loop(self) -> None:
        """The status thread: heartbeats stored a batch at a time, apart from check-ins."""
        try:
            while not self._stop_status.is_set():
                batch = self._take_statuses()
                if batch:
                    # Not stored: the kiosks beat again within their interval.
                    self._handle_guarded(batch, "error:status", "storing %d heartbeat(s)")
        finally:
            self._close_connection()

    def _dispatch_loop(self) -> None:
        """Move messages from the bus to the worker that owns their kiosk.

        Status messages go to the heartbeat queue instead, before they can fill a
        worker's queue.
        """
        while not self._stop_ingest.is_set():
            try:
                message = self.bus.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            if not self._divert_status(message):
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
            batch = self._take(inbox)
            if batch:
                # Not stored, so no receipt: the kiosk keeps the rows and sends them again.
                self._handle_guarded(batch, "error:ingest", "ingesting %d message(s)")

    def _handle_guarded(self, batch: list[tuple[str, bytes]], fault: str, doing: str) -> None:
        """``handle_many`` that counts and logs a failure instead of ending its thread.

        A database error is counted ``error:database`` and the connection dropped; any
        other fault is counted ``fault``. ``doing`` names the work, with ``%d`` for the
        batch's size.
        """
        try:
            self.handle_many(batch)
        except peewee.DatabaseError as exc:
            self.ingestor.count("error:database", len(batch))
            self.refusal_log.log(
                logging.ERROR,
                "database_error",
                f"database error while {doing}: %s",
                len(batch),
                exc,
            )
            self._reconnect()
        except Exception:  # noqa: BLE001 - the loop's last line of defence
            self.ingestor.count(fault, len(batch))
            log.exception(f"fault while {doing}", len(batch))

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

    def _sample_fleet(self) -> None:
        """The fleet's online count for the chart, once per five-minute slot (ingest only)."""
        if self.fleet_sampler is None:
            return
        try:
            # SQLite has one writer: queue with ingest and the sequencer (store_lock), as
            # they do, rather than spin in its busy handler beside them.
            with self.ingestor.store_lock:
                self.fleet_sampler.sample_if_due(int(time.time() * 1000))
        except peewee.DatabaseError as exc:  # the slot stays due: tried again next loop
            log.warning("could not sample the fleet's online count: %s", exc)
            self._close_connection()

    def _flush_loop(self) -> None:
        try:
            while not self._stop_flush.wait(self.config.counter_flush_s):
                if not self.flusher.flush():
                    self._close_connection()
                self._sample_fleet()
                self.refusal_log.flush()
            self.flusher.flush()
        finally:
            self._close_connection()
