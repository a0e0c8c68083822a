"""The aggregator process: MQTT in, ingest worker, sequencer, receipts out."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import peewee

from protocol import keys, topics
from protocol.errors import ProtocolError
from protocol.status import parse_status

from . import vault
from .bus import Bus
from .config import AggregatorConfig
from .db import KioskEntry, open_database
from .ingest import Ingestor, Result
from .sequencer import Sequencer

log = logging.getLogger(__name__)


class AggregatorService:
    """Wires bus, ingestor and sequencer; ``start`` runs them on worker threads."""

    def __init__(
        self,
        config: AggregatorConfig,
        bus: Bus,
        *,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        self.db = open_database(config.database_url)
        # Visits are stored sealed under per-day keys, wrapped by the data master key.
        master = config.ledger_key_path.parent / vault.MASTER_KEY_FILE
        vault.install(vault.Vault.from_file(master, create=True))
        issuer = keys.load_private(config.issuer_key_path)
        self.ingestor = Ingestor([issuer.public_key()], window=config.window_s, skew=config.skew_s)
        self.sequencer = Sequencer(
            keys.load_private(config.ledger_key_path),
            config.origin,
            batch_size=config.batch_size,
        )
        self._on_event = on_event or (lambda line: log.info("%s", line))
        self._stop_ingest = threading.Event()
        self._stop_sequencer = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self.blocks_sealed = 0

    def _event(self, text: str) -> None:
        self._on_event(f"aggregator: {text}")

    def start(self) -> None:
        """Connect to the broker and start the ingest and sequencer threads."""
        self.bus.start()
        for target, name in ((self._ingest_loop, "ingest"), (self._sequencer_loop, "sequencer")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads[name] = thread

    def stop(self) -> None:
        """Finish the work in hand, seal what is verified, and disconnect."""
        self._stop_ingest.set()
        if "ingest" in self._threads:
            self._threads["ingest"].join(timeout=10)
        self._stop_sequencer.set()
        if "sequencer" in self._threads:
            self._threads["sequencer"].join(timeout=10)
        self.bus.stop()
        self.db.close()

    def handle(self, topic: str, payload: bytes) -> None:
        """Route one message by topic; bad input is counted, never raised."""
        try:
            kiosk_id, leaf = topics.parse_topic(topic)
        except ProtocolError:
            self.ingestor.counts["refused:bad_topic"] += 1
            return
        if leaf == topics.STATUS:
            self._note_status(kiosk_id, payload)
            return
        outcome = self.ingestor.handle(topic, payload)
        if outcome.result is Result.REFUSED:
            self._event(f"refused a check-in from {kiosk_id} ({outcome.reason})")
            if outcome.refused_record is not None:
                refusal = self.sequencer.refusal_for(outcome.refused_record, outcome.reason)
                self.bus.send_answer(kiosk_id, refusal)
        elif outcome.result is Result.DUPLICATE and outcome.entry is not None:
            again = self.sequencer.receipt_again(outcome.entry)
            if again is not None:
                self.bus.send_answer(kiosk_id, again)

    def _note_status(self, kiosk_id: str, payload: bytes) -> None:
        try:
            status = parse_status(payload)
        except ProtocolError:
            self.ingestor.counts["refused:bad_status"] += 1
            return
        KioskEntry.update(
            last_status=status["state"], last_status_ms=int(time.time() * 1000)
        ).where(KioskEntry.kiosk_id == kiosk_id).execute()

    def _ingest_loop(self) -> None:
        with self.db.connection_context():
            while not self._stop_ingest.is_set():
                try:
                    topic, payload = self.bus.inbox.get(timeout=0.1)
                except queue.Empty:
                    continue
                try:
                    self.handle(topic, payload)
                except peewee.DatabaseError as exc:
                    # Not stored, so no receipt: the kiosk keeps the row and sends it again.
                    self.ingestor.counts["error:database"] += 1
                    log.error("database error while ingesting from %.80s: %s", topic, exc)
                except Exception:  # noqa: BLE001 - the loop's last line of defence
                    self.ingestor.counts["error:ingest"] += 1
                    log.exception("fault while ingesting from %.80s", topic)

    def seal_once(self) -> int:
        """Seal one block if check-ins wait, send its receipts; returns check-ins sealed."""
        try:
            block = self.sequencer.seal()
        except peewee.DatabaseError as exc:
            # The transaction rolled back; the same check-ins are tried on the next tick.
            self.ingestor.counts["error:sequencer"] += 1
            log.error("database error while sealing: %s", exc)
            return 0
        except Exception:  # noqa: BLE001 - the loop's last line of defence
            self.ingestor.counts["error:sequencer"] += 1
            log.exception("fault while sealing")
            return 0
        if block is None:
            return 0
        self.blocks_sealed += 1
        for kiosk_id, wire in block.receipts.items():
            self.bus.send_answer(kiosk_id, wire)
        self._event(
            f"sealed block {block.height}: {block.leaf_count} check-in(s), "
            f"tree size {block.tree_size}, root {block.root.hex()[:16]}"
        )
        return block.leaf_count

    def _sequencer_loop(self) -> None:
        with self.db.connection_context():
            while not self._stop_sequencer.is_set():
                if self.seal_once() < self.config.batch_size:
                    self._stop_sequencer.wait(self.config.batch_interval_s)
            while self.seal_once():
                pass
