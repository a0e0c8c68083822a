"""A stand-in wallet: the smallest page that behaves, for the benchmark harness, as the
real wallet (aggregator/wallet_app) is specified to, so benchmarks/wallet.py can be tested
before the wallet lands.

At ``/wallet/``: the page registers a service worker (``sw.js``, which caches the app
shell: the page, ``app.js`` and the manifest, and serves from that cache first); on the
first visit it "enrols" (``POST /wallet/enrol`` answers the code as a PNG data URL) and
keeps the answer in IndexedDB; on every visit it shows the code from IndexedDB as
``#qr`` and then sets ``body[data-state="code"]``. Served by its own small Flask app.
"""

from __future__ import annotations

import base64
import io

import segno
from flask import Flask, Response, jsonify

INDEX = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stand-in wallet</title>
<link rel="manifest" href="manifest.webmanifest">
<style>body{margin:0;background:#fff;text-align:center}#qr{width:90vw;margin-top:10vh}</style>
<script src="app.js" defer></script>
</head><body data-state="loading"><img id="qr" alt=""></body></html>
"""

APP_JS = """'use strict';
function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('standin', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('wallet');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
function run(db, mode, action) {
  return new Promise((resolve, reject) => {
    const request = action(db.transaction('wallet', mode).objectStore('wallet'));
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
async function main() {
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js');
  const db = await openDb();
  let code = await run(db, 'readonly', (store) => store.get('code'));
  if (!code) {
    document.body.dataset.state = 'enrol';
    const answer = await fetch('enrol', {method: 'POST'});
    code = (await answer.json()).code;
    await run(db, 'readwrite', (store) => store.put(code, 'code'));
  }
  const qr = document.getElementById('qr');
  qr.src = code;
  await qr.decode();
  document.body.dataset.state = 'code';
}
main();
"""

SW_JS = """'use strict';
const SHELL = ['./', 'app.js', 'manifest.webmanifest'];
self.addEventListener('install', (event) => {
  event.waitUntil(caches.open('shell-v1').then((cache) => cache.addAll(SHELL)));
  self.skipWaiting();
});
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  if (event.request.method !== 'GET') return;
  event.respondWith(
    caches.match(event.request).then((hit) => hit || fetch(event.request)));
});
"""

MANIFEST = (
    '{"name": "stand-in wallet", "start_url": "./", "display": "standalone",'
    ' "background_color": "#ffffff", "icons": []}'
)

ASSETS = {
    "": (INDEX, "text/html; charset=utf-8"),
    "app.js": (APP_JS, "text/javascript; charset=utf-8"),
    "sw.js": (SW_JS, "text/javascript; charset=utf-8"),
    "manifest.webmanifest": (MANIFEST, "application/manifest+json"),
}
"""Path under /wallet/ -> (body, content type)."""

SHELL = ("", "app.js", "sw.js", "manifest.webmanifest")
"""Everything a first visit loads with GET: the page, its script, the worker and what the
worker caches."""


def shell_bytes() -> int:
    """The bytes of every GET response of a first visit (bodies as served)."""
    return sum(len(ASSETS[name][0].encode("utf-8")) for name in SHELL)


def code_png(text: str, *, error: str = "l") -> str:
    """The QR code of ``text`` as a PNG data URL (what the real wallet draws itself)."""
    out = io.BytesIO()
    segno.make_qr(text, error=error, boost_error=False).save(out, kind="png", scale=6, border=4)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def create_standin(code_text: str, *, error: str = "l", service_worker: bool = True) -> Flask:
    """The stand-in wallet app; every enrolment answers the code of ``code_text``.

    Without ``service_worker`` its ``sw.js`` is a 404: a wallet that cannot work offline.
    """
    app = Flask(__name__)
    app.config["ENROLMENTS"] = 0

    def asset(name: str) -> Response:
        body, content_type = ASSETS[name]
        response = Response(body, content_type=content_type)
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/wallet/")
    def index() -> Response:
        return asset("")

    @app.get("/wallet/<name>")
    def static_asset(name: str) -> Response:
        if name not in ASSETS or not name or (name == "sw.js" and not service_worker):
            return Response("not found", status=404)
        return asset(name)

    @app.post("/wallet/enrol")
    def enrol() -> Response:
        app.config["ENROLMENTS"] += 1
        return jsonify({"code": code_png(code_text, error=error)})

    return app
