"""The issuer's tables: enrolments, issued day credentials, batches and seen nonces.

What is stored, and what is never stored in the clear:

- ``wallet_enrolment``: the enrolment id, its public key, the contact blob (HPKE to the
  health authority), the phone number's keyed tag (``aggregator.phone_tag``) and when it
  was made. Never the phone number.
- ``wallet_credential``: a credential id, the enrolment id *sealed to the health
  authority* (``credential-owner``), SHA-256 of its revoke token and its end. Nothing
  here names the enrolment in the clear.
- ``wallet_batch``: the enrolment id, the local day it was issued, and the list of the
  batch's credential ids sealed to the health authority (``batch-credentials``).
- ``wallet_nonce``: nonces seen, until the requests carrying them are stale anyway.

On SQLite the credential and batch tables are ``WITHOUT ROWID``: rows are kept in key
order (random ids), so no insertion-order row number lines a batch up with its
credentials.
"""

from __future__ import annotations

import peewee

from ..models_base import BaseModel, BlobField, concrete_database


class KeyOrderedModel(BaseModel):
    """A table stored in key order: ``WITHOUT ROWID`` on SQLite (PostgreSQL has no such
    clause; its tables have no row numbers a query can read besides system columns)."""

    @classmethod
    def create_table(cls, safe: bool = True, **options: object) -> None:
        target = concrete_database(cls._meta.database)
        saved = cls._meta.without_rowid
        cls._meta.without_rowid = isinstance(target, peewee.SqliteDatabase)
        try:
            super().create_table(safe=safe, **options)
        finally:
            cls._meta.without_rowid = saved


class EnrolmentEntry(KeyOrderedModel):
    """One wallet's enrolment."""

    enrolment_id = BlobField(primary_key=True)
    public_key = BlobField(unique=True)
    contact = BlobField()
    phone_tag = BlobField(index=True)
    created_s = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "wallet_enrolment"


class IssuedCredentialEntry(KeyOrderedModel):
    """A day credential the issuer signed; its owner only sealed to the health authority."""

    credential_id = BlobField(primary_key=True)
    sealed_owner = BlobField()
    revoke_hash = BlobField()
    not_after = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "wallet_credential"


class BatchEntry(KeyOrderedModel):
    """One batch: which enrolment, which local day, and its credential ids sealed."""

    enrolment_id = BlobField()
    day = peewee.CharField(max_length=10)
    sealed_credentials = BlobField()

    class Meta:
        table_name = "wallet_batch"
        primary_key = peewee.CompositeKey("enrolment_id", "day")


class NonceEntry(KeyOrderedModel):
    """A request nonce seen, kept until ``expires_s`` (after which its request is stale)."""

    nonce = BlobField(primary_key=True)
    expires_s = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "wallet_nonce"


WALLET_MODELS: tuple[type[BaseModel], ...] = (
    EnrolmentEntry,
    IssuedCredentialEntry,
    BatchEntry,
    NonceEntry,
)
