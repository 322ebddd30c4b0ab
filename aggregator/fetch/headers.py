"""Pure helpers for HTTP caching headers: Retry-After, Cache-Control, Expires."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def parse_http_date(value: str) -> datetime | None:
    """RFC 9110 HTTP-date (and the obsolete forms email.utils understands), as UTC."""
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """Retry-After as an absolute UTC time: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return now + timedelta(seconds=int(v))
    when = parse_http_date(v)
    if when is None:
        return None
    return max(when, now)


_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)\"?", re.I)


def cache_lifetime(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """How long the server says the response stays fresh, or None when it does not say.

    ``Cache-Control: max-age`` (s-maxage preferred, as we are a shared cache of sorts) wins over
    ``Expires`` (RFC 9111 §5.3); ``no-cache``/``no-store`` mean zero.
    """
    cc = headers.get("cache-control", "")
    if re.search(r"(?:^|,)\s*(no-cache|no-store)\b", cc, re.I):
        return timedelta(0)
    ages = {k.lower(): int(v) for k, v in _MAX_AGE.findall(cc)}
    if ages:
        return timedelta(seconds=ages.get("s-maxage", ages.get("max-age", 0)))
    expires = headers.get("expires")
    if expires:
        when = parse_http_date(expires)
        if when is None:
            return timedelta(0)  # RFC 9111: an invalid Expires means "already expired"
        return max(when - now, timedelta(0))
    return None
