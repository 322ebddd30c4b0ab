"""Headline-only and short entries: joined to the story whose headline they carry, kept apart
from another day's recurring report; and ``aggregator explain`` saying which title signals decided.

Texts: the IndoSum story of tests/data/dedup/indosum_cluster.json (CC BY-SA 4.0) and the invented
English items of tests/data/dedup/headlines_en.json. The headline feeds are made here from their
titles, the way news-search and link feeds dress them: a publisher suffix or prefix, a bracket,
generic dressing words, a link of their own (a redirect id, or a slug spelling the headline).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.dedup import DedupDoc, DedupSettings, Engine
from aggregator.dedup.titles import (
    TEMPLATE_HOURS,
    affix_key,
    affixes,
    headline,
    is_dressing,
    judge,
    recurs,
    slug_words,
)
from aggregator.models import MatchKind
from tests.conftest import DATA
from tests.feedfiles import paragraphs, rss
from tests.httpserver import LocalServer
from tests.test_cli import FIXTURE, cli, export_json, write_config

EN: dict[str, Any] = json.loads((DATA / "dedup" / "headlines_en.json").read_text(encoding="utf-8"))
STYLES = {  # how four kinds of headline feed dress a title
    "dash": "{title} - Warta Kilat",
    "pipe": "{title} | Headline Hub",
    "colon": "NewsBrief: {title}",
    "paren": "{title} (Sorotan Harian)",
}
PUBLISHERS = {"dash": "Warta Kilat", "pipe": "Headline Hub", "colon": "NewsBrief", "paren": "Sorotan Harian"}


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def report(day: dict[str, str]) -> str:
    text: str = EN["report"]["text"].format(**day)
    return text


# ------------------------------------------------------------------------------ titles, pure


def test_affixes_learned_or_generic_are_stripped_and_nothing_else() -> None:
    title = "Pimpinan KPK Tunggu Rekomendasi Sanksi untuk Aris Budiman"
    bare = headline(title)
    for style, pattern in STYLES.items():
        dressed = pattern.format(title=title)
        key = affix_key(PUBLISHERS[style])
        assert key in {affix_key(a.text) for a in affixes(dressed)}  # counted per feed
        learned = headline(dressed, {key}.__contains__)
        assert learned.words == bare.words and learned.dropped == (PUBLISHERS[style],), dressed
        unlearned = headline(dressed)
        assert not unlearned.dropped and len(unlearned.words) > len(bare.words)  # the name stays
    for prefix in ("VIDEO: ", "BREAKING NEWS - ", "[FOTO] ", "HEBOH! ", "Fakta-fakta "):
        h = headline(prefix + title)
        assert h.words == bare.words, prefix
    assert headline(title + ", sources say").words == bare.words
    # a long segment before a colon is part of the headline, whatever the feed learned
    long = "Ketua KPK Agus Rahardjo Kepada Wartawan di Jakarta: Pimpinan Tunggu Rekomendasi"
    assert not headline(long, lambda k: True).dropped
    assert is_dressing("Breaking News") and not is_dressing("Warta Kilat")


def test_trimmed_and_wrapped_titles_agree_other_subjects_and_figures_do_not() -> None:
    full = headline("Ferry Operator Adds Night Crossings to Island Route")
    near = 2.0
    assert judge(headline("FERRY OPERATOR ADDS NIGHT CROSSINGS TO ISLAND ROUTE"), full, near, False).same
    assert judge(headline("Ferry Operator Adds Night Crossings, sources say"), full, near, False).same
    assert not judge(headline("Ferry Operator Cuts Night Crossings on Coast Route"), full, near, False).same
    # the same template about another company: the one word that differs is the subject
    a = headline("oe Inc 4th Qtr Net")
    b = headline("Healthco International Inc 4th Qtr Net")
    assert not judge(a, b, near, False).same
    quake_a, quake_b = headline("Gempa 6,6 SR Guncang Rusia"), headline("Gempa 5,2 SR Guncang Rusia")
    assert judge(quake_a, quake_b, near, False).method == "numbers-differ"
    # too far apart in time, and a template only within TEMPLATE_HOURS
    assert judge(full, full, 48.0, False).method == "too-far-apart"
    assert judge(full, full, TEMPLATE_HOURS + 1, True).method == "template-title"
    assert judge(full, full, 3.0, True).same


def test_recurrence_and_slug() -> None:
    assert recurs([0.0, 23 * 3600.0], [1])  # a day later, a little early
    assert recurs([0.0, 3600.0], [1, 2])  # in two stories
    assert not recurs([0.0, 3600.0], [1])
    assert not recurs([0.0], [])
    slug = slug_words("https://x.example/2024/05/06/ferry-operator-adds-night-crossings/?utm=1")
    assert slug and slug <= set(headline("Ferry operator adds night crossings").words)
    assert not slug_words("https://news.example/rss/articles/CBMiQ2h0dHBzOi8v?oc=5")


# ------------------------------------------------------------------------------ the engine


class Run:
    """The caller's part around the engine, as the live pipeline does it: learn the feed's
    boilerplate and title affixes, prepare the batch, supply texts, decide, place, commit."""

    def __init__(self, **settings: Any) -> None:
        self.engine = Engine(DedupSettings(**settings))
        self.docs: dict[int, DedupDoc] = {}
        self.story: dict[int, int] = {}
        self.kind: dict[int, MatchKind] = {}

    def feed(self, docs: list[DedupDoc]) -> None:
        from dataclasses import replace

        e = self.engine
        e.boilerplate.observe(docs[0].feed_id, [d.text for d in docs], [d.title for d in docs])
        self.docs.update({d.entry_id: d for d in docs})
        prepared = e.prepare(docs)
        placing = prepared.supply(replace(self.docs[i], story_id=self.story.get(i)) for i in prepared.needs)
        for slot in placing:
            d = slot.decide()
            story = d.story_id if d.story_id is not None else slot.doc.entry_id
            slot.place(story)
            self.story[slot.doc.entry_id], self.kind[slot.doc.entry_id] = story, d.kind
        placing.commit()


def indosum(start: int) -> list[DedupDoc]:
    from tests.test_dedup import docs

    return docs(start=start)


def headline_feed(
    feed_id: int, style: str, originals: list[DedupDoc], start: int, lag: float
) -> list[DedupDoc]:
    """A headline-only feed linking to ``originals`` under links of its own."""
    out = []
    for n, o in enumerate(originals):
        title = STYLES[style].format(title=o.title)
        url = f"https://{style}.example/r/{abs(hash((style, o.entry_id))) % 10**9}"
        out.append(DedupDoc(start + n, feed_id, title, "", o.time + timedelta(hours=lag), url=url))
    return out


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("headline_first", [False, True])
def test_headline_only_entries_join_their_story_in_any_order(style: str, headline_first: bool) -> None:
    run = Run()
    articles = indosum(1)
    originals = [d for d in articles if d.feed_id in (1, 2, 3, 4)]  # CNN Indonesia, Kumparan
    originals = list({d.title: d for d in originals}.values())
    heads = headline_feed(99, style, originals, 1000, -1.0 if headline_first else 1.0)
    batches = [heads, articles] if headline_first else [articles, heads]
    for batch in batches:
        by_feed: dict[int, list[DedupDoc]] = {}
        for d in batch:
            by_feed.setdefault(d.feed_id, []).append(d)
        for docs in by_feed.values():
            run.feed(docs)
    for h, o in zip(heads, originals, strict=True):
        assert run.story[h.entry_id] == run.story[o.entry_id], (style, h.title)
    # the stories are what they were without the headlines: the five apart, the copies together
    texts = {run.story[d.entry_id] for d in articles}
    assert len(texts) == 5
    # an entry with text that reached a headline-only story by its headline is marked so
    kinds = {run.kind[d.entry_id] for d in (articles if headline_first else heads)}
    assert MatchKind.HEADLINE in kinds


def test_headline_entries_stay_apart_when_switched_off() -> None:
    run = Run(headlines=False)
    articles = indosum(1)
    heads = headline_feed(99, "dash", articles[:1], 1000, 1.0)
    run.feed([d for d in articles if d.feed_id == articles[0].feed_id])
    run.feed(heads)
    assert run.story[heads[0].entry_id] == heads[0].entry_id


def english(start: int) -> tuple[list[DedupDoc], list[DedupDoc]]:
    """The two stories (each its own feed) and the three daily reports (one feed)."""
    stories = [
        DedupDoc(start + n, 10 + n, s["title"], s["text"], when(s["published"]), url=s["url"])
        for n, s in enumerate(EN["stories"])
    ]
    title = EN["report"]["title"]
    reports = [
        DedupDoc(
            start + 10 + n,
            20,
            title,
            report(day),
            when(day["published"]),
            url=f"https://wire.example/cocoa/{n}",
        )
        for n, day in enumerate(EN["report"]["days"])
    ]
    return stories, reports


def test_recurring_reports_kept_apart_and_joined_only_the_same_day() -> None:
    run = Run()
    stories, reports = english(1)
    for s in stories:
        run.feed([s])
    for r in reports:
        run.feed([r])
    assert len({run.story[r.entry_id] for r in reports}) == 3  # three days, three reports
    # a market-news feed carries each day's report as a headline two hours later...
    wire = [
        DedupDoc(
            100 + n,
            30,
            f"{r.title} - Market Wire",
            "",
            r.time + timedelta(hours=2),
            url=f"https://mw.example/{n}",
        )
        for n, r in enumerate(reports)
    ]
    run.feed(wire)
    for w, r in zip(wire, reports, strict=True):
        assert run.story[w.entry_id] == run.story[r.entry_id]
    # ...and a headline a day after the last report has no report of its own: it stays apart
    late = DedupDoc(
        200,
        30,
        f"{reports[0].title} - Market Wire",
        "",
        reports[-1].time + timedelta(hours=24),
        url="https://mw.example/late",
    )
    run.feed([late])
    assert run.story[late.entry_id] == late.entry_id
    # a short item (title and one sentence) joins the story it names
    first = stories[0]
    lead = first.text.split(". ")[0] + "."
    short = DedupDoc(300, 31, "JUST IN: " + first.title.upper(), lead, first.time + timedelta(hours=1))
    run.feed([short])
    assert run.story[short.entry_id] == run.story[first.entry_id]


# ------------------------------------------------------------------------------ the real CLI


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def test_cli_joins_headline_feeds_keeps_the_article_and_explains(server: LocalServer, tmp_path: Path) -> None:
    cluster = [e for e in FIXTURE["entries"] if e["cluster"] == "id-00153"]
    original = next(e for e in cluster if e["role"] == "original")
    articles = [original, *(e for e in FIXTURE["entries"] if e["cluster"] != "id-00153")]
    feeds = [
        (
            server.serve_bytes("/publisher.rss", rss("Publisher", "https://publisher.example/", articles)),
            "Publisher",
        )
    ]
    en = [
        {
            "title": s["title"],
            "url": s["url"],
            "guid": s["url"],
            "published": s["published"],
            "content_html": paragraphs(s["text"]),
        }
        for s in EN["stories"]
    ]
    feeds.append(
        (server.serve_bytes("/english.rss", rss("English", "https://english.example/", en)), "English")
    )
    headline_urls: dict[str, dict[str, str]] = {}
    for style, pattern in STYLES.items():
        items = []
        for n, a in enumerate([*articles, *en]):
            url = (
                f"https://{style}.example/read/{slug(a['title'])}"
                if style == "pipe"
                else f"https://{style}.example/rss/articles/CBMi{n}{style}?oc=5"
            )
            published = (datetime.fromisoformat(a["published"]) + timedelta(hours=1)).isoformat()
            items.append(
                {"title": pattern.format(title=a["title"]), "url": url, "guid": url, "published": published}
            )
            headline_urls.setdefault(a["url"], {})[style] = url
        feeds.append(
            (server.serve_bytes(f"/{style}.rss", rss(style, f"https://{style}.example/", items)), style)
        )
    config = write_config(tmp_path, feeds)
    result = cli(config, "poll")
    assert result.exit_code == 0, result.output
    doc = export_json(config)
    by_url = {i["url"]: i for i in doc["items"]}
    for article_url, heads in headline_urls.items():
        item = by_url[article_url]  # the full article represents its story
        members = {m["url"] for m in item["_aggregator"]["members"]}
        assert set(heads.values()) <= members, item["title"]
        assert item["content_html"]
    # every story is its article and the four headlines: the earthquakes and markets stay apart
    assert len(doc["items"]) == len(articles) + len(en)
    for e in [*articles, *en]:
        assert len(by_url[e["url"]]["_aggregator"]["members"]) == 1 + len(STYLES)

    out = cli(config, "explain", original["url"], headline_urls[original["url"]]["dash"])
    assert out.exit_code == 0, out.output
    assert "same story now: yes" in out.output
    assert "verdict: same story (headline" in out.output
    assert 'affix stripped from the second title: "Warta Kilat"' in out.output
    assert "decided by the headline: same story" in out.output
    slugged = cli(config, "explain", headline_urls[original["url"]]["pipe"], original["url"])
    assert "slug: a link spells 100% of the other headline's words" in slugged.output
    apart = cli(config, "explain", EN["stories"][0]["url"], headline_urls[original["url"]]["paren"])
    assert "verdict: different" in apart.output and "not joined: the titles share fewer" in apart.output


def test_cli_explain_names_a_template_title(server: LocalServer, tmp_path: Path) -> None:
    days = EN["report"]["days"]
    reports = [
        {
            "title": EN["report"]["title"],
            "url": f"https://wire.example/cocoa/{n}",
            "guid": f"c{n}",
            "published": d["published"],
            "content_html": paragraphs(report(d)),
        }
        for n, d in enumerate(days)
    ]
    heads = [
        {
            "title": f"{EN['report']['title']} - Market Wire",
            "url": f"https://mw.example/{n}",
            "guid": f"h{n}",
            "published": (datetime.fromisoformat(d["published"]) + timedelta(hours=15)).isoformat(),
        }
        for n, d in enumerate(days)
    ]
    feeds = [
        (server.serve_bytes("/wire.rss", rss("Wire", "https://wire.example/", reports)), "Wire"),
        (server.serve_bytes("/mw.rss", rss("Market Wire", "https://mw.example/", heads)), "Market Wire"),
    ]
    config = write_config(tmp_path, feeds)
    assert cli(config, "poll").exit_code == 0
    doc = export_json(config)
    assert len(doc["items"]) == 6  # each headline 15 h after its report: too late for a template
    out = cli(config, "explain", "https://mw.example/2", "https://wire.example/cocoa/2")
    assert "verdict: different" in out.output
    assert "template title: its words, figures aside, recur in" in out.output
    assert f"not joined: a template title joins only a report within {TEMPLATE_HOURS:g} h" in out.output
