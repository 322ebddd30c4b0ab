"""Date handlers feedparser lacks: Indonesian month/day names and zone abbreviations.

feedparser reads a trailing ``WIB`` (UTC+7) as UTC — seven hours off — and knows no Indonesian
month names (``12 Agustus 2024``, ``Senin, 12 Agu 2024 14:05 WIB``). These handlers are
registered once, at import, with ``feedparser.registerDateHandler``; they return a UTC
``time.struct_time`` or None so feedparser tries its own handlers next.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime, timedelta, timezone

import feedparser

MONTHS = {
    "januari": 1,
    "jan": 1,
    "februari": 2,
    "feb": 2,
    "pebruari": 2,
    "maret": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "mei": 5,
    "juni": 6,
    "jun": 6,
    "juli": 7,
    "jul": 7,
    "agustus": 8,
    "agu": 8,
    "agt": 8,
    "ags": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "oktober": 10,
    "okt": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "nopember": 11,
    "desember": 12,
    "des": 12,
    "dec": 12,
    "may": 5,
}
# Zone abbreviations with their UTC offsets in hours: Indonesia's three zones.
ZONES = {"wib": 7, "wita": 8, "wit": 9}
DAYS = r"(?:senin|selasa|rabu|kamis|jumat|jum'at|sabtu|minggu|ahad|mon|tue|wed|thu|fri|sat|sun)\w*"

_PATTERN = re.compile(
    rf"^\s*(?:{DAYS}\s*,?\s*)?(\d{{1,2}})\s+([a-z]+)\.?\s+(\d{{4}})"
    r"(?:\s*,?\s*(?:pukul\s+)?(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?"
    r"\s*(wib|wita|wit|gmt|utc|z|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE,
)


def _offset(zone: str | None) -> timezone:
    if not zone:
        # Indonesian-named dates without a zone are, in practice, Western Indonesian Time.
        return timezone(timedelta(hours=7))
    z = zone.lower()
    if z in ZONES:
        return timezone(timedelta(hours=ZONES[z]))
    if z in ("gmt", "utc", "z"):
        return UTC
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def parse_local_date(value: str) -> datetime | None:
    """A date in Indonesian or with an Indonesian zone abbreviation, as aware UTC; else None."""
    m = _PATTERN.match(value)
    if not m:
        return None
    day, month_name, year, hh, mm, ss, zone = m.groups()
    month = MONTHS.get(month_name.lower())
    if month is None:
        return None
    if zone is None and month_name.lower() in (
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "oct",
        "nov",
        "dec",
        "may",
    ):
        return None  # plain English RFC 822 without zone: feedparser's own handlers decide
    try:
        local = datetime(
            int(year), month, int(day), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=_offset(zone)
        )
    except ValueError:
        return None
    return local.astimezone(UTC)


def _handler(value: str) -> time.struct_time | None:
    parsed = parse_local_date(value)
    return parsed.utctimetuple() if parsed else None


_ZONE_SUFFIX = re.compile(r"\s+(WIB|WITA|WIT)\s*$", re.IGNORECASE)


def _zone_handler(value: str) -> time.struct_time | None:
    """RFC 822-style dates ending in WIB/WITA/WIT: rewrite the zone as an offset, reparse."""
    m = _ZONE_SUFFIX.search(value)
    if not m:
        return None
    hours = ZONES[m.group(1).lower()]
    fixed = value[: m.start()] + f" +{hours:02d}00"
    parsed = feedparser.datetimes._parse_date(fixed)
    return parsed if parsed else _handler(value)


def parse_any(value: str) -> datetime | None:
    """Any date feedparser can read (ours included), as aware UTC; None when unreadable."""
    try:
        parsed = feedparser.datetimes._parse_date(value)
    except (ValueError, OverflowError, TypeError):
        return None
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def register() -> None:
    """Register our handlers (idempotent); later registrations are tried first by feedparser."""
    handlers = feedparser.datetimes._date_handlers
    for handler in (_handler, _zone_handler):
        if handler not in handlers:
            feedparser.registerDateHandler(handler)
