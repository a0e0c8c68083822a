"""``safecode trace case``: a health official traces a case from a terminal.

It logs in to the case API with a password (``--password-file`` or asked, never on the
command line), opens the case (or, with ``--resume CASE_ID``, takes up again a case the
official opened before, in the page or here), decrypts with the health authority key file (its
passphrase from ``--passphrase-file`` or asked) in this process only, and prints the call
list by overlap, longest first; ``--csv`` writes it (formula-safe, ``authority.csv_export``)
after posting the ``export`` audit entry, ``--json`` prints it as JSON. One progress line
per step goes to standard error. ``--notify`` publishes an exposure notice whose tags
only the exposed wallets recognise (``--guidance-ko``/``--guidance-en`` its texts).
A wrong passphrase or key file: a clear error, the ``decrypt-failed`` audit entry,
nothing written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from .case_client import CaseApiError, CaseClient
from .casework import CaseResult, CaseworkError, export_audit, publish_notices, trace_case
from .csv_export import csv_text
from .key_file import AuthorityKeyError, load_authority_key

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
#: The notice's default guidance, Korean and English (``--guidance-ko``, ``--guidance-en``).
GUIDANCE = {
    "ko": "확진자와 같은 시간에 같은 장소에 있었습니다. "
    "증상을 살피고 보건소 안내에 따라 검사를 받으세요.",
    "en": "You were at the same place at the same time as a confirmed case. Watch for "
    "symptoms and get tested as your health centre advises.",
}


@click.group("trace")
def trace_group() -> None:
    """Health officials: trace a case; decryption happens here, never on the server."""


def _first_line(path: Path | None, prompt: str) -> str:
    if path is None:
        return click.prompt(prompt, hide_input=True, err=True)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    return lines[0] if lines else ""


def _day_ms(text: str, zone: ZoneInfo, name: str) -> int:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a day YYYY-MM-DD", param_hint=name) from exc
    return int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp() * 1000)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f"unknown time zone {name!r}", param_hint="--time-zone") from exc


def _day_of(ms: int, zone: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ms // 1000, tz=zone).date().isoformat()


def _check_case_options(
    phone: str | None,
    code: str | None,
    resume: str | None,
    reason: str | None,
    from_day: str | None,
    to_day: str | None,
) -> None:
    """UsageError unless the options name one new case, or one case to resume."""
    if resume is not None:
        given = [
            o
            for o, v in (
                ("--phone", phone),
                ("--code", code),
                ("--reason", reason),
                ("--from", from_day),
                ("--to", to_day),
            )
            if v is not None
        ]
        if given:
            raise click.UsageError(f"--resume takes the case as it is: drop {', '.join(given)}")
        if not re.fullmatch(r"[0-9a-f]{32}", resume):
            raise click.BadParameter("a case id is 32 lower-case hex digits", param_hint="--resume")
        return
    if (phone is None) == (code is None):
        raise click.UsageError("give exactly one of --phone, --code and --resume")
    missing = [
        o for o, v in (("--reason", reason), ("--from", from_day), ("--to", to_day)) if v is None
    ]
    if missing:
        raise click.UsageError(f"a new case needs {', '.join(missing)}")


def _progress(line: str) -> None:
    click.echo(f"trace: {line}", err=True)


def _table(result: CaseResult, zone: ZoneInfo) -> str:
    lines = []
    for row in result.call_rows():
        start = dt.datetime.fromtimestamp(row.start_ms // 1000, tz=zone).strftime("%m-%d %H:%M")
        lines.append(
            f"{row.overlap_s / 60:6.0f} min  {row.venue:<20} {start}  {row.code_type:<7} "
            f"{row.phone:<16} {row.language:<5} {row.name!r}"
        )
    return "\n".join(lines)


def _as_json(result: CaseResult) -> str:
    rows = [row.__dict__ for row in result.call_rows()]
    return json.dumps(
        {
            "case": result.case,
            "case_visits": result.case_visits,
            "calls": rows,
            "exposures": len(result.exposed),
            "unreadable": result.unreadable,
        },
        ensure_ascii=False,
        indent=1,
    )


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner may read (never over another file)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot make {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)


@trace_group.command("case")
@click.option("--server", required=True, help="The aggregator's URL (https://...).")
@click.option("--user", required=True, help="Your official's login name.")
@click.option("--password-file", type=_FILE, help="Read the password from this file's first line.")
@click.option("--key", "key_path", type=_FILE, required=True, help="The health authority key file.")
@click.option("--passphrase-file", type=_FILE, help="Read the key's passphrase from this file.")
@click.option("--phone", help="The case's phone number.")
@click.option("--code", help="The text of the wallet's 'show to a health official' code.")
@click.option(
    "--resume",
    "resume",
    metavar="CASE_ID",
    help="Take up again a case you opened before (its 32-hex-digit id): no --phone, --code, "
    "--reason, --from or --to, the case has its own.",
)
@click.option("--reason", help="Why this case is traced (written to the audit).")
@click.option("--from", "from_day", help="First day of the period, YYYY-MM-DD.")
@click.option("--to", "to_day", help="Last day of the period, YYYY-MM-DD.")
@click.option("--time-zone", default="Asia/Seoul", show_default=True, help="The site's zone.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--notify", is_flag=True, help="Publish an exposure notice to the exposed wallets.")
@click.option("--guidance-ko", default=GUIDANCE["ko"], help="The notice's Korean text.")
@click.option("--guidance-en", default=GUIDANCE["en"], help="The notice's English text.")
def case_command(
    server: str,
    user: str,
    password_file: Path | None,
    key_path: Path,
    passphrase_file: Path | None,
    phone: str | None,
    code: str | None,
    resume: str | None,
    reason: str | None,
    from_day: str | None,
    to_day: str | None,
    time_zone: str,
    csv_path: Path | None,
    as_json: bool,
    notify: bool,
    guidance_ko: str,
    guidance_en: str,
) -> None:
    """Open a case by --phone or --code, or --resume one; list exposures, print whom to call."""
    _check_case_options(phone, code, resume, reason, from_day, to_day)
    if csv_path is not None and csv_path.exists():
        raise click.ClickException(f"{csv_path} exists; it is never overwritten")
    zone = _zone(time_zone)
    start_ms = _day_ms(from_day, zone, "--from") if from_day is not None else 0
    end_ms = _day_ms(to_day, zone, "--to") + 86_400_000 if to_day is not None else 0
    passphrase = _first_line(passphrase_file, "Passphrase of the key file")
    password = _first_line(password_file, f"Password of {user}")

    def load_key() -> X25519PrivateKey:
        try:
            return load_authority_key(key_path, passphrase)
        except AuthorityKeyError as exc:
            raise CaseworkError(str(exc)) from exc

    try:
        client = CaseClient(server)
        client.login(user, password)
        _progress(f"logged in as {user}")
        try:
            result = trace_case(
                client,
                load_key,
                reason=reason or "",
                start_ms=start_ms,
                end_ms=end_ms,
                phone=phone,
                code=code,
                resume=resume,
                progress=_progress,
            )
            if csv_path is not None:
                rows = result.call_rows()
                export_audit(client, result.case, len(rows))
                _write_private(csv_path, csv_text(rows, zone))
                _progress(f"wrote {len(rows)} row(s) to {csv_path}")
            if notify:
                exposed = [e.contact for e in result.exposed if e.contact is not None]
                if exposed:
                    ids = publish_notices(
                        client,
                        result.case,
                        exposed,
                        from_day=_day_of(result.start_ms, zone),
                        to_day=_day_of(result.end_ms - 1, zone),
                        guidance={"ko": guidance_ko, "en": guidance_en},
                    )
                    _progress(f"published notice(s) {', '.join(ids)} to {len(exposed)} contact(s)")
                else:
                    _progress("no exposed contact: no notice published")
        finally:
            client.logout()
    except (CaseApiError, CaseworkError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_as_json(result) if as_json else _table(result, zone))
