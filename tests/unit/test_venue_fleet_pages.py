"""The venue owner's pages and the operator's fleet page (issue 12, items 5, 6 and 8).

Check-ins go through real ingest (signed records, verified presentations, sealed
visits) at kiosks of three venues, on SQLite and PostgreSQL. Checked: every role on
every page and POST, a venue owner naming another venue anywhere, counts per hour and
day from the index with nothing decrypted, no identity on any venue page, alarms,
the fleet's online samples, hostile ids and parameters, and retiring with CSRF and the
typed confirmation.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import peewee
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from aggregator import counters, vault
from aggregator.accounts import passwords, users
from aggregator.api import errors as api_errors
from aggregator.db import open_database
from aggregator.fleet_history import SLOT_MS, FleetSampleEntry, prune_samples, slot_of
from aggregator.fleet_sampler import FleetSampler, count_online
from aggregator.kiosk_health import ALARMS
from aggregator.pages import fleet as fleet_module
from aggregator.pages import kiosk_view, venues
from aggregator.tables import CheckinEntry, KioskEntry
from aggregator.venue_counts import (
    QUARTER_MS,
    WindowError,
    day_boundaries,
    hour_boundaries,
    quarter_counts,
    quarter_query,
    window_sums,
)
from aggregator.web import create_app
from protocol.status import encode_status
from simulator.visitors import Wallet, enrol_visitor
from tests.unit.test_api_operator import MemoryAccounts
from tests.unit.trace_town import ISSUER, Town

PASSWORD = "correct horse battery"
ACCOUNTS = {
    "kim": ("official", ()),
    "park": ("venue", ("cafe-1", "bar-2")),  # bar-2 has no kiosk
    "yoon": ("venue", ("gym-1",)),
    "lee": ("operator", ()),
    "choi": ("desk", ()),
}
HOUR_S = 3600
#: Visits at cafe-1 this many hours ago (at cafe-in), and at gym-1 (gym-in).
CAFE_HOURS_AGO = (0.3, 2.5, 2.6, 30.0, 100.0)
GYM_HOURS_AGO = (1.0, 1.1)


@pytest.fixture
def site(db_url: str, test_vault: vault.Vault, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Accounts, kiosks at cafe-1 (two), gym-1 and bar-1, real check-ins, heartbeats."""
    monkeypatch.setattr(api_errors, "FLUSH_EVERY_S", 0.0)
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    database = open_database(db_url)
    for name, (role, bound) in ACCOUNTS.items():
        users.add_user(name, role, PASSWORD, bound)
    town = Town()
    now = time.time()
    wallets: list[Wallet] = []
    for kiosk, hours in (("cafe-in", CAFE_HOURS_AGO), ("gym-in", GYM_HOURS_AGO)):
        for ago in sorted(hours, reverse=True):  # oldest first, as a kiosk numbers them
            wallet = enrol_visitor(ISSUER, now - 20 * 86_400)
            wallets.append(wallet)
            town.visit(wallet, kiosk, now - ago * HOUR_S)
    now_ms = int(now * 1000)
    beat(
        "cafe-in",
        now_ms,
        firmware="1.4.2",
        queue=2,
        oldest_unsent_ms=1500,
        clock_synced=True,
        clock_wall_ms=now_ms + 300,
    )
    beat("gym-in", now_ms, firmware="1.3.0", queue=250, oldest_unsent_ms=600_000)
    beat("bar-in", now_ms, firmware="1.4.2", clock_synced=False, disk_low=True)
    # cafe-out was never heard from: offline.
    app = create_app(
        {"DATABASE_URL": db_url, "TESTING": True, "COOKIE_SECURE": False, "SECRET_KEY": "k" * 64}
    )
    yield {"app": app, "wallets": wallets, "town": town, "now_ms": now_ms}
    database.close()


def beat(kiosk_id: str, now_ms: int, state: str = "online", **figures: object) -> None:
    """Store a heartbeat as the ingest service does (the whole parsed status as JSON)."""
    KioskEntry.update(
        last_status=encode_status(state, **figures).decode(), last_status_ms=now_ms - 2000
    ).where(KioskEntry.kiosk_id == kiosk_id).execute()


