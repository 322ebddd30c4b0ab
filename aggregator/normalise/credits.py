"""The sources an entry credits as its origin: "Sumber: cnnindonesia.com", "Source: Reuters",
"This article originally appeared on x", or a bare domain closing the text.

Read once, when the entry is normalised, and stored with it: the representative election
points at the member from the credited source's feed without reading every member's text.
The same lines are furniture to the dedup stage, which imports these patterns.
"""

from __future__ import annotations

import re

# Attribution lines: "Sumber: x", "Source: Reuters", "This article originally appeared on x".
ATTRIBUTION = re.compile(
    r"^\W*(?:sumber|source|sources|via|credit|kredit|dikutip dari|disadur dari|"
    r"(?:this|the) (?:article|story|post) (?:was )?(?:first |originally )?"
    r"(?:appeared|published|ran)(?: on| in| at)?|"
    r"originally (?:appeared|published)(?: on| in| at)?|"
    r"artikel ini (?:telah )?(?:tayang|terbit|dimuat) (?:di|pada)|"
    r"(?:first )?published (?:on|by|in))\s*:?\s*(?P<src>.{2,120}?)\W*$",
    re.IGNORECASE,
)
BARE_DOMAIN = re.compile(r"^\W*([a-z0-9-]+(?:\.[a-z0-9-]+)+)\W*$", re.IGNORECASE)
_DOMAIN_IN = re.compile(r"\b([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})\b", re.IGNORECASE)
MAX_LINE = 200  # longer lines are paragraphs, not credits


def credits(text: str) -> tuple[str, ...]:
    """Sources a text names in an attribution line (domains or outlet names), lower-case."""
    found: list[str] = []
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    for i, line in enumerate(lines):
        if len(line) > MAX_LINE:
            continue
        m = ATTRIBUTION.match(line)
        if m:
            found.append(m.group("src").strip().lower())
        elif i >= len(lines) - 2 and (bare := BARE_DOMAIN.match(line)):
            found.append(bare.group(1).lower())
    out: list[str] = []
    for src in found:
        domains = _DOMAIN_IN.findall(src)
        out.extend(d.lower() for d in domains) if domains else out.append(src)
    return tuple(dict.fromkeys(out))
