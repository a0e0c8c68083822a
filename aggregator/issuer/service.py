"""The wallet issuer: enrol, issue a day's batch, rotate the contact, delete.

``WalletIssuer.handle(kind, body)`` takes a request's bytes (``protocol.issuance``) and
returns ``(status, CBOR answer)`` or raises ``IssuanceRefused``. It checks, in order:
the shape, the freshness of ``ts``, the enrolment (404 for unknown and deleted ones),
the signature, the request's own limits; then writes everything in one transaction
that also records the nonce, so a replay or a refusal leaves nothing half-written.

Slow work (signing credentials, sealing to the health authority) is done before the
transaction, so the transaction stays short. Limits: one batch per enrolment per local
day (in the database, so every worker agrees), enrolments per minute for the whole
site and per phone tag (also in the database); per client address in
``aggregator.issuer.limits`` (in memory, per process; the web layer applies it).
Successes are counted (``wallet_enrolled``, ``wallet_batches``, ``wallet_credentials``,
``wallet_contacts``, ``wallet_deleted``, ``wallet_revoked``) once their transaction
has committed, in ``counts`` (``aggregator.issuer.counting``).

Deleting an enrolment revokes the credentials whose revoke tokens the wallet sends
(``aggregator.revocations.revoke``: kiosks get the list with their next config); the
issuer cannot find them otherwise, by design.

Privacy: the phone number is normalised and turned into its keyed tag, then dropped;
it is never stored, logged or put in an error message. A credential's owner and a
batch's credential list are stored only sealed to the health authority.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import issuance
from protocol.credential import issue_credential
from protocol.errors import OversizeError, ProtocolError, SignatureError
from protocol.issuance import WalletRequest

from ..models_base import concrete_database
from ..phone_numbers import PhoneNumberError, normalise_phone
from ..phone_tag import phone_tag
from ..revocations import revoke
from .counting import PendingCounts
from .refusals import IssuanceRefused
from .settings import IssuerSettings
from .tables import BatchEntry, EnrolmentEntry, IssuedCredentialEntry, NonceEntry

#: Seen nonces are pruned at most this often per process.
PRUNE_EVERY_S = 10.0
ENROL_WINDOW_S = 60


def _refusal_for(exc: ProtocolError) -> IssuanceRefused:
    """The HTTP refusal for a request that does not parse."""
    if isinstance(exc, OversizeError):
        return IssuanceRefused(413, "oversized", str(exc))
    # StaleError ("stale"), BlobSizeError ("wrong_blob_size"), malformed, truncated...
    return IssuanceRefused(400, exc.reason, str(exc))


@dataclass
class WalletIssuer:
    """Answers the four wallet requests for one site (its settings and issuer key)."""

    settings: IssuerSettings
    signing_key: Ed25519PrivateKey
    clock: Callable[[], float] = time.time
    counts: PendingCounts = field(default_factory=PendingCounts)
    _pruned_at: float = field(default=float("-inf"), init=False, repr=False)
    _prune_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def handle(self, kind: str, body: bytes) -> tuple[int, bytes]:
        """Answer a request of ``kind``: ``(status, answer)``, or raise IssuanceRefused."""
        now = self.clock()
        try:
            request = issuance.parse_request(body, kind)
            request.check_fresh(now)
        except ProtocolError as exc:
            raise _refusal_for(exc) from exc
        if kind == issuance.ENROL:
            return self._enrol(request, now)
        entry = self._enrolment(request.enrolment)
        _verify(request, bytes(entry.public_key))
        if kind == issuance.BATCH:
            return self._batch(request, now)
        if kind == issuance.CONTACT:
            return self._contact(request, now)
        return self._delete(request, now)

    # --- the four requests ------------------------------------------------------------

    def _enrol(self, request: WalletRequest, now: float) -> tuple[int, bytes]:
        _verify(request, request.fields["key"])
        tag = self._tag(request.fields["phone"])
        enrolment_id = os.urandom(issuance.ENROLMENT_ID_SIZE)
        with _database().atomic():
            self._remember_nonce(request, now)
            self._check_enrol_rate(now)
            key = request.fields["key"]
            if EnrolmentEntry.select().where(EnrolmentEntry.public_key == key).exists():
                raise _already_enrolled()
            self._check_phone_cap(tag, None)
            try:  # the same key enrolling twice at once (PostgreSQL): the unique key decides
                EnrolmentEntry.insert(
                    enrolment_id=enrolment_id,
                    public_key=key,
                    contact=request.fields["contact"],
                    phone_tag=tag,
                    created_s=int(now),
                ).execute()
            except peewee.IntegrityError as exc:
                raise _already_enrolled() from exc
        self.counts.add({"wallet_enrolled": 1})
        return 201, issuance.enrol_answer(enrolment_id)

    def _batch(self, request: WalletRequest, now: float) -> tuple[int, bytes]:
        wallet_keys: list[bytes] = request.fields["keys"]
        if len(wallet_keys) > self.settings.days_ahead:
            raise IssuanceRefused(
                400,
                "too_many_keys",
                f"this site issues at most {self.settings.days_ahead} days ahead",
            )
        zone = self.settings.time_zone
        today = issuance.local_day(now, zone)
        enrolment_id = request.enrolment
        if _batch_exists(enrolment_id, today.isoformat()):
            raise self._batch_limit(now)
        answer, rows, sealed_list = self._issue(enrolment_id, wallet_keys, today)
        with _database().atomic():
            self._remember_nonce(request, now)
            _lock_enrolment(enrolment_id)
            try:  # a refusal raised here rolls the whole transaction back
                BatchEntry.insert(
                    enrolment_id=enrolment_id,
                    day=today.isoformat(),
                    sealed_credentials=sealed_list,
                ).execute()
            except peewee.IntegrityError as exc:
                raise self._batch_limit(now) from exc
            IssuedCredentialEntry.insert_many(rows).execute()
        self.counts.add({"wallet_batches": 1, "wallet_credentials": len(rows)})
        return 200, answer.to_bytes()

    def _contact(self, request: WalletRequest, now: float) -> tuple[int, bytes]:
        tag = self._tag(request.fields["phone"])
        with _database().atomic():
            self._remember_nonce(request, now)
            _lock_enrolment(request.enrolment)
            self._check_phone_cap(tag, request.enrolment)
            EnrolmentEntry.update(contact=request.fields["contact"], phone_tag=tag).where(
                EnrolmentEntry.enrolment_id == request.enrolment
            ).execute()
        self.counts.add({"wallet_contacts": 1})
        return 200, issuance.contact_answer()

    def _delete(self, request: WalletRequest, now: float) -> tuple[int, bytes]:
        pairs: list[tuple[bytes, bytes]] = request.fields["revoke"]
        with _database().atomic():
            self._remember_nonce(request, now)
            _lock_enrolment(request.enrolment)
            matched = _matching_credentials(pairs)
            revoke(matched, now_ms=int(now * 1000))
            BatchEntry.delete().where(BatchEntry.enrolment_id == request.enrolment).execute()
            EnrolmentEntry.delete().where(
                EnrolmentEntry.enrolment_id == request.enrolment
            ).execute()
        self.counts.add({"wallet_deleted": 1, "wallet_revoked": len(matched)})
        return 200, issuance.delete_answer(len(matched))

    # --- parts ------------------------------------------------------------------------

    def _issue(
        self, enrolment_id: bytes, wallet_keys: list[bytes], today: datetime.date
    ) -> tuple[issuance.BatchAnswer, list[dict[str, object]], bytes]:
        """Sign one credential per day and seal what only the health authority may read."""
        zone = self.settings.time_zone
        authority = self.settings.authority_key
        credentials, tokens, days, rows = [], [], [], []
        for offset, wallet_key in enumerate(wallet_keys):
            day = today + datetime.timedelta(days=offset)
            not_before, not_after = issuance.day_bounds(day, zone)
            credential = issue_credential(
                self.signing_key, wallet_key, not_before=not_before, not_after=not_after
            )
            token = os.urandom(issuance.REVOKE_TOKEN_SIZE)
            credentials.append(credential)
            tokens.append(token)
            days.append(day.isoformat())
            rows.append(
                {
                    "credential_id": credential.credential_id,
                    "sealed_owner": issuance.seal_owner(authority, enrolment_id),
                    "revoke_hash": hashlib.sha256(token).digest(),
                    "not_after": not_after,
                }
            )
        sealed_list = issuance.seal_batch_list(authority, [c.credential_id for c in credentials])
        answer = issuance.BatchAnswer(tuple(credentials), tuple(tokens), tuple(days), zone.key)
        return answer, rows, sealed_list

    def _tag(self, phone: str) -> bytes:
        """The keyed tag of the request's phone number (normalised; junk refused)."""
        try:
            e164 = normalise_phone(phone)
        except PhoneNumberError as exc:
            raise IssuanceRefused(400, exc.reason, str(exc)) from None
        return phone_tag(self.settings.pepper, e164)

    def _check_enrol_rate(self, now: float) -> None:
        since = int(now) - ENROL_WINDOW_S
        recent = EnrolmentEntry.select().where(EnrolmentEntry.created_s > since).count()
        if recent >= self.settings.enrolments_per_minute:
            raise IssuanceRefused(
                429,
                "enrol_limit",
                "too many enrolments on this site in the last minute: try again shortly",
                retry_after=ENROL_WINDOW_S,
            )

    def _check_phone_cap(self, tag: bytes, except_enrolment: bytes | None) -> None:
        query = EnrolmentEntry.select().where(EnrolmentEntry.phone_tag == tag)
        if except_enrolment is not None:
            query = query.where(EnrolmentEntry.enrolment_id != except_enrolment)
        if query.count() >= self.settings.enrolments_per_phone:
            raise IssuanceRefused(
                429,
                "phone_limit",
                f"this phone number already has {self.settings.enrolments_per_phone} "
                "enrolments: delete one on an old device first",
            )

    def _batch_limit(self, now: float) -> IssuanceRefused:
        return IssuanceRefused(
            429,
            "batch_limit",
            "this enrolment already had today's batch: ask again after local midnight",
            retry_after=issuance.seconds_to_next_day(now, self.settings.time_zone),
        )

    def _enrolment(self, enrolment_id: bytes) -> EnrolmentEntry:
        entry = EnrolmentEntry.get_or_none(EnrolmentEntry.enrolment_id == enrolment_id)
        if entry is None:
            raise _unknown()
        return entry

    def _remember_nonce(self, request: WalletRequest, now: float) -> None:
        """Record the request's nonce (the transaction's first write), or refuse a replay."""
        with self._prune_lock:
            prune = now - self._pruned_at >= PRUNE_EVERY_S
            if prune:
                self._pruned_at = now
        if prune:
            NonceEntry.delete().where(NonceEntry.expires_s < int(now)).execute()
        try:  # the refusal raised here rolls the whole transaction back
            NonceEntry.insert(
                nonce=request.nonce, expires_s=request.ts + issuance.FRESHNESS_S + 1
            ).execute()
        except peewee.IntegrityError as exc:
            raise IssuanceRefused(409, "replayed", "this request was already received") from exc