def csrf_token(client: FlaskClient, path: str = "/staff/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="(?:\w+-)?csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def client_of(app: Flask, name: str | None) -> FlaskClient:
    """A client logged in as ``name`` (anonymous for None), English pages."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    if name is not None:
        form = {"csrf_token": csrf_token(client), "name": name, "password": PASSWORD}
        assert client.post("/staff/login", data=form).status_code == 302
    return client


def text_of(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True)


def refusal_counts() -> dict[str, int]:
    return counters.totals().get("api_refused", {})


# -- roles ---------------------------------------------------------------------------------

PAGES = {
    "/staff/venues": {"venue"},
    "/staff/venues/cafe-1": {"venue"},
    "/staff/fleet": {"operator"},
    "/staff/fleet?alarms=1": {"operator"},
    "/staff/fleet/cafe-in/retire": {"operator"},
}


def test_every_role_on_every_page_and_post(site: dict) -> None:
    app = site["app"]
    anonymous = client_of(app, None)
    for path in PAGES:
        response = anonymous.get(path)
        assert response.status_code == 302 and "/staff/login?next=" in response.location, path
    token = csrf_token(anonymous)
    refused = anonymous.post("/staff/fleet/cafe-in/retire", data={"csrf_token": token})
    assert refused.status_code == 401
    for name, (role, _) in ACCOUNTS.items():
        client = client_of(app, name)
        for path, roles in PAGES.items():
            status = client.get(path).status_code
            if path == "/staff/venues/cafe-1" and name == "yoon":
                assert status == 403  # a venue owner, not of this venue
            else:
                assert status == (200 if role in roles else 403), (name, path, status)
        form = {"csrf_token": csrf_token(client, "/staff"), "confirm": "cafe-in"}
        posted = client.post("/staff/fleet/cafe-in/retire", data=form)
        if role != "operator":
            assert posted.status_code == 403, name
    assert KioskEntry.get_by_id("cafe-in").retired  # only the operator's POST retired it
    counts = refusal_counts()
    assert counts["login_required"] == len(PAGES) + 1
    assert counts["role_refused"] >= 10 and counts["venue_refused"] == 1


def test_venue_owner_names_only_its_venues(site: dict) -> None:
    park = client_of(site["app"], "park")
    assert park.get("/staff/venues/cafe-1").status_code == 200
    assert park.get("/staff/venues/bar-2").status_code == 200  # its own, without kiosks
    other = park.get("/staff/venues/gym-1")
    missing = park.get("/staff/venues/no-such-venue")
    assert other.status_code == missing.status_code == 403
    assert strip_tokens(text_of(other)).replace("gym-1", "X") == strip_tokens(
        text_of(missing)
    ).replace("no-such-venue", "X")  # the same page: nothing says which exists
    for path in (
        "/staff/venues?venue=gym-1",
        "/staff/venues/cafe-1?venue=gym-1",
        "/staff/venues/cafe-1?venue_id=gym-1",
        "/staff/venues/cafe-1?venues=cafe-1&venues=gym-1",
    ):
        assert park.get(path).status_code == 403, path
    token = csrf_token(park, "/staff")
    form_post = park.post("/staff/venues/cafe-1", data={"csrf_token": token, "venue": "gym-1"})
    assert form_post.status_code in (403, 405)  # no form here; never an answer
    assert refusal_counts()["venue_refused"] >= 6


@pytest.mark.parametrize(
    "venue",
    ["CAFE-1", "cafe-1 ", "../cafe-1", "cafe-1%00", "%2e%2e", "a" * 300, "café", "cafe-1;drop"],
)
def test_hostile_venue_ids_are_refused_alike(site: dict, venue: str) -> None:
    park = client_of(site["app"], "park")
    response = park.get(f"/staff/venues/{venue}")
    assert response.status_code in (403, 404)
    assert "<script" not in text_of(response) and venue not in strip_tokens(text_of(response))


def strip_tokens(body: str) -> str:
    body = re.sub(r'value="[^"]*"', "", body)
    return re.sub(r'name="language-next"[^>]*>', "", body)


# -- the venue pages: counts only ----------------------------------------------------------


def test_venue_page_counts_per_hour_and_day(site: dict) -> None:
    body = text_of(client_of(site["app"], "park").get("/staff/venues/cafe-1"))
    zone = ZoneInfo("Asia/Seoul")
    now_ms = site["now_ms"]
    hours = hour_boundaries(now_ms, zone)
    days = day_boundaries(now_ms, zone)
    expected_hours = [0] * 24
    expected_days = [0] * 14
    for ago in CAFE_HOURS_AGO:
        at = now_ms - int(ago * HOUR_S * 1000)
        for bounds, expected in ((hours, expected_hours), (days, expected_days)):
            for i in range(len(bounds) - 1):
                if bounds[i] <= at < bounds[i + 1]:
                    expected[i] += 1
    assert sum(expected_hours) == 3 and sum(expected_days) == 5
    hour_table = table_counts(body, "hours")
    day_table = table_counts(body, "days")
    assert hour_table == expected_hours and day_table == expected_days
    assert re.search(r'id="checkins-today">(\d+)<', body).group(1) == str(expected_days[-1])
    assert 'role="img"' in body and '<title id="hours-title">' in body
    overview = text_of(client_of(site["app"], "park").get("/staff/venues"))
    assert f'<td class="num">{expected_days[-1]}</td>' in overview
    assert "gym-1" not in overview and "bar-1" not in overview


def table_counts(body: str, chart_id: str) -> list[int]:
    """The figures of a chart's table (the second column)."""
    section = body.split(f'id="{chart_id}-heading"')[1].split("</figure>")[0]
    table = section.split("<tbody>")[1].split("</tbody>")[0]
    return [int(n.replace(",", "")) for n in re.findall(r'<td class="num">([\d,]+)</td>', table)]


def test_venue_pages_show_no_identity_and_no_other_venue(site: dict) -> None:
    park = client_of(site["app"], "park")
    pages = [text_of(park.get(p)) for p in ("/staff/venues", "/staff/venues/cafe-1")]
    pages.append(text_of(park.get("/staff/venues/bar-2")))
    secrets: list[bytes] = []
    for row in CheckinEntry.select():
        secrets += [bytes(row.checkin_id), bytes(row.commit), bytes(row.leaf_hash)]
        secrets += [bytes(row.sealed)[:16]]
        for column in (row.presentation_hash, row.visit_tag, row.boot_id):
            if column is not None:
                secrets.append(bytes(column))
    for kiosk in KioskEntry.select():
        secrets.append(bytes(kiosk.device_key))
    for wallet in site["wallets"]:
        secrets += [wallet.credential.credential_id, wallet.credential.to_bytes()[:24]]
    words = ["gym-1", "gym-in", "bar-1", "bar-in", "did:key", "SC1:", "credential", "phone"]
    for secret in secrets:
        words += [
            secret.hex(),
            base64.urlsafe_b64encode(secret).decode().rstrip("="),
            base64.b64encode(secret).decode().rstrip("="),
        ]
    for page in pages:
        found = [w for w in words if w in page]
        assert found == [], found[:3]
        assert not re.search(r"\+82[- ]?10|\b010-\d{4}", strip_tokens(page))  # no phone


def test_counting_reads_the_index_and_decrypts_nothing(
    site: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a venue page tried to open a visit")

    for name in ("open", "open_entry", "open_many", "day_keys", "visit_tag", "lookup_tags"):
        monkeypatch.setattr(vault.Vault, name, refuse)
    park = client_of(site["app"], "park")
    assert park.get("/staff/venues/cafe-1").status_code == 200
    assert park.get("/staff/venues").status_code == 200
    query = quarter_query_sql(site["now_ms"])
    database = CheckinEntry._meta.database
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        database.execute_sql("SET enable_seqscan = off")  # a tiny table: ask for the plan
        plan = " ".join(row[0] for row in database.execute_sql("EXPLAIN " + query[0], query[1]))
        assert "venue_id_placed_ms" in plan and "Seq Scan" not in plan, plan
    else:
        rows = database.execute_sql("EXPLAIN QUERY PLAN " + query[0], query[1]).fetchall()
        plan = " ".join(str(row[-1]) for row in rows)
        assert "COVERING INDEX checkinentry_venue_id_placed_ms" in plan, plan


def quarter_query_sql(now_ms: int) -> tuple[str, list]:
    """The SQL and parameters quarter_counts runs for cafe-1 over the last day."""
    return quarter_query(["cafe-1"], now_ms - 86_400_000, now_ms).sql()


def test_quarter_counts_and_windows(site: dict) -> None:
    now_ms = site["now_ms"]
    start = now_ms - now_ms % QUARTER_MS - 200 * HOUR_S * 1000
    counts = quarter_counts(["cafe-1", "gym-1", "nowhere"], start, now_ms + 1)
    assert sum(counts["cafe-1"].values()) == 5 and sum(counts["gym-1"].values()) == 2
    assert counts["nowhere"] == {}
    assert all((q - start) % QUARTER_MS == 0 for q in counts["cafe-1"])
    assert window_sums(counts["cafe-1"], [start, now_ms + 1], start) == [5]
    with pytest.raises(WindowError):
        window_sums({}, [start, start + 1, start + 2], start)
    with pytest.raises(WindowError):
        window_sums({}, [start + QUARTER_MS, start], start)
    assert quarter_counts([], start, now_ms) == {}


def test_windows_follow_local_days_in_any_zone() -> None:
    noon = 1_700_000_000_000
    for name in ("Asia/Seoul", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "UTC"):
        zone = ZoneInfo(name)
        days = day_boundaries(noon, zone)
        hours = hour_boundaries(noon, zone)
        assert len(days) == 15 and len(hours) == 25
        assert all((d - days[0]) % QUARTER_MS == 0 for d in days + hours)
        assert hours[-2] <= noon < hours[-1] and days[-2] <= noon < days[-1]


def test_empty_venue_page_says_so(site: dict) -> None:
    body = text_of(client_of(site["app"], "park").get("/staff/venues/bar-2"))
    assert "This venue has no kiosks." in body
    assert body.count("No check-ins in this period") == 2
    assert table_counts(body, "hours") == [0] * 24


def test_venue_page_in_korean(site: dict) -> None:
    park = client_of(site["app"], "park")
    body = text_of(park.get("/staff/venues/cafe-1", headers={"Accept-Language": "ko"}))
    assert '<html lang="ko">' in body
    for korean in ("시간별 체크인", "일별 체크인", "오프라인: 최근 신호 없음", "동기화됨"):
        assert korean in body


# -- alarms and the fleet ------------------------------------------------------------------


def test_fleet_page_lists_every_kiosk_with_alarms(site: dict) -> None:
    body = text_of(client_of(site["app"], "lee").get("/staff/fleet"))
    rows = {
        kiosk: row
        for kiosk, row in re.findall(
            r'<th scope="row" data-label="Kiosk"><code>([\w-]+)</code>'
            r"(.*?)</tr>",
            body,
            re.S,
        )
    }
    assert set(rows) == {"cafe-in", "cafe-out", "gym-in", "bar-in"}
    assert "Offline: no recent heartbeat" in rows["cafe-out"]
    assert "Backlog" in rows["gym-in"] and "250, oldest 10 min" in rows["gym-in"]
    assert "Clock not synchronised" in rows["bar-in"] and "Disk nearly full" in rows["bar-in"]
    assert "No alarms" in rows["cafe-in"] and "offset +2.3 s" in rows["cafe-in"]
    assert re.search(r'id="kiosks-enrolled">4<', body) and re.search(r'id="kiosks-online">3<', body)
    only = text_of(client_of(site["app"], "lee").get("/staff/fleet?alarms=1"))
    assert "cafe-in</code>" not in only and "gym-in</code>" in only


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=2",
        "page=99999999",
        "page=1&page=1",
        "alarms=2",
        "alarms=1&alarms=1",
        "x=1",
        "page=%EF%BC%91",
        "page=1e3",
        "page=",
    ],
)
def test_hostile_fleet_parameters_are_404(site: dict, query: str) -> None:
    assert client_of(site["app"], "lee").get(f"/staff/fleet?{query}").status_code == 404


