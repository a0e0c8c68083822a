"""The demo's visitors with phones: a health authority key, enrolment through the real
wallet API, and the check that only the health authority can read who they are.

The demo's health authority key is made in the demo's folder under a random passphrase
that lives only in this process; a real authority makes its key with ``safecode
authority keygen`` on its own machine and gives the aggregator the public half.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.db import open_database
from aggregator.issuer.tables import EnrolmentEntry, IssuedCredentialEntry
from authority.key_file import load_authority_key, public_file, write_authority_key
from protocol.contact import open_contact
from protocol.errors import ProtocolError
from protocol.issuance import open_owner
from provisioning.site import Site

from .visitors import load_crowd, save_crowd
from .wallet_client import EnrolledPhone, WalletApiError, enrol_phone

Echo = Callable[..., None]


def make_authority(folder: Path) -> tuple[X25519PrivateKey, str]:
    """A demo health authority key (passphrase-encrypted on disk) and its public text."""
    passphrase = secrets.token_urlsafe(24)
    path = folder / "authority.key"
    write_authority_key(X25519PrivateKey.generate(), path, passphrase)
    key = load_authority_key(path, passphrase)  # the round trip an official's machine does
    return key, public_file(path).read_text(encoding="ascii").strip()


def enrol_phones(site: Site, count: int, echo: Echo) -> list[EnrolledPhone]:
    """``count`` phones enrol over HTTP and join the crowd with today's credential."""
    base_url = f"http://127.0.0.1:{site.http_port}"
    phones = []
    for number in range(count):
        try:
            phones.append(enrol_phone(base_url, f"+8210{5550000 + number:08d}"))
        except WalletApiError as exc:
            echo(f"wallet: enrolment failed: {exc}", err=True)
            break
    if phones:
        crowd = load_crowd(site.crowd_file)
        save_crowd(site.crowd_file, crowd + [phone.days[0] for phone in phones])
        echo(
            f"wallet: {len(phones)} phone(s) enrolled through {base_url}/v1/wallet, "
            f"{len(phones[0].days)} day credentials each; today's joined the crowd"
        )
    return phones


def authority_reads(site: Site, key: X25519PrivateKey, phones: list[EnrolledPhone]) -> bool:
    """True if the HA key opens every stored contact and finds each credential's owner.

    The aggregator's database holds these only sealed to the HA key: this is what a
    health official's side does during a trace, never an aggregator process.
    """
    if not phones:
        return False
    db = open_database(site.database_url)
    try:
        for phone in phones:
            entry = EnrolmentEntry.get_or_none(EnrolmentEntry.enrolment_id == phone.enrolment)
            if entry is None:
                return False
            open_contact(key, bytes(entry.contact))
            today = phone.days[0].credential.credential_id
            issued = IssuedCredentialEntry.get_or_none(IssuedCredentialEntry.credential_id == today)
            if issued is None or open_owner(key, bytes(issued.sealed_owner)) != phone.enrolment:
                return False
    except ProtocolError:
        return False
    finally:
        db.close()
    return True
