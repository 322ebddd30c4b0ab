"""Bounds on what one feed document may put in the database.

Feeds are written by strangers: a 5 MB title or 100,000 entries is cut to size, not stored.
"""

from __future__ import annotations

import re

MAX_TITLE = 1_000  # characters
MAX_HTML = 1_000_000  # characters of content or summary, each
MAX_ENTRIES = 10_000  # per document
MAX_FIELD = 2_048  # URLs, GUIDs, author names

# Characters XML 1.0 does not allow; they would make our own Atom/RSS output invalid.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    return _ILLEGAL.sub("", text)


def cut_title(text: str) -> str:
    text = clean(text).strip()
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1].rstrip() + "…"


def cut_html(text: str) -> str:
    return clean(text)[:MAX_HTML]


def cut_field(text: str | None) -> str | None:
    return clean(text).strip()[:MAX_FIELD] if text else None
