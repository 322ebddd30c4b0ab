"""Which stories go into a combined output: feeds/tags, keyword and language filters, limit. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

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
    story_language: str | None = None,
) -> bool:
    """Keyword filters match whole words, case-insensitively, in the title and the text."""
    if language and story_language and not story_language.lower().startswith(language.lower()):
        return False
    haystack = f"{story.title}\n{story.summary_html}\n{story.content_html}".casefold()
    inc, exc = _pattern(include), _pattern(exclude)
    if inc is not None and not inc.search(haystack):
        return False
    return not (exc is not None and exc.search(haystack))


def take(stories: Iterable[StoryView], limit: int | None) -> list[StoryView]:
    out: list[StoryView] = []
    for s in stories:
        if limit is not None and len(out) >= limit:
            break
        out.append(s)
    return out
