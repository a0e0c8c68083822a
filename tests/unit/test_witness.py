"""Witnesses over real HTTP: cosign, get collected, and refuse a forked ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask

from aggregator.db import database_proxy, open_database
from aggregator.web import create_app
from auditor.cli import ledger_group
from auditor.log_client import LogClient, LogUnavailable
from auditor.witness import STATE_FILE, StateError, StateStore
from protocol.cosignature import CosignatureVerifier, Cosigner, open_cosigned
from protocol.note import NoteVerifier
from tests.unit.ledger_builder import LEDGER, ORIGIN, VKEY, LedgerBuilder, serving
from tests.unit.wire_checks import seeded

CLI = click.Group(commands={"ledger": ledger_group})


def ledger(*args: str) -> Result:
    return CliRunner().invoke(CLI, ["ledger", *args])


def keygen(folder: Path, name: str) -> tuple[Path, str]:
    key = folder / f"{name.replace('/', '_')}.key"
    made = ledger("witness-keygen", "--name", name, "--key", str(key))
    assert made.exit_code == 0, made.output
    return key, made.stdout.strip()


def witness_once(url: str, key: Path, state: Path) -> Result:
    return ledger(
        "witness", "--url", url, "--vkey", VKEY, "--key", str(key), "--state", str(state), "--once"
    )


def app_for(url: str, witnesses: list[str]) -> Flask:
    return create_app({"DATABASE_URL": url, "TESTING": True, "WITNESSES": witnesses})


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    if database_proxy.obj is not None and not database_proxy.is_closed():
        database_proxy.close()


def test_keygen_writes_a_private_key_once(site: Path) -> None:
    key, vkey = keygen(site, "witness.example/w1")
    assert key.stat().st_mode & 0o777 == 0o600
    assert Cosigner.from_string(key.read_text()).verifier() == CosignatureVerifier.from_string(vkey)
    again = ledger("witness-keygen", "--name", "witness.example/w1", "--key", str(key))
    assert again.exit_code != 0 and "not overwriting" in again.output
    bad = ledger("witness-keygen", "--name", "has space", "--key", str(site / "x.key"))
    assert bad.exit_code != 0


def test_witnesses_cosign_and_the_log_serves_a_quorum(site: Path) -> None:
    url_a = f"sqlite:///{site}/a.sqlite"
    open_database(url_a)
    builder = LedgerBuilder()
    builder.block(3)
    k1, v1 = keygen(site, "witness.example/w1")
    k2, v2 = keygen(site, "witness.example/w2")
    k3, v3 = keygen(site, "witness.example/w3")  # not configured at the log
    app = app_for(url_a, [v1, v2])
    with serving(app) as base:
        client = LogClient(base)
        with pytest.raises(LogUnavailable) as missing:
            client.text("/v1/checkpoint/cosigned")
        assert missing.value.status == 404
        first = witness_once(base, k1, site / "w1")
        assert first.exit_code == 0, first.output
        assert "cosigned: tree size 3" in first.output
        assert "up_to_date: tree size 3" in witness_once(base, k1, site / "w1").output
        stranger = witness_once(base, k3, site / "w3")
        assert stranger.exit_code == 2 and "HTTP 403" in stranger.output
        assert not json.loads((site / "w3" / STATE_FILE).read_text())["posted"]
        builder.block(2)
        assert "cosigned: tree size 5" in witness_once(base, k1, site / "w1").output
        assert witness_once(base, k2, site / "w2").exit_code == 0
        note = client.text("/v1/checkpoint/cosigned?min=2")
        witnesses = [CosignatureVerifier.from_string(v) for v in (v1, v2, v3)]
        log = NoteVerifier.from_string(VKEY)
        opened = open_cosigned(note, log, witnesses, quorum=2)
        assert opened.checkpoint.size == 5
        assert set(opened.witnesses) == {"witness.example/w1", "witness.example/w2"}
        (site / "note").write_text(note)
        ok = ledger(
            "verify-note", "--vkey", VKEY, "--witness", v1, "--witness", v2, str(site / "note")
        )
        assert ok.exit_code == 0, ok.output
        assert "cosigned by 2 of 2" in ok.output
        short = ledger(
            "verify-note", "--vkey", VKEY, "--witness", v1, "--witness", v3, str(site / "note")
        )
        assert short.exit_code == 1 and "quorum is 2" in short.output
        one = ledger(
            "verify-note",
            "--vkey",
            VKEY,
            "--witness",
            v1,
            "--witness",
            v3,
            "--quorum",
            "1",
            str(site / "note"),
        )
        assert one.exit_code == 0, one.output
        # The log refuses cosignatures that are not for its own checkpoints.
        forged = Cosigner.from_string(k1.read_text())
        other = "ledger.example/api\n5\n" + "A" * 43 + "=\n"
        line = forged.cosign(other, 1)
        body = other + "\n" + line.line()
        with pytest.raises(LogUnavailable) as refused:
            client.post_text("/v1/checkpoint/cosignature", body)
        assert refused.value.status in (400, 409)
        for junk in ("", "hello\n\n", "\u2014 x y\n", "x" * 70000):
            with pytest.raises(LogUnavailable) as bad:
                client.post_text("/v1/checkpoint/cosignature", junk)
            assert bad.value.status in (400, 413)


def test_a_witness_refuses_a_forked_ledger(site: Path) -> None:
    url_a, url_b = f"sqlite:///{site}/a.sqlite", f"sqlite:///{site}/b.sqlite"
    db_a = open_database(url_a)
    honest = LedgerBuilder()
    honest.block(3)
    db_a.execute_sql(f"VACUUM INTO '{site}/b.sqlite'")  # B shares A's first block
    key, vkey = keygen(site, "witness.example/w1")
    state = site / "state"

    with serving(app_for(url_a, [vkey])) as base:
        assert "cosigned: tree size 3" in witness_once(base, key, state).output
        honest.block(1, "kiosk-b")
        assert "cosigned: tree size 4" in witness_once(base, key, state).output
    signed = json.loads((state / STATE_FILE).read_text())

    app_b = app_for(url_b, [vkey])  # now the same origin, signed by the same key, forks
    open_database(url_b)  # the builder below writes to B (an app binds only its requests)
    forker = LedgerBuilder(("kiosk-a", "kiosk-b", "kiosk-f"), tag="fork")
    forker.block(1, "kiosk-f")
    with serving(app_b) as base:
        same_size = witness_once(base, key, state)
        assert same_size.exit_code == 1
        assert "REFUSED: FORK: tree size 4 now has root" in same_size.output
        forker.block(1, "kiosk-f")
        grown = witness_once(base, key, state)
        assert grown.exit_code == 1
        assert "REFUSED: FORK: no valid consistency proof from tree size 4" in grown.output
        # Nothing was signed or changed; B holds no cosignature of its forked checkpoints.
        assert json.loads((state / STATE_FILE).read_text()) == signed
        with pytest.raises(LogUnavailable):
            LogClient(base).text("/v1/checkpoint/cosigned")
        # A witness that never saw A accepts B (trust on first use), then follows it.
        fresh = witness_once(base, key, site / "fresh")
        assert fresh.exit_code == 0 and "tree size 5" in fresh.output
    # ...and refuses A afterwards: A is a rollback from its point of view.
    with serving(app_for(url_a, [vkey])) as base:
        back = witness_once(base, key, site / "fresh")
        assert back.exit_code == 1 and "smaller than 5" in back.output


def test_a_checkpoint_signed_by_another_key_is_refused(site: Path) -> None:
    url = f"sqlite:///{site}/a.sqlite"
    open_database(url)
    LedgerBuilder().block(2)
    key, vkey = keygen(site, "witness.example/w1")
    other = NoteVerifier.from_public_key(ORIGIN, seeded("not-the-ledger").public_key())
    with serving(app_for(url, [vkey])) as base:
        result = ledger(
            "witness",
            "--url",
            base,
            "--vkey",
            other.to_string(),
            "--key",
            str(key),
            "--state",
            str(site / "s"),
            "--once",
        )
    assert result.exit_code == 1
    assert "does not verify" in result.output
    assert not (site / "s" / STATE_FILE).exists()


def test_state_is_locked_and_checked(site: Path) -> None:
    store = StateStore(site / "s")
    with pytest.raises(StateError, match="another witness"):
        StateStore(site / "s")
    store.close()
    (site / "s" / STATE_FILE).write_text("{not json")
    with pytest.raises(StateError):
        StateStore(site / "s").load()
    assert LEDGER  # the log key the fixtures sign with


def test_fuzzed_cosignature_posts_are_refused_cleanly(site: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from protocol.note import parse_note

    url = f"sqlite:///{site}/a.sqlite"
    open_database(url)
    LedgerBuilder().block(2)
    cosigner = Cosigner.generate("witness.example/w1")
    client = app_for(url, [cosigner.verifier().to_string()]).test_client()
    note = client.get("/v1/checkpoint").get_data(as_text=True)
    body = parse_note(note)[0]
    good = note + cosigner.cosign(body, 5).line()
    assert client.post("/v1/checkpoint/cosignature", data=good).status_code == 200

    @settings(
        max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        cut=st.integers(0, len(good)),
        flip=st.integers(0, len(good) - 1),
        junk=st.text(max_size=40),
    )
    def post(cut: int, flip: int, junk: str) -> None:
        damaged = good[:flip] + chr((ord(good[flip]) + 1) % 0x24F) + good[flip + 1 :]
        for data in (good[:cut] + junk, damaged, junk):
            response = client.post(
                "/v1/checkpoint/cosignature", data=data.encode("utf-8", "replace")
            )
            assert response.status_code in (200, 400, 403, 409), (data, response.data)
            assert response.get_json()["error" if response.status_code != 200 else "accepted"]

    post()


def test_a_cosignature_the_log_did_not_take_is_posted_again(site: Path) -> None:
    url = f"sqlite:///{site}/a.sqlite"
    open_database(url)
    LedgerBuilder().block(2)
    key, vkey = keygen(site, "witness.example/w1")
    with serving(app_for(url, [])) as base:  # the log does not know this witness yet
        assert witness_once(base, key, site / "s").exit_code == 2
    with serving(app_for(url, [vkey])) as base:
        again = witness_once(base, key, site / "s")
        assert again.exit_code == 0 and "reposted: tree size 2" in again.output
        assert "up_to_date" in witness_once(base, key, site / "s").output
        assert LogClient(base).text("/v1/checkpoint/cosigned")


def test_the_loop_keeps_going_while_the_log_is_away(site: Path) -> None:
    from auditor.witness import Witness, run_witness

    key, _ = keygen(site, "witness.example/w1")
    store = StateStore(site / "s")
    witness = Witness(
        LogClient("http://127.0.0.1:9", timeout=1),
        NoteVerifier.from_string(VKEY),
        Cosigner.from_string(key.read_text()),
        store,
    )
    lines: list[str] = []
    turns = iter([False, False, True])
    status = run_witness(
        witness, once=False, interval=0, say=lines.append, stop=lambda s: next(turns)
    )
    assert status == 0 and len(lines) == 3 and all("unavailable" in line for line in lines)
    store.close()


def test_an_older_cosignature_never_replaces_a_newer_one(site: Path) -> None:
    from protocol.note import parse_note

    url = f"sqlite:///{site}/a.sqlite"
    open_database(url)
    LedgerBuilder().block(2)
    cosigner = Cosigner.generate("witness.example/w1")
    witnesses = [cosigner.verifier()]
    client = app_for(url, [cosigner.verifier().to_string()]).test_client()
    note = client.get("/v1/checkpoint").get_data(as_text=True)
    body = parse_note(note)[0]
    log = NoteVerifier.from_string(VKEY)

    def post(stamp: int) -> int:
        line = cosigner.cosign(body, stamp).line()
        return client.post("/v1/checkpoint/cosignature", data=note + line).status_code

    def kept() -> int:
        cosigned = client.get("/v1/checkpoint/cosigned").get_data(as_text=True)
        return open_cosigned(cosigned, log, witnesses, quorum=1).witnesses[cosigner.name]

    assert post(2_000) == 200 and kept() == 2_000
    stale = client.post(
        "/v1/checkpoint/cosignature", data=note + cosigner.cosign(body, 1_000).line()
    )
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale"
    assert kept() == 2_000  # the genuine but older line did not roll it back
    assert post(2_000) == 200 and kept() == 2_000  # the same line again is fine
    assert post(3_000) == 200 and kept() == 3_000


def test_a_witness_starts_from_the_checkpoint_its_operator_trusts(site: Path) -> None:
    url_a, url_b = f"sqlite:///{site}/a.sqlite", f"sqlite:///{site}/b.sqlite"
    db_a = open_database(url_a)
    honest = LedgerBuilder()
    honest.block(3)
    db_a.execute_sql(f"VACUUM INTO '{site}/b.sqlite'")  # B shares A's first block
    honest.block(1, "kiosk-b")
    key, vkey = keygen(site, "witness.example/w1")
    with serving(app_for(url_a, [vkey])) as base:
        (site / "trusted").write_text(LogClient(base).text("/v1/checkpoint"))  # A, size 4

    def seeded_once(base: str, state: str, *extra: str) -> Result:
        return ledger(
            "witness", "--url", base, "--vkey", VKEY, "--key", str(key), "--state",
            str(site / state), "--once", *extra,
        )  # fmt: skip

    trust = ("--trust-checkpoint", str(site / "trusted"))
    app_b = app_for(url_b, [vkey])
    open_database(url_b)
    forker = LedgerBuilder(("kiosk-a", "kiosk-b", "kiosk-f"), tag="fork")
    forker.block(2, "kiosk-f")  # B: size 5, not an extension of A's size 4
    with serving(app_b) as base:
        refused = seeded_once(base, "seeded", *trust)
        assert refused.exit_code == 1, refused.output
        assert "REFUSED: FORK: no valid consistency proof from tree size 4" in refused.output
        with pytest.raises(LogUnavailable):
            LogClient(base).text("/v1/checkpoint/cosigned")
        # The seed was kept: without the option the witness still refuses B.
        again = seeded_once(base, "seeded")
        assert again.exit_code == 1 and "FORK" in again.output
        strict = seeded_once(base, "strict", "--no-trust-first-seen")
        assert strict.exit_code == 1 and "--trust-checkpoint" in strict.output
        assert not (site / "strict" / STATE_FILE).exists()
        naive = seeded_once(base, "naive")  # the old default: trust on first use
        assert naive.exit_code == 0 and "trusting the first checkpoint seen" in naive.output
    with serving(app_for(url_a, [vkey])) as base:
        same = seeded_once(base, "fresh", *trust)  # A shows exactly the trusted checkpoint
        assert same.exit_code == 0 and "cosigned: tree size 4" in same.output, same.output
        open_database(url_a)  # the builder writes to the database bound last
        honest.block(1)
        grown = seeded_once(base, "fresh", *trust)
        assert grown.exit_code == 0 and "cosigned: tree size 5" in grown.output, grown.output
    (site / "forged").write_text((site / "trusted").read_text().replace("\n4\n", "\n5\n"))
    forged = seeded_once("http://127.0.0.1:9", "other", "--trust-checkpoint", str(site / "forged"))
    assert forged.exit_code == 1 and "trusted checkpoint does not verify" in forged.output


def test_ledger_verify_can_require_a_quorum_of_witnesses(site: Path) -> None:
    url = f"sqlite:///{site}/a.sqlite"
    open_database(url)
    builder = LedgerBuilder()
    builder.block(3)
    k1, v1 = keygen(site, "witness.example/w1")
    k2, v2 = keygen(site, "witness.example/w2")
    both = ("--witness", v1, "--witness", v2)
    with serving(app_for(url, [v1, v2])) as base:
        source = ("--url", base)
        plain = ledger("verify", *source, "--vkey", VKEY)
        assert plain.exit_code == 0 and "cosigned" not in plain.output
        none_yet = ledger("verify", *source, "--vkey", VKEY, *both)
        assert none_yet.exit_code == 1 and "HTTP 404" in none_yet.output
        assert witness_once(base, k1, site / "w1").exit_code == 0
        one = ledger("verify", *source, "--vkey", VKEY, *both, "--quorum", "1")
        assert one.exit_code == 0, one.output
        assert "checkpoint of tree size 3 cosigned by 1 of 2 witness(es)" in one.output
        assert ledger("verify", *source, "--vkey", VKEY, *both).exit_code == 1  # quorum: all
        assert witness_once(base, k2, site / "w2").exit_code == 0
        builder.block(2)  # the ledger grew past what the witnesses cosigned
        grown = ledger("verify", *source, "--vkey", VKEY, *both)
        assert grown.exit_code == 0, grown.output
        assert "tree size 5" in grown.output
        assert "checkpoint of tree size 3 cosigned by 2 of 2 witness(es)" in grown.output
        stranger = Cosigner.generate("witness.example/w3").verifier().to_string()
        short = ledger("verify", *source, "--vkey", VKEY, "--witness", v1, "--witness", stranger)
        assert short.exit_code == 1 and "quorum is 2" in short.output
        too_many = ledger("verify", *source, "--vkey", VKEY, "--witness", v1, "--quorum", "2")
        assert too_many.exit_code == 2
    stored = ledger("verify", "--db", url, "--vkey", VKEY, *both)
    assert stored.exit_code == 0, stored.output
    assert "checkpoint of tree size 3 cosigned by 2 of 2 witness(es)" in stored.output
