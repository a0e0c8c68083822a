"""Per-kiosk broker accounts: the interface the operator API calls on enrol and retire.

A kiosk gets its own MQTT username and password, allowed to publish only its own
check-in and status topics and to read only its own receipt and config topics.
Retiring a kiosk removes its account and disconnects it at once.

``BrokerAccounts`` is what the web app uses (``app.extensions["safecode.broker_accounts"]``);
``NoBrokerAccounts`` is the stand-in when no broker administration is configured
(a broker without per-kiosk credentials, e.g. the demo's loopback broker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class BrokerAccountError(RuntimeError):
    """The broker refused or could not be reached to change an account."""


@dataclass(frozen=True)
class MqttCredentials:
    """What a kiosk needs to log in to the broker as itself."""

    username: str
    password: str


class BrokerAccounts(Protocol):
    """Create and remove per-kiosk broker accounts and their ACLs."""

    def ensure_kiosk(self, kiosk_id: str) -> MqttCredentials | None:
        """Give ``kiosk_id`` an account limited to its own topics; a new password each call.

        Returns None when the broker has no per-kiosk accounts.
        """
        ...

    def remove_kiosk(self, kiosk_id: str) -> None:
        """Delete the kiosk's account and disconnect it now; no error if it has none."""
        ...


class NoBrokerAccounts:
    """No broker administration: kiosks use whatever the broker allows anonymously."""

    def ensure_kiosk(self, kiosk_id: str) -> MqttCredentials | None:
        return None

    def remove_kiosk(self, kiosk_id: str) -> None:
        return None
