"""Where the shared test data lives: ../shared/data beside the checkout.

Set SAFECODE_SHARED_DATA to use another folder. Tests that need it skip with a
message naming the path when it is absent; nothing is ever copied into the repo.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get("SAFECODE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
