"""benchmarks.cards runs and reports what a printed card costs."""

from __future__ import annotations

from benchmarks.cards import bench_cards


def test_bench_cards_reports_sizes_and_times() -> None:
    figures = bench_cards(3)
    assert figures["cards"] == 3
    assert figures["card_bytes"] <= 256  # protocol.presentation.MAX_BYTES
    assert figures["qr_version_l"] <= figures["qr_version_m"] <= 10
    assert figures["card_text_chars"] == 4 + (figures["card_bytes"] // 2) * 3 + (
        2 if figures["card_bytes"] % 2 else 0
    )
    assert all(figures[k] > 0 for k in ("issue_card_ms", "render_page_ms", "door_check_card_ms"))