@pytest.mark.parametrize(
    "kiosk_id", ["nobody", "CAFE-IN", "-a", "a" * 64, "caf%C3%A9", "%2e%2e", "status", "a%00b"]
)
def test_hostile_kiosk_ids_are_404(site: dict, kiosk_id: str) -> None:
    lee = client_of(site["app"], "lee")
    assert lee.get(f"/staff/fleet/{kiosk_id}/retire").status_code == 404
    form = {"csrf_token": csrf_token(lee, "/staff"), "confirm": kiosk_id}
    assert lee.post(f"/staff/fleet/{kiosk_id}/retire", data=form).status_code == 404


#: Latin words a Korean page may show: names, ids, the time zone, a command line.
LATIN_IN_KOREAN = {"safecode", "English", "Asia", "Seoul", "park", "lee", "provision", "retire"}


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("park", "/staff/venues"),
        ("park", "/staff/venues/cafe-1"),
        ("park", "/staff/venues/bar-2"),
        ("lee", "/staff/fleet"),
        ("lee", "/staff/fleet/gym-in/retire"),
    ],
)
def test_korean_pages_have_no_english_left(site: dict, name: str, path: str) -> None:
    FleetSampleEntry.create(
        slot_ms=slot_of(site["now_ms"]) - SLOT_MS, online=1, kiosks=4, sampled_ms=0
    )
    client = client_of(site["app"], name)
    body = text_of(client.get(path, headers={"Accept-Language": "ko"}))
    visible = re.sub(r"<code>.*?</code>", " ", body, flags=re.S)
    visible = re.sub(r"<(style|head)>.*?</\1>", " ", visible, flags=re.S)
    visible = re.sub(r"<[^>]+>", " ", visible)
    visible = re.sub(r"[a-z0-9]+(?:-[a-z0-9]+)+", " ", visible)  # kiosk and venue ids
    words = set(re.findall(r"[A-Za-z]{3,}", visible)) - LATIN_IN_KOREAN
    assert words == set(), sorted(words)


