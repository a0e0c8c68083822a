"""The security headers every page the aggregator serves to a browser carries.

Each page family (the wallet, the ledger explorer, the staff pages) adds its own
Content-Security-Policy and the rest it needs to these.
"""

from __future__ import annotations

BROWSER_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def page_headers(content_security_policy: str, **more: str) -> dict[str, str]:
    """BROWSER_HEADERS with ``content_security_policy`` and ``more`` (``_`` for ``-``)."""
    extra = {name.replace("_", "-"): value for name, value in more.items()}
    return {
        **BROWSER_HEADERS,
        "Content-Security-Policy": content_security_policy,
        **extra,
    }
