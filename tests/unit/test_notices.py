"""aggregator/notices and GET /v1/notices: audit first, padding, refusals, caching, retention.

Runs on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import peewee
import pytest
from flask.testing import FlaskClient

from aggregator.api.notices import notice_body
from aggregator.audit_log import AuditLogEntry
from aggregator.counters import CounterEntry
from aggregator.notices import (
    NoticeEntry,
    NoticeRefused,
    forget_notices,
    list_version,
    publish,
    publish_json,
    published,
)
from aggregator.notices import service as notice_service
from aggregator.web import create_app
from protocol.audit_entry import parse_draft
from protocol.errors import MalformedError
from protocol.notice import (
    MAX_JSON_BYTES,
    MAX_TAGS,
    TAG_BLOCK,
    b64encode,
    new_notice_id,
    notice_tag,
    parse_notice_json,
)

NOW = datetime.datetime(2026, 12, 3, 3, 0, tzinfo=datetime.UTC).timestamp()
DAY_S = 86_400
CASE = bytes(range(16))
GUIDANCE = {"ko": "14일 동안 증상을 살펴 주세요.", "en": "Watch for symptoms for 14 days."}
SECRETS = [bytes([i]) * 32 for i in range(1, 4)]


def notice(**overrides: Any) -> dict[str, Any]:
    notice_id = overrides.pop("notice_id", None) or new_notice_id()
    overrides.setdefault("notice_id", notice_id)
    fields: dict[str, Any] = {
        "case": CASE,
        "actor": "kim.official",
        "role": "official",
        "reason": "confirmed case 7",
        "notice_id": notice_id,
        "tags": [notice_tag(s, notice_id) for s in SECRETS] if "tags" not in overrides else [],
        "from_day": "2026-11-28",
        "to_day": "2026-11-30",
        "guidance": dict(GUIDANCE),
        "now": lambda: NOW,
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def client(db: peewee.Database, db_url: str) -> FlaskClient:
    return create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()


def test_publish_audits_first_pads_sorts_and_stores(db: peewee.Database) -> None:
    fields = notice()
    shown = publish(**fields)
    assert shown.notice_id == fields["notice_id"]
    assert len(shown.tags) == TAG_BLOCK and list(shown.tags) == sorted(shown.tags)
    assert set(fields["tags"]) <= set(shown.tags)
    assert shown.published_ms == int(NOW * 1000)
    row = NoticeEntry.get()
    entry = AuditLogEntry.get()
    assert bytes(row.audit_id) == bytes(entry.audit_id) and bytes(row.case_id) == CASE
    draft = parse_draft(bytes(entry.draft))
    assert (draft["action"], draft["actor"], draft["role"]) == (
        "notice",
        "kim.official",
        "official",
    )
    assert draft["counts"] == {"tags": 3} and draft["case"] == CASE
    assert published(NOW) == [shown]


@pytest.mark.parametrize(("real", "listed"), [(1, 16), (16, 16), (17, 32), (MAX_TAGS, 5008)])
def test_tags_are_padded_to_a_multiple_of_16(db: peewee.Database, real: int, listed: int) -> None:
    tags = [i.to_bytes(16, "big") for i in range(1, real + 1)]
    shown = publish(**notice(tags=tags))
    assert len(shown.tags) == listed and len(set(shown.tags)) == listed
    assert list(shown.tags) == sorted(shown.tags)
    assert set(tags) <= set(shown.tags)


def test_the_padding_is_fresh_for_each_notice(db: peewee.Database) -> None:
    tags = [bytes(16)]
    a = publish(**notice(tags=tags))
    b = publish(**notice(tags=tags))
    assert set(a.tags) & set(b.tags) == {bytes(16)}


def test_if_the_audit_cannot_be_written_nothing_is_stored(db: peewee.Database) -> None:
    with pytest.raises(MalformedError):  # the audit log refuses the reason
        publish(**notice(reason="bad\u202ereason"))
    with pytest.raises(RuntimeError), db.atomic():  # never inside a transaction
        publish(**notice())
    AuditLogEntry._meta.database.execute_sql("DROP TABLE audit_entry")
    with pytest.raises(peewee.DatabaseError):
        publish(**notice())
    if isinstance(db, peewee.PostgresqlDatabase):
        db.rollback()
    assert NoticeEntry.select().count() == 0


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"tags": [bytes(16)] * 2}, 400, "duplicate_tags"),
        ({"tags": [i.to_bytes(16, "big") for i in range(MAX_TAGS + 1)]}, 413, "too_many_tags"),
        ({"tags": []}, 400, "bad_notice"),
        ({"tags": [bytes(15)]}, 400, "bad_notice"),
        ({"notice_id": b"short", "tags": [bytes(16)]}, 400, "bad_notice"),
        ({"guidance": {"ko": "a\x00b", "en": "b"}}, 400, "bad_notice"),
        ({"guidance": {"ko": "a"}}, 400, "bad_notice"),
        ({"from_day": "2026-12-01", "to_day": "2026-11-30"}, 400, "bad_notice"),
        ({"from_day": "2026-12-05", "to_day": "2026-12-05"}, 400, "bad_notice"),  # future
        ({"from_day": "2026-11-01", "to_day": "2026-11-02"}, 400, "bad_notice"),  # too old
    ],
)
def test_refusals_are_clear_counted_and_leave_no_trace(
    db: peewee.Database, change: dict[str, Any], status: int, reason: str
) -> None:
    before = notice_service.COUNTS[f"refused:{reason}"]
    with pytest.raises(NoticeRefused) as refused:
        publish(**notice(**change))
    assert (refused.value.status, refused.value.reason) == (status, reason)
    assert refused.value.message
    assert notice_service.COUNTS[f"refused:{reason}"] == before + 1
    assert AuditLogEntry.select().count() == 0 and NoticeEntry.select().count() == 0


def test_a_notice_id_is_published_once(db: peewee.Database) -> None:
    first = notice()
    publish(**first)
    with pytest.raises(NoticeRefused) as refused:
        publish(**notice(notice_id=first["notice_id"]))
    assert (refused.value.status, refused.value.reason) == (409, "notice_exists")
    assert NoticeEntry.select().count() == 1 and AuditLogEntry.select().count() == 1


def test_get_lists_notices_in_the_contract_shape(db: peewee.Database, client: FlaskClient) -> None:
    assert client.get("/v1/notices").get_json() == {"notices": []}
    hostile = {"ko": "<script>alert(1)</script>", "en": '"quoted" & <b>bold</b>'}
    shown = publish(**notice(guidance=hostile))
    later = publish(**notice(now=lambda: NOW + 60))
    response = client.get("/v1/notices")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert [n["notice"] for n in body["notices"]] == [shown.notice_id.hex(), later.notice_id.hex()]
    item = body["notices"][0]
    assert set(item) == {"notice", "tags", "from_day", "to_day", "guidance", "published_ms"}
    assert parse_notice_json(item, published=True) == shown
    assert item["guidance"] == hostile
    assert "<script>" not in response.get_data(as_text=True).replace(hostile["ko"], "")


def test_get_is_cacheable_with_an_etag(db: peewee.Database, client: FlaskClient) -> None:
    publish(**notice())
    first = client.get("/v1/notices")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert "Set-Cookie" not in first.headers
    again = client.get("/v1/notices", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    publish(**notice())
    changed = client.get("/v1/notices", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_get_refuses_unknown_parameters_and_counts_it(
    db: peewee.Database, client: FlaskClient
) -> None:
    response = client.get("/v1/notices?since=0")
    assert response.status_code == 400 and response.get_json()["error"] == "unknown_parameter"
    assert client.post("/v1/notices", json={}).status_code == 405


def test_a_refused_notice_in_a_request_is_a_counted_json_refusal(
    db: peewee.Database, db_url: str
) -> None:
    """What the case API gets when it lets NoticeRefused through: JSON, counted."""
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})

    @app.post("/v1/test-publish")
    def _publish() -> str:
        publish(**notice(tags=[bytes(16)] * 2))
        return "not reached"

    response = app.test_client().post("/v1/test-publish")
    assert response.status_code == 400
    assert response.get_json()["error"] == "duplicate_tags"
    app.extensions["safecode.refusals"].flush(force=True)
    counted = CounterEntry.get(
        (CounterEntry.name == "api_refused") & (CounterEntry.label == "duplicate_tags")
    )
    assert counted.value == 1


def test_retention_drops_notices_older_than_28_days(db: peewee.Database) -> None:
    old = publish(**notice())
    young = publish(
        **notice(now=lambda: NOW + 2 * DAY_S, from_day="2026-12-01", to_day="2026-12-02")
    )
    assert published(NOW + 28 * DAY_S) == [old, young]
    assert published(NOW + 28 * DAY_S + 1) == [young]  # listed no longer
    assert list_version(NOW + 28 * DAY_S) != list_version(NOW + 28 * DAY_S + 1)
    assert forget_notices(NOW + 28 * DAY_S) == 0
    assert forget_notices(NOW + 28 * DAY_S + 1) == 1
    assert [bytes(r.notice_id) for r in NoticeEntry.select()] == [young.notice_id]
    assert forget_notices(NOW + 28 * DAY_S + 1) == 0  # idempotent
    assert AuditLogEntry.select().count() == 2  # the audit entries stay
    with pytest.raises(ValueError):
        forget_notices(NOW, 0)


def test_publish_json_takes_the_contracts_body(db: peewee.Database) -> None:
    notice_id = new_notice_id()
    body = {
        "notice": notice_id.hex(),
        "tags": [b64encode(notice_tag(s, notice_id)) for s in SECRETS],
        "from_day": "2026-11-28",
        "to_day": "2026-11-30",
        "guidance": dict(GUIDANCE),
    }
    common = {"case": CASE, "actor": "kim.official", "role": "official", "reason": "case 7"}
    shown = publish_json(**common, body=body, now=lambda: NOW)
    assert shown.notice_id == notice_id and len(shown.tags) == 16
    for bad, reason in [
        ({**body, "notice": "zz"}, "bad_notice"),
        ({**body, "tags": body["tags"][:1] * 2}, "duplicate_tags"),
        ({**body, "tags": ["A" * 21 + "A"] * (MAX_TAGS + 1)}, "too_many_tags"),
        ({**body, "extra": 1}, "bad_notice"),
        ([body], "bad_notice"),
    ]:
        with pytest.raises(NoticeRefused) as refused:
            publish_json(**common, body=bad, now=lambda: NOW)
        assert refused.value.reason == reason
    assert NoticeEntry.select().count() == AuditLogEntry.select().count() == 1


def test_notice_body_reads_a_full_notice_and_refuses_the_rest(
    db: peewee.Database, db_url: str
) -> None:
    """What the case API's POST reads: up to MAX_JSON_BYTES, JSON objects only."""
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})

    @app.post("/v1/test-notice")
    def _post() -> Any:
        body = notice_body()
        shown = publish_json(
            case=CASE, actor="kim.official", role="official", reason="case 7", body=body
        )
        return {"notice": shown.notice_id.hex()}, 201

    client = app.test_client()
    today = datetime.datetime.now(datetime.UTC).date()
    full = {
        "notice": new_notice_id().hex(),
        "tags": [b64encode(i.to_bytes(16, "big")) for i in range(1, MAX_TAGS + 1)],
        "from_day": (today - datetime.timedelta(days=3)).isoformat(),
        "to_day": today.isoformat(),
        "guidance": {"ko": "가" * 800, "en": "a" * 800},
    }
    text = json.dumps(full)
    assert len(text) > 64 * 1024  # over the app's usual bound
    answer = client.post("/v1/test-notice", data=text, content_type="application/json")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json() == {"notice": full["notice"]}
    for data, content_type, status, reason in [
        (text, "text/plain", 415, "wrong_content_type"),
        ("x" * (MAX_JSON_BYTES + 1), "application/json", 413, "too_large"),
        ("[1]", "application/json", 400, "bad_json"),
        ("{", "application/json", 400, "bad_json"),
        ("[" * 40 + "]" * 40, "application/json", 400, "bad_json"),
        (b"\xff\xfe", "application/json", 400, "bad_json"),
        (json.dumps({**full, "notice": "00"}), "application/json", 400, "bad_notice"),
        (text, "application/json", 409, "notice_exists"),
    ]:
        refused = client.post("/v1/test-notice", data=data, content_type=content_type)
        assert refused.status_code == status, (reason, refused.get_json())
        assert refused.get_json()["error"] == reason
    assert NoticeEntry.select().count() == 1