def test_alarm_texts_and_module_words_have_korean() -> None:
    from aggregator.pages import i18n

    sources = [kiosk_view, venues, fleet_module]
    texts: set[str] = set(kiosk_view.ALARM_TEXT.values())
    pattern = r"""(?:fmt|translate|_chart\(\s*"\w+",|error =)\s*\(?\s*["']([^"']+)["']"""
    for module in sources:
        texts.update(re.findall(pattern, Path(module.__file__).read_text()))
    templates = Path(fleet_module.__file__).parent / "templates" / "pages"
    for name in (
        "_kiosks.html",
        "venue.html",
        "venues.html",
        "fleet.html",
        "retire.html",
        "retired.html",
    ):
        texts.update(re.findall(pattern, (templates / name).read_text()))
    missing = sorted(t for t in texts if t not in i18n.KOREAN)
    assert len(texts) > 30 and missing == []
    assert set(kiosk_view.ALARM_TEXT) == set(ALARMS)


# -- the fleet's online samples ------------------------------------------------------------


def test_sampler_writes_one_row_per_slot_and_prunes(site: dict) -> None:
    now_ms = site["now_ms"]
    first, second = FleetSampler(), FleetSampler()  # two ingest processes
    assert first.sample_if_due(now_ms) is True
    assert second.sample_if_due(now_ms) is False  # the slot has its row
    assert first.sample_if_due(now_ms + 1000) is False
    row = FleetSampleEntry.get_by_id(slot_of(now_ms))
    assert (row.online, row.kiosks) == (3, 4) == tuple(vars(count_online(now_ms)).values())
    FleetSampleEntry.create(
        slot_ms=slot_of(now_ms) - 9 * 86_400_000, online=1, kiosks=1, sampled_ms=0
    )
    assert second.sample_if_due(now_ms + SLOT_MS) is True  # a new slot prunes old ones
    assert FleetSampleEntry.select().count() == 2
    assert prune_samples(now_ms + 30 * 86_400_000) == 2


