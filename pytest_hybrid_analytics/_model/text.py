"""One helper per piece of wording, shared by every message, table and report the plugin writes.

>>> plural(1, "event"), plural(3, "person"), plural(2, "child", "children"), was(2)
('1 event', '3 persons', '2 children', 'were')
>>> clock(datetime(2026, 1, 2, 12, 0, 1, 250000)), clip("abcdef", 4), format_value("abc")
('12:00:01.250', 'abc…', "'abc'")
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "clip",
    "clock",
    "duration",
    "format_value",
    "json_for_html",
    "plural",
    "was",
]


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, with the plural when ``count`` is not one: ``"2 events"``.

    ``many`` is the plural where adding an ``s`` is wrong (``plural(n, "child", "children")``).
    """
    return f"{count} {word if count == 1 else (many or word + 's')}"


def was(count: int) -> str:
    """``"was"`` or ``"were"``, after :func:`plural`: ``f"{plural(n, 'event')} {was(n)} sent"``."""
    return "was" if count == 1 else "were"


def clock(moment: datetime, *, with_date: bool = False) -> str:
    """``12:00:01.250`` (with the date when asked), as every timeline shows a time."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S." if with_date else "%H:%M:%S.")
    return text + f"{moment.microsecond // 1000:03d}"


def clip(text: str, limit: int, *, counted: bool = False) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis; ``counted`` says how much was cut
    on a line of its own (for long messages rather than table cells)."""
    if len(text) <= limit:
        return text
    if counted:
        return text[:limit] + f"\n… ({len(text) - limit} more characters)"
    return text[: limit - 1] + "…"


def format_value(value: Any, limit: int = 40) -> str:
    """A property value as Python shows it, short enough for one line of a table."""
    return clip(repr(value), limit)


def duration(delta: timedelta) -> str:
    """How long ``delta`` is, in the unit a person reads it in: ``1.2 s``, ``3 h 05 min``."""
    seconds = abs(delta.total_seconds())
    if seconds < 120:
        return f"{seconds:.3g} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


def json_for_html(value: Any) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
