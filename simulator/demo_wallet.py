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
from typing import TypeVar

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
#: The first two phones come often (the demo's case and one of its contacts): each is in
#: the crowd this many more times, so a short demo has a case with visits to trace.
REGULAR_VISITS = 15

T = TypeVar("T")


def with_regulars(crowd: list[T], regulars: list[T], kiosks: int, visits: int) -> list[T]:
    """``crowd`` followed by ``visits`` more copies of each regular, each at one door.

    Kiosk ``k`` reads the crowd's items ``k, k + kiosks, ...`` (its ``visitor_share``).
    A regular's copies all sit in one kiosk's share (regular ``r`` at kiosk ``r mod
    kiosks``): one phone at two doors in the same second would show the same code twice,
    which the aggregator rightly refuses as replayed. A place left over in a kiosk's
    share repeats one of that kiosk's own crowd.

    Example (two kiosks, regulars ``a`` and ``b``, one visit each)::

        >>> with_regulars(["x", "y"], ["a", "b"], kiosks=2, visits=1)
        ['x', 'y', 'a', 'b']
    """
    if kiosks < 1 or len(crowd) < kiosks:
        raise ValueError("with_regulars: every kiosk needs a visitor of its own")
    homes: dict[int, list[T]] = {}
    for index, regular in enumerate(regulars):
        homes.setdefault(index % kiosks, []).append(regular)
    # Each kiosk's copies, its regulars taking turns, ``visits`` of each.
    due = {home: group * visits for home, group in homes.items()}
    rounds = max((len(copies) for copies in due.values()), default=0)
    out = list(crowd)
    start = len(crowd) % kiosks  # kiosk ``home`` reads place len(crowd) + turn*kiosks + k
    for turn in range(rounds):
        for offset in range(kiosks):
            home = (start + offset) % kiosks
            copies = due.get(home, [])
            own = crowd[home::kiosks]
            out.append(copies[turn] if turn < len(copies) else own[turn % len(own)])
    return out


def make_authority(folder: Path) -> tuple[X25519PrivateKey, str]:
    """A demo health authority key (passphrase-encrypted on disk) and its public text."""
    passphrase = secrets.token_urlsafe(24)
    path = folder / "authority.key"
    write_authority_key(X25519PrivateKey.generate(), path, passphrase)
    key = load_authority_key(path, passphrase)  # the round trip an official's machine does
    return key, public_file(path).read_text(encoding="ascii").strip()


def phone_number(index: int) -> str:
    """The demo's ``index``-th phone number (E.164, a Korean mobile number)."""
    return f"+8210{5550000 + index:08d}"


def enrol_phones(site: Site, count: int, echo: Echo) -> list[EnrolledPhone]:
    """``count`` phones enrol over HTTP and join the crowd with today's credential."""
    base_url = f"http://127.0.0.1:{site.http_port}"
    phones = []
    for number in range(count):
        try:
            phones.append(enrol_phone(base_url, phone_number(number)))
        except WalletApiError as exc:
            echo(f"wallet: enrolment failed: {exc}", err=True)
            break
    if phones:
        crowd = load_crowd(site.crowd_file) + [phone.days[0] for phone in phones]
        regulars = [phone.days[0] for phone in phones[:2]]
        kiosks = len(site.kiosk_configs)
        save_crowd(site.crowd_file, with_regulars(crowd, regulars, kiosks, REGULAR_VISITS))
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
