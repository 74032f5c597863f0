"""Deterministic synthetic images and the mask score (pure Python: nothing to package)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

SIDE = 16
PIXELS = SIDE * SIDE


def image(index: int) -> int:
    """Image ``index`` as a 256-bit integer (bit ``r * 16 + c`` is pixel (r, c))."""
    return random.Random(index).getrandbits(PIXELS)


def parse_mask(rows: Sequence[str]) -> tuple[int, int]:
    """A mask given as 16 strings of 16 characters: '1' must be set, '0' must be clear, '.' ignored.

    Returns (expected bits, care bits).
    """
    if len(rows) != SIDE or any(not isinstance(r, str) or len(r) != SIDE for r in rows):
        raise ValueError(f"mask: expected {SIDE} strings of {SIDE} characters from '01.'")
    bits = care = 0
    for r, row in enumerate(rows):
        for c, char in enumerate(row):
            position = 1 << (r * SIDE + c)
            if char == "1":
                bits |= position
                care |= position
            elif char == "0":
                care |= position
            elif char != ".":
                raise ValueError(f"mask: row {r} has {char!r}; expected only '0', '1' or '.'")
    if not care:
        raise ValueError("mask: no pixel to match (only '.')")
    return bits, care


def score(index: int, bits: int, care: int) -> float:
    """Fraction of the mask's pixels that image ``index`` matches, rounded to 6 places."""
    matched = (~(image(index) ^ bits) & care).bit_count()
    return round(matched / care.bit_count(), 6)


def top_k(matches: Iterable[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Best ``k`` matches: highest score first, lowest index first among equal scores."""
    return sorted(matches, key=lambda m: (-m["score"], m["index"]))[:k]


def search(start: int, end: int, mask_rows: Sequence[str], k: int, threshold: float = 0.0) -> list[dict[str, Any]]:
    """The best ``k`` images of [start, end) scoring at least ``threshold``."""
    bits, care = parse_mask(mask_rows)
    found = ({"index": i, "score": score(i, bits, care)} for i in range(start, end))
    return top_k((m for m in found if m["score"] >= threshold), k)