def _verify(request: WalletRequest, public_key: bytes) -> None:
    try:
        request.verify(public_key)
    except SignatureError as exc:
        raise IssuanceRefused(401, "bad_signature", str(exc)) from exc


def _already_enrolled() -> IssuanceRefused:
    return IssuanceRefused(409, "already_enrolled", "this enrolment key is already enrolled")


def _unknown() -> IssuanceRefused:
    return IssuanceRefused(404, "unknown_enrolment", "no such enrolment (or it was deleted)")


def _database() -> peewee.Database:
    return EnrolmentEntry._meta.database


def _lock_enrolment(enrolment_id: bytes) -> None:
    """Inside a transaction: 404 unless the enrolment still exists; on PostgreSQL, lock it."""
    query = EnrolmentEntry.select(EnrolmentEntry.enrolment_id).where(
        EnrolmentEntry.enrolment_id == enrolment_id
    )
    target = concrete_database(_database())
    if isinstance(target, peewee.PostgresqlDatabase):
        query = query.for_update()
    if query.first() is None:
        raise _unknown()


def _batch_exists(enrolment_id: bytes, day: str) -> bool:
    return (
        BatchEntry.select()
        .where((BatchEntry.enrolment_id == enrolment_id) & (BatchEntry.day == day))
        .exists()
    )


def _matching_credentials(pairs: list[tuple[bytes, bytes]]) -> list[bytes]:
    """The credential ids among ``pairs`` whose revoke token matches the stored hash."""
    if not pairs:
        return []
    wanted = {cid: hashlib.sha256(token).digest() for cid, token in pairs}
    rows = IssuedCredentialEntry.select(
        IssuedCredentialEntry.credential_id, IssuedCredentialEntry.revoke_hash
    ).where(IssuedCredentialEntry.credential_id.in_(list(wanted)))
    return sorted(
        bytes(row.credential_id)
        for row in rows
        if hmac.compare_digest(bytes(row.revoke_hash), wanted[bytes(row.credential_id)])
    )
