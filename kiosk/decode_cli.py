"""``safecode kiosk decode IMAGE...``: the technician's "why won't this scan?".

One JSON line per image: its size, the texts read, which decoder read each, and the
milliseconds taken. Presentation codes (``SC1:``) are never printed whole: only their
fingerprint (the one the kiosk logs) and length. With ``--all-decoders`` every decoder's
answer is shown side by side, with the number of codes zxing-cpp located but could not
read. A missing or unreadable file, or an image over the pixel budget (``--max-pixels``,
checked on the header before decoding), gives a line with an ``error``; the other files
are still decoded, and the exit status is 1.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from pathlib import Path
from typing import Any

import click
from PIL import Image

from protocol.errors import ProtocolError
from protocol.presentation import PREFIX, Presentation

from .decoders import DECODER_NAMES, Decoded, Decoder, ZxingDecoder, decoder_named
from .frames import FrameSourceError, load_gray
from .image_budget import MAX_IMAGE_PIXELS

SHOWN_CHARS = 120
"""Longest non-presentation text printed as is; longer ones are cut (and say so)."""


def shown(text: str) -> dict[str, Any]:
    """What may be printed of a decoded text: presentations only by fingerprint."""
    if text.startswith(PREFIX):
        try:
            fingerprint = Presentation.from_text(text).fingerprint()
            well_formed = True
        except ProtocolError:
            fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
            well_formed = False
        return {
            "text": PREFIX + "…",
            "fingerprint": fingerprint,
            "chars": len(text),
            "well_formed": well_formed,
        }
    if len(text) > SHOWN_CHARS:
        return {"text": text[:SHOWN_CHARS] + "…", "chars": len(text)}
    return {"text": text}


def _entries(found: list[Decoded]) -> list[dict[str, Any]]:
    return [{**shown(d.text), "decoder": d.decoder} for d in found]


def _timed(decoder: Decoder, image: Any) -> tuple[list[Decoded], float]:
    start = time.perf_counter()
    found = decoder.decode(image)
    return found, round((time.perf_counter() - start) * 1000.0, 3)


@click.command("decode")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--decoder",
    "decoder_name",
    type=click.Choice(DECODER_NAMES),
    default="cascade",
    show_default=True,
    help="zxing (zxing-cpp alone), pyzbar (ZBar alone) or cascade (the kiosk's default).",
)
@click.option(
    "--all-decoders",
    is_flag=True,
    help="Show every decoder's result side by side, and codes located but not read.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=MAX_IMAGE_PIXELS,
    show_default=True,
    help="Refuse (from its header, before decoding) any image with more pixels than this.",
)
def decode_command(
    images: tuple[Path, ...], decoder_name: str, all_decoders: bool, max_pixels: int
) -> None:
    """Read QR codes from image files, printing one JSON line per image."""
    names = DECODER_NAMES if all_decoders else (decoder_name,)
    decoders = {name: decoder_named(name) for name in names}
    locator = ZxingDecoder() if all_decoders else None
    failed = 0
    with warnings.catch_warnings():
        # The pixel budget is the stricter rule; Pillow's own bomb warning is only noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for path in images:
            line = _decode_file(path, decoders, locator, max_pixels)
            failed += "error" in line
            click.echo(json.dumps(line, ensure_ascii=False))
    if failed:
        raise click.exceptions.Exit(1)


def _decode_file(
    path: Path, decoders: dict[str, Decoder], locator: ZxingDecoder | None, max_pixels: int
) -> dict[str, Any]:
    """The JSON line for one image file: what each decoder read, or an ``error``."""
    line: dict[str, Any] = {"path": str(path)}
    try:
        if not path.is_file():
            raise FrameSourceError(f"no such image file: {path}")
        image = load_gray(path, max_pixels=max_pixels)
    except FrameSourceError as exc:
        line["error"] = str(exc)
        return line
    line["width"], line["height"] = int(image.shape[1]), int(image.shape[0])
    try:
        if locator is None:
            ((name, decoder),) = decoders.items()
            found, ms = _timed(decoder, image)
            line.update(decoder=name, texts=_entries(found), ms=ms)
        else:
            results = {}
            for name, decoder in decoders.items():
                found, ms = _timed(decoder, image)
                results[name] = {"texts": _entries(found), "ms": ms}
            line["results"] = results
            line["zxing_located_unread"] = len(locator.read(image)[1])
    except ValueError as exc:  # a decoder refusing the image (its shape or size)
        line["error"] = f"cannot decode image {path}: {exc}"
    return line
