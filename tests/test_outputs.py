"""Output filters: whole-word keywords in title and text, language."""

from __future__ import annotations

from datetime import UTC, datetime

from aggregator.models import StoryView
from aggregator.publish.filters import keep_story

T = datetime(2024, 8, 12, tzinfo=UTC)


def story(title: str, body: str, language: str | None = "id") -> StoryView:
    return StoryView(
        1,
        "urn:x",
        title,
        "https://a.example/1",
        f"<p>{body}</p>",
        "",
        T,
        T,
        None,
        "A",
        "https://a.example/rss",
        (),
        (),
        language,
    )


def test_include_exclude_whole_words_any_case() -> None:
    s = story("Banjir di Bekasi", "Hujan deras sejak pagi.")
    assert keep_story(s, include=["banjir"])
    assert not keep_story(s, include=["banj"])  # whole words only
    assert keep_story(s, include=["gempa", "HUJAN"])
    assert not keep_story(s, exclude=["bekasi"])
    assert keep_story(s, include=["banjir"], exclude=["iklan"])


def test_language_filter() -> None:
    assert keep_story(story("x", "y", "id-ID"), language="id")
    assert not keep_story(story("x", "y", "en"), language="id")
    assert keep_story(story("x", "y", None), language="id")  # unknown language is kept