def test_fleet_chart_from_samples_with_gaps_and_huge_counts(site: dict) -> None:
    now_ms = site["now_ms"]
    for i in range(1, 200):
        if 50 <= i < 60:
            continue  # no ingest ran then: a gap in the line
        slot = slot_of(now_ms) - i * SLOT_MS
        FleetSampleEntry.create(
            slot_ms=slot, online=2_000_000_000 - i, kiosks=2_000_000_000, sampled_ms=slot
        )
    body = text_of(client_of(site["app"], "lee").get("/staff/fleet"))
    svg = body.split('<svg class="chart"')[1].split("</svg>")[0]
    assert svg.count('class="line-value"') == 2  # the gap splits the line
    assert "2,000,000,000" in svg
    assert "no sample" in body  # hours without samples in the table
    assert "2,000,000,000" in body.split("<tbody>")[1]


def test_fleet_chart_without_samples(site: dict) -> None:
    body = text_of(client_of(site["app"], "lee").get("/staff/fleet"))
    assert "No samples in this period" in body and '<polyline class="line-value"' not in body


# -- retiring ------------------------------------------------------------------------------


def test_retire_needs_csrf_and_the_typed_id(site: dict) -> None:
    app = site["app"]
    accounts = MemoryAccounts()
    accounts.ensure_kiosk("cafe-out")
    app.extensions["safecode.broker_accounts"] = accounts
    lee = client_of(app, "lee")
    page = text_of(lee.get("/staff/fleet/cafe-out/retire"))
    assert 'name="confirm"' in page and "Retiring refuses every check-in" in page
    path = "/staff/fleet/cafe-out/retire"
    assert lee.post(path, data={"confirm": "cafe-out"}).status_code == 400  # no CSRF token
    assert lee.post(path, data={"csrf_token": "forged", "confirm": "cafe-out"}).status_code == 400
    token = csrf_token(lee, path)
    for typed in ("", "cafe-in", "CAFE-OUT", "cafe-out ", "x" * 200):
        wrong = lee.post(path, data={"csrf_token": token, "confirm": typed})
        assert wrong.status_code == 400 and "does not match" in text_of(wrong)
    assert lee.post(path, data={"csrf_token": token}).status_code == 400
    assert not KioskEntry.get_by_id("cafe-out").retired
    assert "cafe-out" in accounts.accounts
    counts = refusal_counts()
    assert counts["csrf_refused"] == 2 and counts["retire_unconfirmed"] == 6
    done = lee.post(path, data={"csrf_token": token, "confirm": "cafe-out"})
    assert done.status_code == 200 and 'id="retired"' in text_of(done)
    assert KioskEntry.get_by_id("cafe-out").retired and "cafe-out" not in accounts.accounts
    fleet = text_of(lee.get("/staff/fleet"))
    assert "cafe-out</code>" not in fleet  # retired kiosks leave the fleet
    again = text_of(lee.get(path))
    assert 'id="already-retired"' in again


