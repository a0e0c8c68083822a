"""Thousands of simulated kiosks in one process, each its own MQTT connection, on one selector.

Each kiosk is the firmware's paho-mqtt 2.x client, made by the firmware's own factory
(:func:`transport.paho_client.make_client`: its own account, client id = kiosk id, a
persistent session), with the link's retained last will ``offline``, its ``online``
status and subscriptions on every connect (as :class:`kiosk.link_paho.MqttLink`), a
full heartbeat right after connecting and every ``heartbeat_s`` (as the firmware),
check-ins signed with its device key over real visitor presentations, kept until a
verified receipt names them and sent again after ``resend_after_s`` (doubling after each
resend, as the firmware's outbox does).

Why paho's external-loop API (``socket()``, ``loop_read``, ``loop_write``,
``loop_misc`` from one selector) and not an asyncio client: it is the library the
kiosks run, so the wire behaviour measured is theirs (session, will, in-flight
resends), and a client costs about 4.4 KB of Python memory before it connects
(measured with ``make_client``); aiomqtt wraps the same paho client and adds a task
per connection, gmqtt would be a second MQTT implementation to trust.

Reconnecting follows the firmware's policy: paho's own delay (``reconnect_min_s``,
doubling to ``reconnect_max_s``, reset by a successful connect) plus the jittered wait
of :class:`transport.backoff.ReconnectJitter` (window ``reconnect_jitter_s``), and
paho's limits: a TCP connect given up after ``connect_timeout`` (5 s), a CONNACK
after ``keepalive``. Each kiosk's TCP connect is non-blocking on the selector, then
paho sends CONNECT on the connected socket: a kiosk has its own thread for its
connect, so one waiting out SYN retransmits at a full accept queue holds up no other.
(Eight blocking connector threads did: in a 5,000-kiosk storm 4,401 kiosks once
waited in their queue while the broker took 200 to 250 new connections a second.)

Client sockets are spread over several loopback source addresses (127.0.0.2, ...):
one source address reaches a broker port from at most ~28,000 ephemeral ports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import heapq
import itertools
import logging
import os
import random
import selectors
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiosk.outbox import RESEND_DOUBLINGS
from protocol import topics
from protocol.checkin import ClockState, sign_checkin
from protocol.errors import ProtocolError
from protocol.kiosk_config import parse_kiosk_config
from protocol.receipt import Receipt, parse_answer
from protocol.status import encode_status
from transport.backoff import ReconnectJitter
from transport.paho_client import make_client
from transport.settings import MqttSettings

from .visitors import Wallet, enrol_visitor

log = logging.getLogger(__name__)

#: Kiosks per loopback source address (one address has ~28,000 ephemeral ports).
PER_SOURCE_ADDRESS = 20_000
#: Presentations one simulated visitor shows before a new visitor is enrolled.
SHOWS_PER_VISITOR = 30
#: Every connected kiosk's paho keepalive is checked (``loop_misc``) this often.
MISC_EVERY_S = 2.0
#: A kiosk's link states (``SimKiosk.state``).
IDLE, CONNECTING, OPEN, CONNECTED = "idle", "connecting", "open", "connected"


def source_address(index: int, per_address: int = PER_SOURCE_ADDRESS) -> str:
    """The loopback address kiosk number ``index`` connects from: 127.0.0.2, 127.0.0.3, ..."""
    number = 2 + index // per_address
    if number > 254:
        raise ValueError(f"kiosk {index} needs a source address past 127.0.0.254")
    return f"127.0.0.{number}"


@dataclass(frozen=True)
class FleetKioskSpec:
    """One simulated kiosk: id, venue, device key seed and broker password."""

    kiosk_id: str
    venue_id: str
    device_seed: bytes
    password: str | None


@dataclass(frozen=True)
class FleetSettings:
    """What every kiosk of a fleet shares: the broker, the timings and the keys."""

    mqtt: MqttSettings
    issuer_seed: bytes
    ledger_public: bytes
    heartbeat_s: float
    resend_after_s: float
    per_source_address: int = PER_SOURCE_ADDRESS


@dataclass(eq=False)
class SimKiosk:
    """One kiosk's link and outbox (check-ins waiting for their receipt)."""

    index: int
    spec: FleetKioskSpec
    client: mqtt.Client
    jitter: ReconnectJitter
    device: Ed25519PrivateKey
    boot: bytes = field(default_factory=lambda: uuid.uuid4().bytes)
    booted: float = field(default_factory=time.monotonic)
    state: str = "idle"  # idle -> connecting (TCP) -> open (CONNECT sent) -> connected
    generation: int = 0  # bumped by every scheduled reconnect: stale timers are ignored
    paho_delay: float | None = None
    seq: int = 0
    config_serial: int | None = None
    disconnected_at: float | None = None
    # check-in id -> [wire, scan time, last sent, sends]
    pending: dict[bytes, list[Any]] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    tcp: socket.socket | None = None  # its TCP connect in progress

    def topic(self, leaf: str) -> str:
        return topics.topic(self.spec.kiosk_id, leaf)

    @property
    def connected(self) -> bool:
        return self.state == CONNECTED


