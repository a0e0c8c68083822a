"""Test vectors shared by the official-side Python and the case work page (``casework/``).

``python -m authority.casework_vectors`` writes ``protocol/vectors/casework.json``, byte
for byte the same on every run (``--check`` only compares). The file holds:

- ``key_file``: a health authority key (from a fixed seed) in the encrypted PKCS#8 PEM
  ``authority/key_file.py`` writes, its passphrase, a wrong passphrase and the raw key;
  ``pem_cheap`` is the same at 1,000 PBKDF2 iterations, for tests that alter it byte by
  byte;
- ``batches``, ``owners``, ``contacts``: blobs sealed to that key for the purposes
  ``batch-credentials``, ``credential-owner`` and ``contact``, with their plaintexts;
  ``bad_blobs``: blobs that must not open (wrong purpose, version, size, key);
- ``case_openings``: a case's kept opening (``protocol.case_opening``, purpose
  ``case-opening``) and the batch and owner blobs and card ids inside;
- ``notice_tags``: notify secret, notice id and the tag (``protocol.notice``'s rule);
- ``csv``: single cells and whole exposure lists with the CSV text
  ``authority/csv_export.py`` writes.

The PEM's salt and IV and HPKE's ephemeral keys are random: those values were made once
and are kept from the existing file as long as they still open to the expected
plaintexts (delete the file to make new ones). Everything else comes from fixed seeds.
Byte strings are lowercase hex.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from authority import csv_export
from authority.pbes2 import PBKDF2_ITERATIONS, encrypt_pkcs8, pbkdf2_iterations
from protocol import authority_key, authority_seal, case_opening, contact, issuance
from protocol.encoding import decode, encode
from protocol.errors import ProtocolError
from protocol.notice import TAG_DOMAIN, notice_tag
from protocol.vectors import seed, write_or_check

PATH = Path(__file__).parent.parent / "protocol" / "vectors" / "casework.json"
FORMAT = 1
PASSPHRASE = "correct horse battery staple 한글"
CHEAP_ITERATIONS = 1_000
WRONG_PASSPHRASE = "correct horse battery staple"
TIME_ZONE = "Asia/Seoul"
# 2026-12-03 10:00 in Asia/Seoul.
T0_MS = 1796259600_000


def ha_private() -> X25519PrivateKey:
    """The test health authority key (public: for tests only)."""
    return X25519PrivateKey.from_private_bytes(seed("casework-ha"))


def _ids(name: str, count: int, size: int = 16) -> list[bytes]:
    return [seed(f"{name}-{i}")[:size] for i in range(count)]


def _old(existing: Mapping[str, Any], section: str, index: int, field: str) -> str | None:
    try:
        return existing[section][index][field]
    except (KeyError, IndexError, TypeError):
        return None


def _kept(old: str | None, opens: Callable[[bytes], bool], make: Callable[[], bytes]) -> str:
    """``old`` (hex) if it still opens as expected, else a fresh value."""
    if old is not None:
        try:
            if opens(bytes.fromhex(old)):
                return old
        except (ValueError, ProtocolError):
            pass
    return make().hex()


def _key_pem(old: str | None, key: X25519PrivateKey, iterations: int) -> str:
    """``key`` encrypted as ``key_file.py`` writes it, at ``iterations`` (``old`` if it fits)."""

    def opens(pem: bytes) -> bool:
        if pbkdf2_iterations(pem) != iterations:
            return False  # written at another cost: made anew
        loaded = serialization.load_pem_private_key(pem, password=PASSPHRASE.encode())
        return isinstance(loaded, X25519PrivateKey) and authority_key.raw_public(
            loaded
        ) == authority_key.raw_public(key)

    def make() -> bytes:
        info = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return encrypt_pkcs8(info, PASSPHRASE.encode(), iterations)

    pem_hex = _kept(old.encode("ascii").hex() if old else None, opens, make)
    return bytes.fromhex(pem_hex).decode("ascii")


def _key_file(existing: Mapping[str, Any], key: X25519PrivateKey) -> dict[str, Any]:
    old = existing.get("key_file", {})
    return {
        "pem": _key_pem(old.get("pem"), key, PBKDF2_ITERATIONS),
        # The same structure at a low cost, for tests that open hundreds of altered files.
        "pem_cheap": _key_pem(old.get("pem_cheap"), key, CHEAP_ITERATIONS),
        "passphrase": PASSPHRASE,
        "wrong_passphrase": WRONG_PASSPHRASE,
        "private_raw": seed("casework-ha").hex(),
        "public": authority_key.format_public_key(key),
    }


def _sealed(
    existing: Mapping[str, Any],
    section: str,
    plains: list[bytes],
    seal: Callable[[bytes], bytes],
    open_: Callable[[bytes], bytes],
) -> list[str]:
    return [
        _kept(_old(existing, section, i, "blob"), lambda b, p=p: open_(b) == p, lambda p=p: seal(p))
        for i, p in enumerate(plains)
    ]


def _contacts() -> list[contact.Contact]:
    notify = [seed(f"notify-{i}") for i in range(4)]
    return [
        contact.Contact("+821012345678", "ko", notify[0], "김민준"),
        contact.Contact("+821098765432", "en", notify[1], None),
        contact.Contact("+14155550123", "zh-Hant", notify[2], '=HYPERLINK("x"),"evil"'),
        contact.Contact("+821055501234", "ko", notify[3], "이 서연 <b>&amp;</b>"),
    ]


def _sealed_sections(existing: Mapping[str, Any], key: X25519PrivateKey) -> dict[str, Any]:
    public = key.public_key()
    batch_lists = [_ids("batch-a", 7, 8), _ids("batch-b", 1, 8), _ids("batch-c", 3, 8)]
    batch_blobs = _sealed(
        existing,
        "batches",
        [b"".join(ids) for ids in batch_lists],
        lambda p: issuance.seal_batch_list(public, [p[i : i + 8] for i in range(0, len(p), 8)]),
        lambda b: b"".join(issuance.open_batch_list(key, b)),
    )
    enrolments = _ids("enrolment", 3)
    owner_blobs = _sealed(
        existing,
        "owners",
        enrolments,
        lambda p: issuance.seal_owner(public, p),
        lambda b: issuance.open_owner(key, b),
    )
    people = _contacts()
    contact_blobs = _sealed(
        existing,
        "contacts",
        [c.to_bytes() for c in people],
        lambda p: contact.seal_contact(public, contact.parse_contact(p)),
        lambda b: contact.open_contact(key, b).to_bytes(),
    )
    kept = ([bytes.fromhex(b) for b in batch_blobs[:2]], [bytes.fromhex(owner_blobs[0])])
    cards = _ids("card", 2, 8)
    opening_blobs = _sealed(
        existing,
        "case_openings",
        [encode({"batches": kept[0], "owners": kept[1], "credentials": cards})],
        lambda p: case_opening.seal_case_opening(public, *_opening_lists(p)),
        lambda b: encode(vars(case_opening.open_case_opening(key, b))),
    )
    return {
        "case_openings": [
            {
                "blob": opening_blobs[0],
                "batches": batch_blobs[:2],
                "owners": owner_blobs[:1],
                "credentials": [c.hex() for c in cards],
            }
        ],
        "batches": [
            {"blob": blob, "credentials": [i.hex() for i in ids]}
            for blob, ids in zip(batch_blobs, batch_lists, strict=True)
        ],
        "owners": [
            {"blob": blob, "enrolment": e.hex()}
            for blob, e in zip(owner_blobs, enrolments, strict=True)
        ],
        "contacts": [
            {
                "blob": blob,
                "phone": c.phone,
                "lang": c.language,
                "notify": c.notify_secret.hex(),
                "name": c.name,
            }
            for blob, c in zip(contact_blobs, people, strict=True)
        ],
        "bad_blobs": _bad_blobs(owner_blobs[0], contact_blobs[0], existing, key),
    }


def _opening_lists(plain: bytes) -> tuple[list[bytes], list[bytes], list[bytes]]:
    value = decode(plain, max_size=case_opening.PADDED_SIZE, what="case opening")
    return value["batches"], value["owners"], value["credentials"]


def _bad_blobs(
    owner: str, contact_blob: str, existing: Mapping[str, Any], key: X25519PrivateKey
) -> list[dict[str, Any]]:
    owner_bytes = bytes.fromhex(owner)
    other = X25519PrivateKey.from_private_bytes(seed("casework-other-ha"))

    def opens_other(blob: bytes) -> bool:
        return issuance.open_owner(other, blob) == _ids("enrolment", 1)[0]

    foreign = _kept(
        next((b["blob"] for b in existing.get("bad_blobs", []) if b["why"] == "key"), None),
        opens_other,
        lambda: issuance.seal_owner(other.public_key(), _ids("enrolment", 1)[0]),
    )
    return [
        {"purpose": "contact", "blob": owner, "why": "size"},
        {"purpose": "credential-owner", "blob": owner_bytes[:-1].hex(), "why": "size"},
        {
            "purpose": "credential-owner",
            "blob": (b"\x02" + owner_bytes[1:]).hex(),
            "why": "version",
        },
        {"purpose": "batch-credentials", "blob": contact_blob, "why": "size"},
        {"purpose": "credential-owner", "blob": foreign, "why": "key"},
        {
            "purpose": "credential-owner",
            "blob": (owner_bytes[:40] + bytes([owner_bytes[40] ^ 1]) + owner_bytes[41:]).hex(),
            "why": "key",
        },
    ]


def _notice_tags() -> list[dict[str, str]]:
    out = []
    for i in range(4):
        notify, notice = seed(f"notify-{i}"), seed(f"notice-{i % 2}")[:16]
        out.append(
            {
                "notify": notify.hex(),
                "notice": notice.hex(),
                "tag": notice_tag(notify, notice).hex(),
            }
        )
    return out


def _csv_rows(rows: list[dict[str, Any]]) -> list[csv_export.CallRow]:
    return [
        csv_export.CallRow(
            **{k: v for k, v in r.items() if k not in ("name", "phone", "language")},
            name=r["name"] or "",
            phone=r["phone"] or "",
            language=r["language"] or "",
        )
        for r in rows
    ]


def _cell(text: str) -> str:
    """One cell as ``authority.csv_export`` writes it (the line without its CRLF)."""
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerow([csv_export.safe_cell(text)])
    line = out.getvalue().removesuffix("\r\n")
    return "" if line == '""' else line


CELLS = [
    "plain",
    "=1+2",
    "+821012345678",
    "-5",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    'say "hi"',
    "a,b",
    "line\nbreak",
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("x"),"evil"',
    "김민준",
    "카페 =서울",
    "",
    "'already",
]


def _csv() -> dict[str, Any]:
    rows: list[dict[str, Any]] = [
        {
            "venue": "cafe-seoul-01",
            "case_start_ms": T0_MS,
            "case_end_ms": T0_MS + 3_600_000,
            "start_ms": T0_MS + 600_000,
            "end_ms": T0_MS + 4_200_000,
            "overlap_s": 3000,
            "code_type": "checkin",
            "name": "김민준",
            "phone": "+821012345678",
            "language": "ko",
        },
        {
            "venue": '=venue,"x"',
            "case_start_ms": T0_MS + 1,
            "case_end_ms": T0_MS + 999,
            "start_ms": T0_MS - 86_400_000 + 1999,
            "end_ms": T0_MS,
            "overlap_s": 89,
            "code_type": "card",
            "name": "@evil\nline",
            "phone": "-1",
            "language": "en",
        },
        {
            "venue": "gym",
            "case_start_ms": T0_MS,
            "case_end_ms": T0_MS,
            "start_ms": T0_MS,
            "end_ms": T0_MS,
            "overlap_s": 30,
            "code_type": "checkin",
            "name": None,
            "phone": None,
            "language": None,
        },
    ]
    return {
        "cells": [{"in": c, "out": _cell(c)} for c in CELLS],
        "lists": [
            {"tz": zone, "rows": rows, "text": csv_export.csv_text(_csv_rows(rows), ZoneInfo(zone))}
            for zone in (TIME_ZONE, "America/New_York", "UTC")
        ],
    }


def generate(existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every vector; random parts kept from ``existing`` (the current file) if they open."""
    if existing is None:
        existing = load(PATH)
    key = ha_private()
    return {
        "format": FORMAT,
        "about": "safecode case work vectors; generated by `python -m authority.casework_vectors`",
        "constants": {
            "padded_sizes": {
                issuance.BATCH_PURPOSE: issuance.BATCH_PADDED_SIZE,
                issuance.OWNER_PURPOSE: issuance.OWNER_PADDED_SIZE,
                contact.PURPOSE: contact.PADDED_SIZE,
                case_opening.PURPOSE: case_opening.PADDED_SIZE,
            },
            "seal_version": authority_seal.VERSION,
            "notice_label": TAG_DOMAIN.decode("ascii"),
            "csv_columns": list(csv_export.COLUMNS),
        },
        "key_file": _key_file(existing, key),
        **_sealed_sections(existing, key),
        "notice_tags": _notice_tags(),
        "csv": _csv(),
    }


def load(path: Path) -> dict[str, Any]:
    """The current vector file's content, or {} if there is none or it is not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``protocol/vectors/casework.json``."""
    path = PATH
    if argv and "--path" in argv:
        path = Path(argv[argv.index("--path") + 1])
    return write_or_check(
        "authority.casework_vectors", PATH, lambda: generate(load(path)), argv, __doc__
    )


if __name__ == "__main__":
    sys.exit(main())
