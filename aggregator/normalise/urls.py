"""Canonical URLs: one spelling per article, whatever tracking or mirror variant a feed used.

The canonical form is an identity key, never shown or fetched: the URL as published is kept
beside it. It may therefore fold things a browser would keep apart (http and https, ``www.``,
the AMP copy and the article) as long as two *different* articles never fold together.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

# Query parameters that identify a campaign, a click or a referrer, never the article.
# Exact names (compared lower-case):
TRACKING_PARAMS = frozenset(
    {
        # click identifiers of ad and social platforms
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "dclid",  # Google Display
        "gbraid",  # Google Ads (iOS, app → web)
        "wbraid",  # Google Ads (iOS, web → app)
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "igshid",  # Instagram share
        "twclid",  # Twitter/X Ads
        "rb_clickid",  # Rakuten
        "__twitter_impression",  # Twitter embeds
        # mailing and marketing automation
        "mc_cid",  # Mailchimp campaign
        "mc_eid",  # Mailchimp subscriber
        "_hsenc",  # HubSpot
        "_hsmi",  # HubSpot
        "mkt_tok",  # Marketo
        "vero_id",  # Vero
        "oly_enc_id",  # Omeda
        "oly_anon_id",  # Omeda
        # analytics cross-domain and campaign ids
        "_ga",  # Google Analytics linker
        "_gl",  # Google Analytics linker
        "s_cid",  # Adobe Analytics
        "cmpid",  # campaign id (many publishers)
        "ncid",  # Yahoo / AOL
        "ocid",  # Microsoft Start / MSN
        "spm",  # Alibaba family (also some news portals)
        "xtor",  # AT Internet
        "smid",  # New York Times share
        # referrer and "came from a feed" markers
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "source",  # ?source=rss
        "rss",  # ?rss=1
        "from",  # ?from=rss
        "via",
        "share",
        "feature",  # YouTube ?feature=share
    }
)
# ...and whole families by prefix (utm_source, utm_medium, at_medium, pk_campaign, ...).
TRACKING_PREFIXES = (
    "utm_",  # Google Analytics campaign parameters
    "at_",  # AT Internet / Piano campaign parameters
    "pk_",  # Piwik
    "mtm_",  # Matomo
    "hmb_",  # HubSpot / Bitly
    "itm_",  # internal tracking on many news sites
    "ga_",  # Google Analytics variants
)
# Parameters that only switch to the AMP rendering of the same article: ?amp, ?amp=1, ?outputType=amp.
AMP_PARAMS = frozenset({"amp", "amp_js_v", "usqp"})
# Host prefixes of mirrors of the same site: www., mobile (m., mobile.) and AMP (amp.) editions.
HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
DEFAULT_PORTS = {"http": 80, "https": 443}
# AMP path forms, in the order applied:
#   /amp/news/x, /news/amp/x, /news/x/amp  → the /amp segment is dropped
#   /news/x.amp.html                        → /news/x.html
#   /news/x.amp                             → /news/x
_AMP_SEGMENT = re.compile(r"/amp(?=/|$)", re.I)
_AMP_HTML = re.compile(r"\.amp(\.html?)$", re.I)
_AMP_SUFFIX = re.compile(r"\.amp$", re.I)
# AMP caches serve a copy under their own host: google.com/amp/s/HOST/PATH (https) or
# /amp/HOST/PATH (http), and CDN.ampproject.org/c/s/HOST/PATH (also /v/s/, /i/s/).
_AMP_CACHE = re.compile(r"^/(?:amp|[cvi])/(s/)?(.+)$")


def _is_tracking(pair: str) -> bool:
    name = unquote_plus(pair.split("=", 1)[0]).strip().lower()
    return name in TRACKING_PARAMS or name in AMP_PARAMS or name.startswith(TRACKING_PREFIXES)


def _strip_host_prefix(host: str) -> str:
    for prefix in HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            return host[len(prefix) :]
    return host


def _unwrap_amp_cache(host: str, path: str) -> str | None:
    """The original URL behind an AMP cache URL, or None when ``host`` is no AMP cache."""
    is_google = re.fullmatch(r"(?:www\.)?google\.[a-z.]+", host) and path.startswith("/amp/")
    if not (is_google or host.endswith(".cdn.ampproject.org")):
        return None
    m = _AMP_CACHE.match(path)
    if not m or "." not in m.group(2).split("/", 1)[0]:
        return None
    return ("https://" if m.group(1) else "http://") + m.group(2)


def _amp_path(path: str) -> str:
    path = _AMP_SEGMENT.sub("", path)
    path = _AMP_HTML.sub(r"\1", path)
    return _AMP_SUFFIX.sub("", path)


def canonical_url(url: str) -> str:
    """The identity form of ``url``; "" for an empty, unreadable or non-http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return ""
    host = parts.hostname.lower().rstrip(".")
    original = _unwrap_amp_cache(host, parts.path)
    if original is not None:
        return canonical_url(original + (f"?{parts.query}" if parts.query else ""))
    host = _strip_host_prefix(host)
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", _amp_path(parts.path)) or "/"
    if len(path) > 1:
        path = path.rstrip("/")  # /news/x/ and /news/x are the same article on every CMS we know
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    # w3lib sorts the remaining parameters and normalises percent-encoding.
    try:
        return canonicalize_url(urlunsplit(("https", host, path, query, "")), keep_blank_values=True)
    except ValueError:  # a host or port w3lib cannot read: not an article URL we can key on
        return ""


def site_host(url: str | None) -> str:
    """Host of ``url`` without ``www.``/``m.``/``mobile.``/``amp.``, lower-case; "" when none."""
    if not url:
        return ""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    return _strip_host_prefix(host)


def is_variant_url(url: str) -> bool:
    """Whether ``url`` is a derived spelling of an article's URL: an AMP copy (path, host or
    cache), a mobile edition, or one carrying tracking parameters. The main URL is the better
    one to show when both were published."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if _unwrap_amp_cache(host, parts.path) is not None or _amp_path(parts.path) != parts.path:
        return True
    if host.startswith(("m.", "mobile.", "amp.")) and host.count(".") >= 2:
        return True
    return any(p and _is_tracking(p) for p in parts.query.split("&"))
