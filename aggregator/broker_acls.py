"""Who may touch which topic on a Mosquitto broker with the dynamic-security plugin.

Mosquitto 2.0's dynamic-security plugin does not substitute ``%u`` or ``%c`` in ACL
topics (measured on 2.0.11: an ACL ``safecode/v1/kiosk/%u/checkin`` lets nobody
publish), so every kiosk gets its own role, ``kiosk_<kiosk-id>``, with literal topics:

- publish (``publishClientSend``): its own ``checkin`` and ``status`` (the last will too);
- subscribe (``subscribeLiteral``, the exact filter only, no wildcards) and receive
  (``publishClientReceive``): its own ``receipt`` and ``config``.

The aggregator's role subscribes to every kiosk's ``checkin`` and ``status``, plainly
or through ``$share/<group>/...`` (the plugin checks the whole filter, share prefix
included), and publishes every kiosk's ``receipt`` and ``config``. The admin role may
only talk to the plugin's ``$CONTROL/dynamic-security/#`` topics.

Usernames: a kiosk's is its kiosk id (lowercase letters, digits, hyphens); the admin's
and aggregator's contain an underscore, so no kiosk id can ever name them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from protocol import topics
from protocol.ids import check_kiosk_id

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ADMIN_USER = "safecode_admin"
AGGREGATOR_USER = "safecode_aggregator"
ADMIN_ROLE = "safecode_admin"
AGGREGATOR_ROLE = "safecode_aggregator"
KIOSK_ROLE_PREFIX = "kiosk_"
#: Mosquitto's own iteration count for dynsec passwords (PBKDF2-SHA512). Every password
#: made here is 256 random bits, so stretching would add nothing.
PBKDF2_ITERATIONS = 101

Acl = dict[str, Any]


def new_password() -> str:
    """A fresh random broker password (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def kiosk_role(kiosk_id: str) -> str:
    """The role name of one kiosk (refuses a malformed kiosk id)."""
    return KIOSK_ROLE_PREFIX + check_kiosk_id(kiosk_id)


def _acl(acltype: str, topic: str) -> Acl:
    return {"acltype": acltype, "topic": topic, "allow": True}


def kiosk_acls(kiosk_id: str) -> list[Acl]:
    """A kiosk publishes its check-ins and status and reads its receipts and config."""
    own = {leaf: topics.topic(kiosk_id, leaf) for leaf in topics.LEAVES}
    return [
        _acl("publishClientSend", own[topics.CHECKIN]),
        _acl("publishClientSend", own[topics.STATUS]),
        _acl("subscribeLiteral", own[topics.RECEIPT]),
        _acl("subscribeLiteral", own[topics.CONFIG]),
        _acl("publishClientReceive", own[topics.RECEIPT]),
        _acl("publishClientReceive", own[topics.CONFIG]),
        _acl("unsubscribePattern", f"{topics.PREFIX}/{kiosk_id}/#"),
    ]


def aggregator_acls() -> list[Acl]:
    """Every kiosk's check-ins and status in (shared subscriptions too); answers out."""
    every = {leaf: f"{topics.PREFIX}/+/{leaf}" for leaf in topics.LEAVES}
    acls: list[Acl] = []
    for leaf in (topics.CHECKIN, topics.STATUS):
        acls += [
            _acl("subscribePattern", every[leaf]),
            _acl("subscribePattern", f"$share/+/{every[leaf]}"),
            _acl("publishClientReceive", every[leaf]),
        ]
    acls += [
        _acl("publishClientSend", every[topics.RECEIPT]),
        _acl("publishClientSend", every[topics.CONFIG]),
        _acl("unsubscribePattern", "#"),
    ]
    return acls


def admin_acls() -> list[Acl]:
    """Only the plugin's control topics."""
    control = "$CONTROL/dynamic-security/#"
    return [
        _acl("publishClientSend", control),
        _acl("publishClientReceive", control),
        _acl("subscribePattern", control),
        _acl("unsubscribePattern", control),
    ]


def hashed_password(password: str, salt: bytes | None = None) -> dict[str, Any]:
    """The plugin's stored form of a password: PBKDF2-SHA512 over a 12-byte salt, base64."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ITERATIONS)
    return {
        "password": base64.b64encode(digest).decode("ascii"),
        "salt": base64.b64encode(salt).decode("ascii"),
        "iterations": PBKDF2_ITERATIONS,
    }


def _client(username: str, password: str, role: str, text: str) -> dict[str, Any]:
    return {
        "username": username,
        "textName": text,
        **hashed_password(password),
        "roles": [{"rolename": role}],
    }


def dynsec_document(admin_password: str, aggregator_password: str) -> dict[str, Any]:
    """A starting ``dynamic-security.json``: the admin and aggregator accounts, no kiosks.

    Everything not granted is refused, receiving included (the plugin's own default
    lets any client receive whatever it managed to subscribe to).
    """
    return {
        "clients": [
            _client(ADMIN_USER, admin_password, ADMIN_ROLE, "safecode broker admin"),
            _client(AGGREGATOR_USER, aggregator_password, AGGREGATOR_ROLE, "safecode aggregator"),
        ],
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": admin_acls()},
            {"rolename": AGGREGATOR_ROLE, "acls": aggregator_acls()},
        ],
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


def kiosk_client(kiosk_id: str, password: str, *, pin_client_id: bool = True) -> dict[str, Any]:
    """A kiosk's account as the plugin stores it: what ``DynsecAccounts.ensure_kiosk`` makes.

    Its own role (:func:`kiosk_role`), and with ``pin_client_id`` only client id = kiosk id.
    """
    role = kiosk_role(kiosk_id)
    entry = _client(kiosk_id, password, role, f"safecode kiosk {kiosk_id}")
    if pin_client_id:
        entry["clientid"] = kiosk_id
    return entry


def with_kiosks(
    document: dict[str, Any], passwords: Mapping[str, str], *, pin_client_id: bool = True
) -> dict[str, Any]:
    """``document`` (a ``dynamic-security.json``) plus one account and role per kiosk.

    The bulk way, for a broker that is not running yet (a new region, a benchmark's
    fleet): Mosquitto 2.0.11's plugin rewrites its whole file after every control
    command, so making accounts one by one through ``$CONTROL`` grows quadratically
    (measured: 2,000 kiosks took 82 s, the last 500 of them 27 s); this writes 50,000
    in seconds. Kiosks already in ``document`` are refused (ValueError).
    """
    taken = {client["username"] for client in document["clients"]}
    clash = sorted(taken & set(passwords))
    if clash:
        raise ValueError(f"kiosk {clash[0]!r} already has an account in this document")
    clients = [kiosk_client(k, pw, pin_client_id=pin_client_id) for k, pw in passwords.items()]
    roles = [{"rolename": kiosk_role(k), "acls": kiosk_acls(k)} for k in passwords]
    return {
        **document,
        "clients": [*document["clients"], *clients],
        "roles": [*document["roles"], *roles],
    }
