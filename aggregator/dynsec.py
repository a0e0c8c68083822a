"""Per-kiosk broker accounts through Mosquitto's dynamic-security plugin.

Commands are JSON published to ``$CONTROL/dynamic-security/v1``; the plugin answers on
``.../response``, one entry per command, with an ``error`` text when it fails. Each call
opens a short admin connection (its own random client id, so concurrent web workers do
not kick each other), sends one batch and waits for the answer carrying its
correlation data. The plugin runs a batch in order inside the broker's single thread,
so nobody sees a half-made account.

Measured on Mosquitto 2.0.11: ``deleteClient`` and ``setClientPassword`` disconnect a
connected client at once ("disconnected by administrative action"); ``addClientRole``
of a role the client already has fails with "Internal error", so an account is
rebuilt (deleted and created) rather than patched.
"""

from __future__ import annotations

import json
import logging
import secrets
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import MalformedError
from protocol.ids import check_kiosk_id
from transport.session import Session, SessionCallbacks, open_session
from transport.settings import MqttSettings

from .broker_accounts import BrokerAccountError, MqttCredentials
from .broker_acls import CONTROL_TOPIC, RESPONSE_TOPIC, kiosk_acls, kiosk_role, new_password

log = logging.getLogger(__name__)

#: Errors that mean "already as wanted" for a command that removes something.
_ABSENT = {"deleteClient": "Client not found", "deleteRole": "Role not found"}
#: Largest response accepted from the broker (a batch answer is a few hundred bytes).
_MAX_RESPONSE = 64 * 1024


@dataclass
class _Exchange:
    """One admin connection's state, filled in by the session's network thread."""

    correlation: str
    connected: threading.Event = field(default_factory=threading.Event)
    subscribed: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)
    refused: str | None = None
    lost: str | None = None
    subscribe_failed: bool = False
    responses: list[dict[str, Any]] = field(default_factory=list)


