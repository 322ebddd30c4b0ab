"""Canonical URLs: one spelling per article, whatever tracking or mirror variant a feed used.

The canonical form is an identity key, never shown or fetched: the URL as published is kept
beside it. http and https are folded (to https), ``www.``/``m.``/``amp.`` host prefixes and AMP
path forms are dropped, tracking parameters removed, the rest of the query sorted.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that identify a campaign or a click, never the article (exact names).
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "twclid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_enc_id",
        "oly_anon_id",
        "vero_id",
        "rb_clickid",
        "s_cid",
        "cmpid",
        "ncid",
        "ocid",
        "spm",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "source",
        "src",
        "feature",
        "share",
        "via",
        "rss",
        "xtor",
        "__twitter_impression",
        "amp",
        "outputtype",
        "output",
        "platform",
        "from",
        "smid",
    }
)
# ...and prefixes of whole families (utm_source, utm_medium, pk_campaign, at_medium, ...).
TRACKING_PREFIXES = ("utm_", "pk_", "at_", "mtm_", "hmb_", "ga_", "itm_", "sc_")
HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
DEFAULT_PORTS = {"http": 80, "https": 443}
# AMP page forms: /amp/..., .../amp, ...amp.html, .amp
_AMP_SEGMENT = re.compile(r"/amp(?=/|$)", re.I)
_AMP_SUFFIX = re.compile(r"(?:\.amp(?:\.html?)?|-amp\.html?)$", re.I)


def _tracking(name: str) -> bool:
    n = name.lower()
    return n in TRACKING_PARAMS or n.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The identity form of ``url``; "" for an empty or non-http(s) URL."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower().rstrip(".")
    for prefix in HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    if port and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = _AMP_SUFFIX.sub("", _AMP_SEGMENT.sub("", parts.path)) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _tracking(k))
    return urlunsplit(("https", host, path, urlencode(query), ""))


def site_host(url: str | None) -> str:
    """Host of ``url`` without ``www.``/``m.``, lower-case; "" when there is none."""
    if not url:
        return ""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    for prefix in HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            return host[len(prefix) :]
    return host