def test_retire_when_the_broker_fails_says_so_and_can_be_retried(site: dict) -> None:
    app = site["app"]
    accounts = MemoryAccounts()
    accounts.ensure_kiosk("bar-in")
    accounts.fail = True
    app.extensions["safecode.broker_accounts"] = accounts
    lee = client_of(app, "lee")
    path = "/staff/fleet/bar-in/retire"
    token = csrf_token(lee, path)
    failed = lee.post(path, data={"csrf_token": token, "confirm": "bar-in"})
    assert failed.status_code == 502 and 'id="broker-failed"' in text_of(failed)
    assert KioskEntry.get_by_id("bar-in").retired and "bar-in" in accounts.accounts
    accounts.fail = False
    retried = lee.post(path, data={"csrf_token": token, "confirm": "bar-in"})
    assert retried.status_code == 200 and "bar-in" not in accounts.accounts


def test_retire_page_warns_of_waiting_checkins(site: dict) -> None:
    body = text_of(client_of(site["app"], "lee").get("/staff/fleet/gym-in/retire"))
    assert 'id="still-waiting"' in body and "250 check-ins still wait" in body


def test_pages_keep_the_strict_policy_and_no_script(site: dict) -> None:
    checks = {
        "park": ("/staff/venues", "/staff/venues/cafe-1"),
        "lee": ("/staff/fleet", "/staff/fleet/cafe-in/retire"),
    }
    for name, paths in checks.items():
        client = client_of(site["app"], name)
        for path in paths:
            response = client.get(path)
            body = text_of(response)
            assert "script-src" not in response.headers["Content-Security-Policy"]
            assert "<script" not in body and " style=" not in body and "http" not in body
            assert response.headers["Cache-Control"] == "no-store"


