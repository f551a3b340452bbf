"""Quoting what a user supplied inside a message, at a bounded length.

A message echoes the value it refuses so the user can find it, but a 48 MB CSV cell or a list of
300,000 tensor names must not become a 50 MB error: every message quotes user values through here.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

MAX_QUOTE_CHARS = 120   # one quoted value
MAX_LISTED = 8          # items of a quoted list


def quote(value: Any, limit: int = MAX_QUOTE_CHARS) -> str:
    """`repr(value)`, cut to about `limit` characters with a note of how long it was."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"an integer of {int(math.log10(abs(value))) + 1:,} digits"  # str() refuses over 4,300 digits
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def quote_list(items: Iterable[Any], limit: int = MAX_LISTED) -> str:
    """Up to `limit` quoted items, comma-separated, then how many more there are."""
    items = list(items)
    shown = ", ".join(quote(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit:,} more" if len(items) > limit else "")
