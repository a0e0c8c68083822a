"""gunicorn entry point: ``gunicorn aggregator.wsgi:app`` with SAFECODE_CONFIG naming the config.

``SAFECODE_WEB_ROLE=issuer`` makes the process the issuer (``aggregator web --issuer``),
``SAFECODE_WEB_ROLE=tracing`` the case API (``aggregator web --tracing``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .web import create_app_from_config

app = create_app_from_config(
    Path(os.environ.get("SAFECODE_CONFIG", "/etc/safecode/aggregator.toml")),
    issuer=os.environ.get("SAFECODE_WEB_ROLE") == "issuer",
    tracing=os.environ.get("SAFECODE_WEB_ROLE") == "tracing",
)
