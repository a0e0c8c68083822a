"""Buses without a broker, for driving an AggregatorService in unit tests."""

from __future__ import annotations

import queue

from aggregator.bus import Bus


class QueueBus(Bus):
    """The test fills the inbox; the answers the service sends are kept.

    It publishes no configs (the base class refuses), so a service on it signs none.
    """

    def __init__(self) -> None:
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.answers: list[tuple[str, bytes]] = []

    def start(self) -> None:
        pass

    def wait_connected(self, timeout: float) -> bool:
        return True

    def send_answer(self, kiosk_id: str, wire: bytes) -> None:
        self.answers.append((kiosk_id, wire))

    def stop(self) -> None:
        pass


class ConfigBus(QueueBus):
    """A queue bus that also keeps the kiosk configs the service publishes."""

    def __init__(self) -> None:
        super().__init__()
        self.configs: list[tuple[str, bytes]] = []

    def publish_config(self, kiosk_id: str, wire: bytes) -> None:
        self.configs.append((kiosk_id, wire))
