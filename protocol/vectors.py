"""Test vectors shared by the Python formats and the JavaScript wallet (``wallet/``).

``python -m protocol.vectors`` writes ``protocol/vectors/wallet.json`` from fixed seeds,
byte for byte the same on every run (``--check`` only compares). The file holds:

- ``presentations``: a wallet key seed, the credential an issuer key (also from a seed)
  signed, a timestamp and a code type, and the expected signed part, signature, CBOR and
  QR text (Ed25519 is deterministic, so the JavaScript must match every byte);
- ``signed_requests``: the wallet's four request kinds (``wallet-enrol``,
  ``wallet-batch``, ``wallet-contact``, ``wallet-delete``) with their fields and the
  expected signed-map CBOR (``protocol.signed.seal``);
- ``contacts``: contact plaintexts, their CBOR and their padded form (HPKE itself is
  randomised: a blob sealed by JavaScript is checked by opening it with ``ha_key``);
- ``ha_key``: a health authority X25519 key pair, the private half for tests only;
- ``notices``: notify secrets, notice ids and the expected tags (protocol/notice.py),
  and one published notice in its JSON form, the tag of ``contacts[0]`` among its tags.

Byte strings are lowercase hex. In ``fields`` a byte string is ``{"hex": "..."}`` so the
JSON keeps text and bytes apart.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from . import authority_key, authority_seal, contact, keys, notice, signed
from .credential import issue_credential
from .encoding import encode
from .presentation import CodeType, present

PATH = Path(__file__).with_name("vectors") / "wallet.json"
FORMAT = 1
_SEED_DOMAIN = b"safecode/v1/test-vector/"
# 2026-12-03 00:00 and 2026-12-04 00:00 in Asia/Seoul (UTC+9, no daylight saving).
DAY_START = 1796223600
DAY_END = DAY_START + 86400


def seed(name: str) -> bytes:
    """A fixed 32-byte seed for ``name`` (public: these keys are for tests only)."""
    return hashlib.sha256(_SEED_DOMAIN + name.encode("ascii")).digest()


def ed25519(name: str) -> Ed25519PrivateKey:
    """The test Ed25519 key made from ``seed(name)``."""
    return Ed25519PrivateKey.from_private_bytes(seed(name))


def to_json(value: Any) -> Any:
    """``value`` with every byte string as ``{"hex": ...}`` (lists and maps walked)."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json`."""
    if isinstance(value, dict):
        if set(value) == {"hex"}:
            return bytes.fromhex(value["hex"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def _presentations() -> list[dict[str, Any]]:
    issuer = ed25519("issuer")
    out = []
    cases = [
        ("checkin", "wallet-day-1", bytes.fromhex("0123456789abcdef"), CodeType.CHECKIN, 40000),
        (
            "diagnostic",
            "wallet-day-1",
            bytes.fromhex("0123456789abcdef"),
            CodeType.DIAGNOSTIC,
            40010,
        ),
        (
            "checkin-day-2",
            "wallet-day-2",
            bytes.fromhex("fedcba9876543210"),
            CodeType.CHECKIN,
            126400,
        ),
    ]
    for name, wallet_seed, cred_id, code_type, offset in cases:
        wallet = ed25519(wallet_seed)
        day = 0 if name != "checkin-day-2" else 86400
        credential = issue_credential(
            issuer,
            keys.public_bytes(wallet),
            not_before=DAY_START + day,
            not_after=DAY_END + day,
            credential_id=cred_id,
        )
        timestamp = DAY_START + offset
        shown = present(wallet, credential, now=timestamp, code_type=code_type)
        out.append(
            {
                "name": name,
                "wallet_seed": seed(wallet_seed).hex(),
                "issuer_public": keys.public_bytes(issuer).hex(),
                "credential": to_json(credential.to_array()),
                "credential_cbor": credential.to_bytes().hex(),
                "code_type": int(code_type),
                "timestamp": timestamp,
                "signed_part": shown.signed_part().hex(),
                "signature": shown.signature.hex(),
                "cbor": shown.to_bytes().hex(),
                "text": shown.to_text(),
            }
        )
    return out


def _request(name: str, kind: str, key_seed: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    key = ed25519(key_seed)
    body = {"v": signed.VERSION, "type": kind, **fields}
    return {
        "name": name,
        "kind": kind,
        "key_seed": seed(key_seed).hex(),
        "public_key": keys.public_bytes(key).hex(),
        "fields": to_json(dict(fields)),
        "signed_part": encode(body).hex(),
        "cbor": signed.seal(kind, fields, key).hex(),
    }


def _signed_requests(contact_blob: bytes) -> list[dict[str, Any]]:
    enrolment_key = keys.public_bytes(ed25519("enrolment"))
    enrolment_id = bytes(range(16))
    ts = DAY_START + 40000
    day_keys = [keys.public_bytes(ed25519(f"wallet-day-{i}")) for i in range(1, 8)]
    return [
        _request(
            "enrol",
            "wallet-enrol",
            "enrolment",
            {
                "ts": ts,
                "nonce": bytes([0xA0] * 16),
                "key": enrolment_key,
                "phone": "+821012345678",
                "contact": contact_blob,
            },
        ),
        _request(
            "batch",
            "wallet-batch",
            "enrolment",
            {
                "ts": ts + 1,
                "nonce": bytes([0xA1] * 16),
                "enrolment": enrolment_id,
                "keys": day_keys,
            },
        ),
        _request(
            "contact",
            "wallet-contact",
            "enrolment",
            {
                "ts": ts + 2,
                "nonce": bytes([0xA2] * 16),
                "enrolment": enrolment_id,
                "phone": "+447911123456",
                "contact": contact_blob,
            },
        ),
        _request(
            "delete",
            "wallet-delete",
            "enrolment",
            {
                "ts": ts + 3,
                "nonce": bytes([0xA3] * 16),
                "enrolment": enrolment_id,
                "revoke": [
                    [bytes.fromhex("0123456789abcdef"), bytes([0x11] * 16)],
                    [bytes.fromhex("fedcba9876543210"), bytes([0x22] * 16)],
                ],
            },
        ),
        _request(
            "delete-empty",
            "wallet-delete",
            "enrolment",
            {"ts": ts + 4, "nonce": bytes([0xA4] * 16), "enrolment": enrolment_id, "revoke": []},
        ),
    ]


def _contacts() -> list[dict[str, Any]]:
    cases = [
        contact.Contact("+821012345678", "ko", seed("notify-1"), "김민준"),
        contact.Contact("+447911123456", "en", seed("notify-2")),
        contact.Contact("+12025550123", "en", seed("notify-3"), "Ann <script>alert(1)</script>"),
        contact.Contact("+821098765432", "ko", seed("notify-4"), "가" * contact.NAME_MAX_CHARS),
    ]
    out = []
    for item in cases:
        fields: dict[str, Any] = {
            "phone": item.phone,
            "lang": item.language,
            "notify": item.notify_secret.hex(),
        }
        if item.name is not None:
            fields["name"] = item.name
        plain = item.to_bytes()
        out.append(
            {
                **fields,
                "cbor": plain.hex(),
                "padded": authority_seal.pad(plain, contact.PADDED_SIZE, "contact").hex(),
            }
        )
    return out


def _notices() -> dict[str, Any]:
    tags = []
    for secret_name, id_name in [
        ("notify-1", "notice-1"),
        ("notify-1", "notice-2"),
        ("notify-2", "notice-1"),
        ("notify-3", "notice-3"),
    ]:
        notice_id = seed(id_name)[: notice.NOTICE_ID_SIZE]
        tags.append(
            {
                "notify": seed(secret_name).hex(),
                "notice": notice_id.hex(),
                "tag": notice.notice_tag(seed(secret_name), notice_id).hex(),
            }
        )
    notice_id = seed("notice-1")[: notice.NOTICE_ID_SIZE]
    padding = [hashlib.sha256(b"padding" + bytes([i])).digest()[:16] for i in range(15)]
    published = notice.check_notice(
        notice_id=notice_id,
        tags=sorted([notice.notice_tag(seed("notify-1"), notice_id), *padding]),
        from_day="2026-11-28",
        to_day="2026-11-30",
        guidance={"ko": "14일 동안 증상을 살펴 주세요.", "en": "Watch for symptoms for 14 days."},
        published_ms=DAY_START * 1000,
        max_tags=notice.MAX_PADDED_TAGS,
    )
    return {
        "domain": notice.TAG_DOMAIN.decode("ascii"),
        "tags": tags,
        "published": published.to_json(),
        "matches_notify": seed("notify-1").hex(),
        "misses_notify": seed("notify-2").hex(),
    }


def _ha_key() -> tuple[X25519PrivateKey, dict[str, Any]]:
    private = X25519PrivateKey.from_private_bytes(seed("health-authority"))
    return private, {
        "private": seed("health-authority").hex(),
        "public": authority_key.format_public_key(private),
        "public_raw": authority_key.raw_public(private).hex(),
    }


def generate() -> dict[str, Any]:
    """Every vector, from fixed seeds (the same value on every call)."""
    ha_private, ha = _ha_key()
    # A fixed blob for the requests' contact field: the sealing is randomised, so the
    # bytes are made up, of the right size and version; servers open them, not the vectors.
    blob = bytes([authority_seal.VERSION]) + seed("contact-blob") * 14
    blob = blob[: contact.BLOB_SIZE]
    assert len(blob) == contact.BLOB_SIZE
    return {
        "format": FORMAT,
        "about": "safecode wallet test vectors; generated by `python -m protocol.vectors`",
        "constants": {
            "presentation_prefix": "SC1:",
            "domain_prefix": "safecode/v1/",
            "contact_info": contact.INFO.decode("ascii"),
            "contact_padded_size": contact.PADDED_SIZE,
            "contact_blob_size": contact.BLOB_SIZE,
        },
        "ha_key": ha,
        "presentations": _presentations(),
        "signed_requests": _signed_requests(blob),
        "contacts": _contacts(),
        "notices": _notices(),
    }


def render(vectors: Mapping[str, Any]) -> str:
    """The file's text: sorted keys, two-space indent, ASCII only, a final newline."""
    return json.dumps(vectors, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def write_or_check(
    prog: str,
    default_path: Path,
    make: Callable[[], Mapping[str, Any]],
    argv: list[str] | None,
    description: str | None,
) -> int:
    """The command line of a vector file: write it, or with ``--check`` compare it."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    parser.add_argument("--path", type=Path, default=default_path, help="where the file goes")
    args = parser.parse_args(argv)
    text = render(make())
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run python -m {prog}", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text, encoding="utf-8")
    print(f"wrote {args.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``protocol/vectors/wallet.json``."""
    return write_or_check("protocol.vectors", PATH, generate, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
