"""Which stories go into a combined output: feeds/tags, keyword and language filters, limit. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aggregator.models import StoryView


def _pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    alts = "|".join(re.escape(w.casefold()) for w in words if w.strip())
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)") if alts else None


def keep_story(
    story: StoryView,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    language: str | None = None,
) -> bool:
    """Keyword filters match whole words, case-insensitively, in the title and the text.

    A story whose language is unknown passes a language filter (most feeds never say).
    """
    lang = story.language
    if language and lang and not lang.lower().startswith(language.lower()):
        return False
    haystack = f"{story.title}\n{story.summary_html}\n{story.content_html}".casefold()
    inc, exc = _pattern(include), _pattern(exclude)
    if inc is not None and not inc.search(haystack):
        return False
    return not (exc is not None and exc.search(haystack))