def test_the_ingest_service_samples_what_its_heartbeats_said(
    tmp_path: Path, db_url: str, test_vault: vault.Vault
) -> None:
    """Heartbeats through the real ingest path; its flush loop's sampler counts them."""
    import dataclasses

    from aggregator.config import load_config
    from aggregator.registry import enrol_kiosk
    from aggregator.service import AggregatorService
    from kiosk.config import load_config as load_kiosk_config
    from protocol import keys, topics
    from simulator.site import init_simulated_site
    from tests.unit.fake_bus import ConfigBus

    site = init_simulated_site(tmp_path / "site", kiosks=3, visitors=1)
    config = dataclasses.replace(load_config(site.aggregator_config), database_url=db_url)
    service = AggregatorService(config, ConfigBus(), on_event=lambda line: None, roles={"ingest"})
    try:
        kiosks = [load_kiosk_config(path) for path in site.kiosk_configs]
        for kiosk in kiosks:
            device = keys.load_private(kiosk.device_key_path)
            enrol_kiosk(kiosk.kiosk_id, kiosk.venue_id, keys.public_bytes(device))
        states = ("online", "online", "offline")
        for kiosk, state in zip(kiosks, states, strict=True):
            service.handle(topics.topic(kiosk.kiosk_id, topics.STATUS), encode_status(state))
        service._sample_fleet()
        row = FleetSampleEntry.get_by_id(slot_of(int(time.time() * 1000)))
        assert (row.online, row.kiosks) == (2, 3)
        sequencer_only = AggregatorService(
            config, ConfigBus(), on_event=lambda line: None, roles={"sequence"}
        )
        assert sequencer_only.fleet_sampler is None  # only the processes hearing kiosks
    finally:
        service.db.close()


def test_the_samplers_count_agrees_with_the_fleet_view(site: dict) -> None:
    """The SQL count and the parsed fleet view agree on every form a status is stored in.

    (The service stores only ``json.dumps`` of a status it parsed, or an older bare state:
    never broken JSON.)
    """
    import json

    from aggregator.api.fleet import fleet
    from aggregator.registry import enrol_kiosk
    from protocol import keys
    from protocol.status import parse_status

    now_ms = site["now_ms"]
    stored = {
        "s-json-on": json.dumps(parse_status(encode_status("online", queue=1)), sort_keys=True),
        "s-json-off": json.dumps(parse_status(encode_status("offline")), sort_keys=True),
        "s-bare-on": "online",
        "s-bare-off": "offline",
        "s-none": None,
        "s-trick": json.dumps({"v": 1, "state": "offline", "note": '"state": "online"'}),
        "s-stale": json.dumps(parse_status(encode_status("online")), sort_keys=True),
    }
    for kiosk_id, text in stored.items():
        enrol_kiosk(kiosk_id, "shop-1", keys.public_bytes(keys.generate()))
        seen = now_ms - (600_000 if kiosk_id == "s-stale" else 1000)
        KioskEntry.update(last_status=text, last_status_ms=seen).where(
            KioskEntry.kiosk_id == kiosk_id
        ).execute()
    parsed = fleet(now_ms, 180_000)
    counted = count_online(now_ms)
    assert counted.online == sum(k.online for k in parsed) and counted.kiosks == len(parsed)
    assert {k.kiosk_id for k in parsed if k.online} >= {"s-json-on", "s-bare-on"}