class KioskFleet:
    """Many :class:`SimKiosk` on one selector, driven by :meth:`step` (or :meth:`run_for`)."""

    def __init__(
        self,
        specs: list[FleetKioskSpec],
        settings: FleetSettings,
        *,
        first_index: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        from protocol import keys

        self.settings = settings
        self.rng = rng or random.Random()
        self.ledger_public: Ed25519PublicKey = keys.load_public(settings.ledger_public)
        self.issuer = Ed25519PrivateKey.from_private_bytes(settings.issuer_seed)
        self.selector = selectors.DefaultSelector()
        self.kiosks: list[SimKiosk] = []
        self.counts: Counter[str] = Counter()
        self.sent: dict[bytes, SimKiosk] = {}  # every check-in made, by id
        self.done: dict[bytes, int] = {}  # check-in id -> leaf index of its first receipt
        self.latencies: list[tuple[float, float]] = []  # (scan time, ms to verified receipt)
        self.connect_times: list[float] = []  # monotonic time of each successful CONNACK
        self.scan_rate = 0.0
        self._scan_start = 0.0
        self._scanned = 0
        self._wallets: deque[tuple[Wallet, int, int]] = deque()  # (wallet, last shown, shows)
        self._timers: list[tuple[float, int, str, SimKiosk, int]] = []
        self._tick = itertools.count()
        self._timer_lock = threading.Lock()
        self._misc_at = 0
        self._misc_time = time.monotonic()
        self._writers: set[SimKiosk] = set()
        self._hook: Callable[[], None] | None = None
        if settings.mqtt.tls:
            raise ValueError("the fleet simulator connects over plain TCP (loopback)")
        for number, spec in enumerate(specs):
            self.kiosks.append(self._make_kiosk(first_index + number, spec))

    # --- building a kiosk ------------------------------------------------------------------

    def _make_kiosk(self, index: int, spec: FleetKioskSpec) -> SimKiosk:
        mqtt_settings = dataclasses.replace(
            self.settings.mqtt, username=spec.kiosk_id, password=spec.password
        )
        client = make_client(mqtt_settings, client_id=spec.kiosk_id)
        kiosk = SimKiosk(
            index=index,
            spec=spec,
            client=client,
            jitter=ReconnectJitter(
                mqtt_settings.reconnect_jitter_s, mqtt_settings.reconnect_max_s, rng=self.rng
            ),
            device=Ed25519PrivateKey.from_private_bytes(spec.device_seed),
        )
        client.user_data_set(kiosk)
        client.will_set(kiosk.topic(topics.STATUS), encode_status("offline"), qos=1, retain=True)
        client.max_queued_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_close = self._on_socket_close
        client.connect_async(
            mqtt_settings.host,
            mqtt_settings.port,
            mqtt_settings.keepalive,
            bind_address=source_address(index, self.settings.per_source_address),
        )
        return kiosk

    # --- connecting --------------------------------------------------------------------------

    def connect_all(self) -> None:
        """Start connecting every kiosk now (as kiosks do when they boot: no extra wait)."""
        for kiosk in self.kiosks:
            self._queue_connect(kiosk)

    def _queue_connect(self, kiosk: SimKiosk) -> None:
        """Start the kiosk's TCP connect (non-blocking); :meth:`_tcp_done` goes on."""
        kiosk.state = CONNECTING
        self.counts["connect_attempts"] += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((source_address(kiosk.index, self.settings.per_source_address), 0))
            code = sock.connect_ex((self.settings.mqtt.host, self.settings.mqtt.port))
        except OSError as exc:
            code = exc.errno or errno.EIO
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.counts[f"connect_error:{errno.errorcode.get(code, code)}"] += 1
            self._schedule_reconnect(kiosk)
            return
        kiosk.tcp = sock
        self.selector.register(sock, selectors.EVENT_WRITE, (CONNECTING, kiosk))
        # paho's own limit for its (blocking) TCP connect.
        self._timer(time.monotonic() + kiosk.client.connect_timeout, "tcp_timeout", kiosk)

    def _tcp_done(self, kiosk: SimKiosk, timed_out: bool = False) -> None:
        """The TCP connect ended (or took too long): paho sends CONNECT on the socket."""
        sock = kiosk.tcp
        if sock is None:
            return
        kiosk.tcp = None
        self.selector.unregister(sock)
        code = errno.ETIMEDOUT if timed_out else sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            sock.close()
            self.counts[f"connect_error:{errno.errorcode.get(code, code)}"] += 1
            self._schedule_reconnect(kiosk)
            return
        client = kiosk.client
        client._create_socket = lambda: sock  # type: ignore[method-assign]
        try:
            client.reconnect()  # CONNECT on this socket (paho's state, will, session)
        except OSError as exc:
            self.counts[f"connect_error:{type(exc).__name__}"] += 1
        finally:
            del client._create_socket
        opened = client.socket()
        if opened is None:  # its CONNECT could not be written: try again later
            self._schedule_reconnect(kiosk)
            return
        kiosk.state = OPEN
        self.selector.register(opened, selectors.EVENT_READ, kiosk)
        self._flush(kiosk)

    def _reconnect_delay(self, kiosk: SimKiosk) -> float:
        """paho's delay (min doubling to max, as in its loop) plus the firmware's jitter."""
        mqtt_settings = self.settings.mqtt
        if kiosk.paho_delay is None:
            kiosk.paho_delay = float(mqtt_settings.reconnect_min_s)
        else:
            kiosk.paho_delay = min(kiosk.paho_delay * 2, float(mqtt_settings.reconnect_max_s))
        return kiosk.paho_delay + kiosk.jitter.next_delay()

    def _schedule_reconnect(self, kiosk: SimKiosk) -> None:
        """The kiosk is idle now; one reconnect timer (older ones are void)."""
        with self._timer_lock:
            kiosk.state = IDLE
            kiosk.generation += 1
            when = time.monotonic() + self._reconnect_delay(kiosk)
            heapq.heappush(
                self._timers, (when, next(self._tick), "connect", kiosk, kiosk.generation)
            )

    def _timer(self, when: float, what: str, kiosk: SimKiosk) -> None:
        with self._timer_lock:
            heapq.heappush(self._timers, (when, next(self._tick), what, kiosk, kiosk.generation))

    # --- paho callbacks (all on the selector thread) ------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, kiosk: SimKiosk, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            self.counts[f"refused:{reason}"] += 1
            return
        kiosk.state = CONNECTED
        kiosk.paho_delay = None
        kiosk.jitter.reset()
        self.counts["connected"] += 1
        now = time.monotonic()
        self.connect_times.append(now)
        if kiosk.disconnected_at is not None:
            self.counts["reconnected"] += 1
            kiosk.disconnected_at = None
        client.subscribe([(kiosk.topic(topics.RECEIPT), 1), (kiosk.topic(topics.CONFIG), 1)])
        client.publish(kiosk.topic(topics.STATUS), encode_status("online"), qos=1, retain=True)
        self._heartbeat(kiosk)  # the firmware sends a full one on every (re)connect
        for checkin_id, row in kiosk.pending.items():  # scanned while offline, or unanswered
            if self._due(row, now):
                self._send(kiosk, checkin_id, row, now)

    def _on_disconnect(
        self, client: mqtt.Client, kiosk: SimKiosk, flags: Any, reason: Any, props: Any
    ) -> None:
        self._writers.discard(kiosk)
        if kiosk.state == CONNECTED:
            kiosk.disconnected_at = time.monotonic()
            self.counts["disconnects"] += 1
        elif kiosk.state == OPEN:
            self.counts["connect_failed"] += 1
        else:  # inside _tcp_done's reconnect(): it schedules the retry
            return
        if self._stopping:
            kiosk.state = IDLE
        else:
            self._schedule_reconnect(kiosk)

    def _on_socket_close(self, client: mqtt.Client, kiosk: SimKiosk, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):  # closed before it was registered
            self.selector.unregister(sock)

    def _on_message(self, client: mqtt.Client, kiosk: SimKiosk, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        if message.topic == kiosk.topic(topics.RECEIPT):
            self._on_answer(kiosk, payload)
        elif message.topic == kiosk.topic(topics.CONFIG):
            self._on_config(kiosk, payload)
        else:
            self.counts["unexpected_topic"] += 1

    def _on_answer(self, kiosk: SimKiosk, payload: bytes) -> None:
        now = time.monotonic()
        try:
            answer = parse_answer(payload)
            answer.verify(self.ledger_public)
        except ProtocolError:
            self.counts["bad_answers"] += 1
            return
        if answer.kiosk_id != kiosk.spec.kiosk_id:
            self.counts["bad_answers"] += 1
            return
        if not isinstance(answer, Receipt):
            self.counts["refused_checkins"] += len(answer.entries)
            for entry in answer.entries:
                kiosk.pending.pop(entry.checkin_id, None)
            return
        self.counts["receipts"] += 1
        for entry in answer.entries:
            known = self.done.get(entry.checkin_id)
            if known is not None:
                if known != entry.leaf_index:
                    self.counts["conflicts"] += 1
                else:
                    self.counts["receipts_again"] += 1
                continue
            row = kiosk.pending.pop(entry.checkin_id, None)
            if row is None:
                self.counts["receipt_unknown"] += 1
                continue
            self.done[entry.checkin_id] = entry.leaf_index
            self.latencies.append((row[1], (now - row[1]) * 1000))

    def _on_config(self, kiosk: SimKiosk, payload: bytes) -> None:
        try:
            message = parse_kiosk_config(payload)
            message.verify(self.ledger_public)
            message.check_for(kiosk.spec.kiosk_id, None)
        except ProtocolError:
            self.counts["bad_configs"] += 1
            return
        if kiosk.config_serial is None or message.serial > kiosk.config_serial:
            kiosk.config_serial = message.serial
            self.counts["configs"] += 1

    # --- what kiosks send ----------------------------------------------------------------------

    def _heartbeat(self, kiosk: SimKiosk) -> None:
        """The firmware's heartbeat figures (protocol/status.py) for a door that scans codes."""
        now = time.monotonic()
        now_ms = int(time.time() * 1000)
        oldest = min((row[1] for row in kiosk.pending.values()), default=None)
        c = kiosk.counters
        payload = encode_status(
            "online",
            firmware="fleet-sim",
            queue=len(kiosk.pending),
            oldest_unsent_ms=None if oldest is None else int((now - oldest) * 1000),
            in_flight=len(kiosk.pending),
            last_receipt_age_ms=None,
            fps=15.0,
            decode_ms=0.7,
            clock_synced=True,
            clock_boot=kiosk.boot.hex(),
            clock_mono_ms=int((now - kiosk.booted) * 1000),
            clock_wall_ms=now_ms,
            disk_free_mb=12_000.0,
            disk_low=False,
            config_serial=kiosk.config_serial,
            outbox_recoveries=0,
            scanned=c["scanned"],
            accepted=c["scanned"],
            already=0,
            refused=0,
            faults=0,
            delivered=c["scanned"] - len(kiosk.pending),
            rejected=0,
            bad_receipts=0,
            bad_configs=0,
            disk_full=0,
        )
        kiosk.client.publish(kiosk.topic(topics.STATUS), payload, qos=1, retain=True)
        self.counts["heartbeats"] += 1

    def _next_wallet(self, now_s: int) -> Wallet:
        """A visitor whose phone has not shown a code this second (a presentation is
        signed per second, and the same one twice is a replay); each shows at most
        ``SHOWS_PER_VISITOR`` codes, then a new visitor enrols."""
        wallets = self._wallets
        if wallets and wallets[0][1] < now_s:
            wallet, _, shows = wallets.popleft()
        else:
            wallet, shows = enrol_visitor(self.issuer, now_s - 3600), 0
        if shows + 1 < SHOWS_PER_VISITOR:
            wallets.append((wallet, now_s, shows + 1))
        return wallet

    def scan(self, kiosk: SimKiosk) -> bytes:
        """A visitor shows a fresh code at ``kiosk``: sign, keep, send if connected."""
        now = time.monotonic()
        now_s = time.time()
        kiosk.seq += 1
        kiosk.counters["scanned"] += 1
        checkin_id = os.urandom(16)
        wire = sign_checkin(
            kiosk.device,
            checkin_id=checkin_id,
            kiosk_id=kiosk.spec.kiosk_id,
            venue_id=kiosk.spec.venue_id,
            seq=kiosk.seq,
            door="entrance",
            scanned_ms=int(now_s * 1000),
            clock=ClockState(True, kiosk.boot, int((now - kiosk.booted) * 1000)),
            presentation=self._next_wallet(int(now_s)).show(now_s).to_bytes(),
        )
        row = [wire, now, None, 0]
        kiosk.pending[checkin_id] = row
        self.sent[checkin_id] = kiosk
        self.counts["scanned"] += 1
        if kiosk.connected:
            self._send(kiosk, checkin_id, row, now)
            self._flush(kiosk)
        return checkin_id

    def _send(self, kiosk: SimKiosk, checkin_id: bytes, row: list[Any], now: float) -> None:
        """Publish one check-in (paho writes it at once outside its callbacks; inside one
        it only queues it, and :meth:`step` writes it after ``loop_read``)."""
        self.counts["resent" if row[2] is not None else "published"] += 1
        row[2] = now
        row[3] += 1
        info = kiosk.client.publish(kiosk.topic(topics.CHECKIN), row[0], qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.counts[f"publish_error:{info.rc}"] += 1

    def _due(self, row: list[Any], now: float) -> bool:
        """Never sent, or unanswered for its resend wait: the firmware's outbox rule
        (``resend_after_s``, doubling after each resend up to ``RESEND_DOUBLINGS`` times)."""
        if row[2] is None:
            return True
        wait = self.settings.resend_after_s * 2 ** min(row[3] - 1, RESEND_DOUBLINGS)
        return now - row[2] >= wait

    def _flush(self, kiosk: SimKiosk) -> None:
        """Write what paho queued; wait for room (EVENT_WRITE) if the socket is full.

        Never from inside a paho callback: a failed write there makes paho call
        ``on_disconnect`` under the callback lock it already holds, and the loop hangs.
        """
        client = kiosk.client
        if not client.want_write():
            return
        client.loop_write()
        sock = client.socket()
        if client.want_write() and sock is not None and kiosk not in self._writers:
            self._writers.add(kiosk)
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, kiosk)

    # --- the loop ------------------------------------------------------------------------------

    _stopping = False

    def set_scan_rate(self, per_s: float) -> None:
        """Visitors per second over this fleet's kiosks, from now on (0 stops scanning)."""
        self.scan_rate = per_s
        self._scan_start = time.monotonic()
        self._scanned = 0

    def step(self, timeout: float = 0.05) -> None:
        """One turn: network events, due timers, scans, resends, keepalives."""
        for key, events in self.selector.select(timeout):
            if isinstance(key.data, tuple):  # (CONNECTING, kiosk): its TCP connect ended
                self._tcp_done(key.data[1])
                continue
            kiosk: SimKiosk = key.data
            client = kiosk.client
            if events & selectors.EVENT_READ:
                client.loop_read()
            if events & selectors.EVENT_WRITE:
                client.loop_write()
            self._flush(kiosk)  # what its callbacks queued (an answer, a subscription)
            if kiosk in self._writers and not client.want_write():
                self._writers.discard(kiosk)
                sock = client.socket()
                if sock is not None:
                    self.selector.modify(sock, selectors.EVENT_READ, kiosk)
        now = time.monotonic()
        self._run_timers(now)
        self._scan_due(now)
        self._misc(now)

    def _run_timers(self, now: float) -> None:
        while True:
            with self._timer_lock:
                if not self._timers or self._timers[0][0] > now:
                    return
                _, _, what, kiosk, generation = heapq.heappop(self._timers)
            if what == "connect":
                current = generation == kiosk.generation and kiosk.state == IDLE
                if current and not self._stopping:
                    self._queue_connect(kiosk)
            elif what == "tcp_timeout":
                if generation == kiosk.generation and kiosk.state == CONNECTING:
                    self._tcp_done(kiosk, timed_out=True)
            elif what == "heartbeat":
                if kiosk.connected:
                    self._heartbeat(kiosk)
                    self._flush(kiosk)
                self._timer(now + self.settings.heartbeat_s, "heartbeat", kiosk)

    def start_heartbeats(self) -> None:
        """Each kiosk beats every ``heartbeat_s``, its phase random (kiosks boot at random)."""
        now = time.monotonic()
        for kiosk in self.kiosks:
            self._timer(now + self.rng.uniform(0, self.settings.heartbeat_s), "heartbeat", kiosk)

    def _scan_due(self, now: float) -> None:
        if self.scan_rate <= 0 or not self.kiosks:
            return
        due = int(self.scan_rate * (now - self._scan_start)) - self._scanned
        for _ in range(max(0, due)):
            self.scan(self.kiosks[self.rng.randrange(len(self.kiosks))])
            self._scanned += 1

    def _misc(self, now: float) -> None:
        """loop_misc (keepalive) for a slice of kiosks, each about every ``MISC_EVERY_S``;
        check-ins of those kiosks unanswered for ``resend_after_s`` go again."""
        count = len(self.kiosks)
        if not count:
            return
        budget = count * (now - self._misc_time) / MISC_EVERY_S
        if budget < 1:
            return
        self._misc_time = now
        for _ in range(min(int(budget), count)):
            kiosk = self.kiosks[self._misc_at % count]
            self._misc_at += 1
            if kiosk.state == OPEN:
                # Waiting for its CONNACK: paho gives up after ``keepalive`` seconds (the
                # firmware's loop checks this too), and the kiosk reconnects with back-off.
                kiosk.client.loop_misc()
                continue
            if not kiosk.connected:
                continue
            kiosk.client.loop_misc()
            for checkin_id, row in list(kiosk.pending.items()):
                if row[2] is not None and self._due(row, now) and kiosk.connected:
                    self._send(kiosk, checkin_id, row, now)
            self._flush(kiosk)

    def run_for(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Drive the fleet for ``seconds`` (or until ``until()`` holds)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()
            if until is not None and until():
                return

    # --- figures -------------------------------------------------------------------------------

    def unanswered(self) -> int:
        return sum(len(k.pending) for k in self.kiosks)

    def stats(self) -> dict[str, Any]:
        """Counts so far, with how many kiosks are connected and check-ins unanswered."""
        states = Counter(k.state for k in self.kiosks)
        return {
            **self.counts,
            "kiosks": len(self.kiosks),
            "connected_now": states[CONNECTED],
            # Where the others are: waiting out their back-off, in their TCP connect,
            # or connected and waiting for their CONNACK.
            "idle_now": states[IDLE],
            "connecting_now": states[CONNECTING],
            "awaiting_connack_now": states[OPEN],
            "unanswered": self.unanswered(),
            "answered": len(self.done),
        }

    def stop(self) -> None:
        """Disconnect every kiosk cleanly (its will is not sent); drop TCP connects."""
        self._stopping = True
        for kiosk in self.kiosks:
            if kiosk.tcp is not None:
                self.selector.unregister(kiosk.tcp)
                kiosk.tcp.close()
                kiosk.tcp = None
            if kiosk.connected:
                kiosk.client.disconnect()
                kiosk.client.loop_write()
        self.selector.close()


def _process_figures() -> dict[str, float]:
    """This process's CPU seconds and resident memory (current and peak) in MB."""
    times = os.times()
    out = {"cpu_s": round(times.user + times.system, 2)}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name = "rss_mb" if line.startswith("VmRSS") else "peak_rss_mb"
                out[name] = round(int(line.split()[1]) / 1024, 1)
    return out


def serve(conn: Any, specs: list[FleetKioskSpec], settings: FleetSettings, first: int) -> None:
    """A fleet process: drive the kiosks, answer the coordinator's commands over ``conn``.

    Commands (tuples): ``("connect",)`` connect every kiosk and start heartbeats;
    ``("rate", per_s)`` visitors per second; ``("stats",)``; ``("latencies",)`` every
    (scan time, ms) pair; ``("ids",)`` every check-in made, the ids answered and
    their leaves; ``("stop",)`` disconnect and answer this process's figures.
    """
    fleet = KioskFleet(specs, settings, first_index=first)
    conn.send(("ready", _process_figures()))
    while True:
        fleet.step()
        while conn.poll():
            command, *args = conn.recv()
            if command == "connect":
                fleet.connect_all()
                fleet.start_heartbeats()
                conn.send("ok")
            elif command == "rate":
                fleet.set_scan_rate(float(args[0]))
                conn.send("ok")
            elif command == "stats":
                conn.send({**fleet.stats(), **_process_figures()})
            elif command == "latencies":
                conn.send(fleet.latencies)
            elif command == "connect_times":
                conn.send(fleet.connect_times)
            elif command == "ids":
                conn.send((list(fleet.sent), fleet.done))
            elif command == "stop":
                fleet.stop()
                conn.send(_process_figures())
                return