class DynsecAccounts:
    """``BrokerAccounts`` on a Mosquitto broker running the dynamic-security plugin.

    ``settings`` are the admin's connection (host, port, TLS, username and password);
    ``reserved`` usernames (the admin's, the aggregator's) are never changed, even
    when they happen to look like kiosk ids.

    ``pin_client_id`` (the default) lets a kiosk's account connect only with client
    id = kiosk id, so a kiosk cannot log in under another kiosk's client id and take
    over its session (kick it off and have its queued receipts dropped). ``kiosk
    selftest`` copes: with no firmware running it logs in as the kiosk itself (session
    left as it was); beside a running one it judges the link from the outbox.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        timeout_s: float = 5.0,
        reserved: Iterable[str] = (),
        pin_client_id: bool = True,
    ) -> None:
        if not settings.username or settings.password is None:
            raise BrokerAccountError("broker administration needs a username and a password")
        self.settings = settings
        self.timeout_s = timeout_s
        self.reserved = frozenset({settings.username, *reserved})
        self.pin_client_id = pin_client_id

    def ensure_kiosk(self, kiosk_id: str) -> MqttCredentials:
        """(Re)make the kiosk's account and role with a new password; kicks its old session."""
        kiosk_id = self._check(kiosk_id)
        password = new_password()
        role = kiosk_role(kiosk_id)
        self.run(
            [
                {"command": "deleteClient", "username": kiosk_id},
                {"command": "deleteRole", "rolename": role},
                {"command": "createRole", "rolename": role, "acls": kiosk_acls(kiosk_id)},
                {
                    "command": "createClient",
                    "username": kiosk_id,
                    "password": password,
                    "textname": f"safecode kiosk {kiosk_id}",
                    "roles": [{"rolename": role}],
                    **({"clientid": kiosk_id} if self.pin_client_id else {}),
                },
            ]
        )
        log.info("broker account for kiosk %s made (new password)", kiosk_id)
        return MqttCredentials(username=kiosk_id, password=password)

    def remove_kiosk(self, kiosk_id: str) -> None:
        """Delete the kiosk's account (disconnecting it now) and its role."""
        kiosk_id = self._check(kiosk_id)
        self.run(
            [
                {"command": "deleteClient", "username": kiosk_id},
                {"command": "deleteRole", "rolename": kiosk_role(kiosk_id)},
            ]
        )
        log.info("broker account for kiosk %s removed", kiosk_id)

    def _check(self, kiosk_id: str) -> str:
        try:
            check_kiosk_id(kiosk_id)
        except MalformedError as exc:
            raise BrokerAccountError(f"refused kiosk id {str(kiosk_id)[:80]!r}: {exc}") from exc
        if kiosk_id in self.reserved:
            raise BrokerAccountError(f"{kiosk_id!r} is a reserved broker account, not a kiosk")
        return kiosk_id

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``commands`` as one batch; return the responses or raise on any error."""
        correlation = secrets.token_hex(8)
        batch = [{**command, "correlationData": correlation} for command in commands]
        responses = self._exchange(json.dumps({"commands": batch}).encode(), correlation)
        if len(responses) != len(commands):
            raise BrokerAccountError(
                f"the dynamic-security plugin answered {len(responses)} of {len(commands)} commands"
            )
        for command, response in zip(commands, responses, strict=True):
            name = command["command"]
            error = response.get("error")
            if response.get("command") != name:
                raise BrokerAccountError(
                    f"the dynamic-security plugin answered out of order: {name}"
                )
            if error is not None and error != _ABSENT.get(name):
                raise BrokerAccountError(f"broker refused {name}: {str(error)[:200]}")
        return responses

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _exchange(self, payload: bytes, correlation: str) -> list[dict[str, Any]]:
        state = _Exchange(correlation)
        callbacks = SessionCallbacks(
            connected=lambda refused: _on_connect(state, refused),
            subscribed=lambda granted: _on_subscribe(state, granted),
            message=lambda topic, body: _on_message(state, body),
            disconnected=lambda reason: _on_disconnect(state, reason),
        )
        try:
            session = open_session(
                self.settings,
                f"safecode-admin-{correlation}",
                callbacks,
                persistent=False,
                connect_timeout=self.timeout_s,
            )
        except (OSError, ssl.SSLError) as exc:
            raise BrokerAccountError(f"broker admin TLS files unusable: {exc}") from exc
        try:
            session.connect()
        except (OSError, ssl.SSLError) as exc:
            raise BrokerAccountError(
                f"cannot reach the broker at {self._where()} to manage kiosk accounts: {exc}"
            ) from exc
        try:
            return self._talk(session, state, payload)
        finally:
            session.close()

    def _talk(self, session: Session, state: _Exchange, payload: bytes) -> list[dict[str, Any]]:
        where = self._where()
        if not state.connected.wait(self.timeout_s) or state.refused:
            reason = state.refused or f"no answer in {self.timeout_s:g} s"
            raise BrokerAccountError(
                f"broker at {where} refused the admin login {self.settings.username!r}: {reason}"
            )
        session.subscribe(RESPONSE_TOPIC)
        if not state.subscribed.wait(self.timeout_s) or state.subscribe_failed:
            raise BrokerAccountError(
                f"broker at {where} does not let {self.settings.username!r} read "
                f"{RESPONSE_TOPIC} (is the dynamic-security plugin loaded, is this the admin?)"
            )
        session.publish(CONTROL_TOPIC, payload)
        if not state.answered.wait(self.timeout_s) or state.lost:
            if state.lost:
                raise BrokerAccountError(
                    f"broker at {where} closed the admin connection: {state.lost}"
                )
            raise BrokerAccountError(
                f"the dynamic-security plugin at {where} did not answer in "
                f"{self.timeout_s:g} s (is it loaded? may {self.settings.username!r} "
                f"publish to {CONTROL_TOPIC}?)"
            )
        return state.responses


def _on_connect(state: _Exchange, refused: str | None) -> None:
    if refused is not None:
        state.refused = refused
    state.connected.set()


def _on_disconnect(state: _Exchange, reason: str) -> None:
    if not state.connected.is_set():
        state.refused = f"connection closed ({reason})"
        state.connected.set()
    elif not state.answered.is_set():
        state.lost = reason
        state.subscribed.set()
        state.answered.set()


def _on_subscribe(state: _Exchange, granted: bool) -> None:
    state.subscribe_failed = not granted
    state.subscribed.set()


def _on_message(state: _Exchange, payload: bytes) -> None:
    """Keep the responses to our batch; ignore other admins' and anything malformed."""
    if len(payload) > _MAX_RESPONSE:
        return
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return
    responses = body.get("responses") if isinstance(body, dict) else None
    if not isinstance(responses, list) or not responses:
        return
    if not all(isinstance(r, dict) for r in responses):
        return
    if any(r.get("correlationData") != state.correlation for r in responses):
        return
    state.responses = responses
    state.answered.set()
