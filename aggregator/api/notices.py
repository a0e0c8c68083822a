"""``GET /v1/notices``: the public list of exposure notices (issue 12), for wallets.

No login, nothing about the caller is kept. The body is the same for every caller, so
it is cacheable: the ETag names the list's version (``aggregator.notices.list_version``,
one aggregate query), so ``If-None-Match`` is answered with 304 without reading the
list, and ``Cache-Control: public, max-age=300`` lets browsers and proxies keep it for
five minutes. Each app keeps the body of the last version it built.

For the case API (``POST /v1/cases/<case>/notices``): ``notice_body`` reads the request's
JSON body up to ``protocol.notice.MAX_JSON_BYTES`` (a notice with 5000 tags is larger
than the API's usual 16 KiB bound), and the handler installed here turns a
``NoticeRefused`` raised by ``aggregator.notices.publish`` into a counted JSON refusal.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from protocol.notice import MAX_JSON_BYTES

from ..notices import NoticeRefused, list_version, published
from . import params
from .bodies import MAX_JSON_DEPTH, nesting_depth
from .errors import ApiError, refusals

notices_api = Blueprint("notices", __name__)

MAX_AGE_S = 300
_CACHE = "safecode.notices_body"


@notices_api.get("/v1/notices")
def list_notices() -> Response:
    """``{"notices": [{"notice", "tags", "from_day", "to_day", "guidance", "published_ms"}]}``."""
    params.only_params()
    now = time.time()
    version = list_version(now)
    etag = hashlib.sha256(repr(version).encode("ascii")).hexdigest()[:32]
    headers = {"Cache-Control": f"public, max-age={MAX_AGE_S}"}
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304, headers=headers)
        response.set_etag(etag)
        return response
    cached = current_app.extensions.get(_CACHE)
    if cached is not None and cached[0] == version:
        body = cached[1]
    else:
        body = json.dumps(
            {"notices": [notice.to_json() for notice in published(now)]},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        current_app.extensions[_CACHE] = (version, body)
    response = current_app.response_class(body, mimetype="application/json", headers=headers)
    response.set_etag(etag)
    return response


def notice_body() -> dict[str, Any]:
    """The request's JSON object, up to MAX_JSON_BYTES and MAX_JSON_DEPTH deep.

    415 ``wrong_content_type`` unless ``application/json``; 413 ``too_large`` beyond the
    size; 400 ``bad_json`` for what is not a JSON object. Check it with
    ``aggregator.notices.publish_json``.
    """
    if not request.is_json:
        raise ApiError(415, "wrong_content_type", "send the notice as application/json")
    declared = request.content_length
    if declared is not None and declared > MAX_JSON_BYTES:
        raise ApiError(413, "too_large", f"a notice is at most {MAX_JSON_BYTES} bytes of JSON")
    request.max_content_length = MAX_JSON_BYTES
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise ApiError(
            413, "too_large", f"a notice is at most {MAX_JSON_BYTES} bytes of JSON"
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "bad_json", "the body is not UTF-8") from exc
    if nesting_depth(text) > MAX_JSON_DEPTH:
        raise ApiError(400, "bad_json", f"JSON nests at most {MAX_JSON_DEPTH} deep")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "bad_json", f"the body is not JSON: {exc.msg}") from exc
    if type(body) is not dict:
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return body


@notices_api.app_errorhandler(NoticeRefused)
def _refused(exc: NoticeRefused) -> Response:
    """A refused notice, wherever it was published from: counted JSON like every refusal."""
    refusals().count(exc.reason, exc.message)
    response = jsonify(error=exc.reason, message=exc.message)
    response.status_code = exc.status
    return response
