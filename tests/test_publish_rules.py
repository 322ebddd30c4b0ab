"""The combined feeds obey their formats: Atom 1.0 (RFC 4287), RSS 2.0, JSON Feed 1.1 + contract."""

from __future__ import annotations

import email.utils
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import feedparser
from lxml import etree

from aggregator.models import MemberView, OutputMeta, StoryView
from aggregator.publish import render

ATOM = "{http://www.w3.org/2005/Atom}"
T = datetime(2024, 8, 12, 7, 5, tzinfo=UTC)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def story(n: int, members: int = 2) -> StoryView:
    rep = MemberView(
        n * 10,
        f"https://www.cnnindonesia.com/nasional/{n}?utm_source=rss",
        "https://www.cnnindonesia.com/nasional/rss",
        "CNN Indonesia",
        f"Judul <b>{n}</b> & AT&T",
        T,
        "first",
        None,
        True,
    )
    others = tuple(
        MemberView(
            n * 10 + i,
            f"https://kabar.example.id/{n}-{i}",
            "https://kabar.example.id/rss",
            "Kabar & Co",
            f"Salinan {i}",
            T + timedelta(hours=i),
            "similar:reworded",
            0.8312,
            False,
        )
        for i in range(1, members)
    )
    return StoryView(
        story_id=n,
        key=f"urn:uuid:00000000-0000-0000-0000-{n:012d}",
        title=f"Judul <b>{n}</b> & AT&T",
        url=rep.url,
        content_html='<p>Isi berita \x0b dengan <a href="https://a.example/">tautan</a>.</p>',
        summary_html="<p>Ringkasan.</p>",
        published=T - timedelta(minutes=n),
        updated=T + timedelta(hours=1),
        author="Redaksi",
        feed_title="CNN Indonesia",
        feed_url="https://www.cnnindonesia.com/nasional/rss",
        members=(rep, *others),
        sources=("CNN Indonesia", "Kabar & Co"),
        language="id",
    )


META = OutputMeta(
    "all",
    "Semua berita",
    "Satu item per cerita",
    "http://127.0.0.1:8080/",
    "http://127.0.0.1:8080/feeds/all.atom",
    T + timedelta(hours=2),
)
STORIES = [story(1, 3), story(2, 1), story(3, 2)]


def absolute(url: str) -> bool:
    p = urlsplit(url)
    return p.scheme in ("http", "https") and bool(p.netloc)


def test_atom_follows_rfc4287() -> None:
    data = render("atom", META, STORIES)
    assert b'type="CDATA"' not in data and b"\x0b" not in data
    root = etree.fromstring(data)
    assert root.tag == ATOM + "feed"
    for tag in ("id", "title", "updated", "author"):
        assert root.find(ATOM + tag) is not None, tag
    assert root.findtext(ATOM + "updated") == "2024-08-12T09:05:00+00:00"  # the newest change, not "now"
    entries = root.findall(ATOM + "entry")
    assert len(entries) == 3
    ids = [e.findtext(ATOM + "id") for e in entries]
    assert ids == [s.key for s in STORIES] and len(set(ids)) == 3  # input order, unique
    for e, s in zip(entries, STORIES, strict=True):
        assert urlsplit(e.findtext(ATOM + "id") or "").scheme  # an IRI
        for tag in ("title", "updated", "published"):
            assert e.find(ATOM + tag) is not None
        assert RFC3339.match(e.findtext(ATOM + "updated") or "")
        links = e.findall(ATOM + "link")
        assert all(absolute(link.get("href", "")) for link in links)
        alternate = [link for link in links if link.get("rel", "alternate") == "alternate"]
        assert [link.get("href") for link in alternate] == [s.url]
        assert len([link for link in links if link.get("rel") == "related"]) == len(s.members) - 1
        assert e.find(ATOM + "content").get("type") == "html"
        assert e.find(ATOM + "source") is not None
    assert entries[0].findtext(ATOM + "title") == "Judul <b>1</b> & AT&T"  # escaped, round-trips


def test_rss_follows_rss2() -> None:
    data = render("rss", META, STORIES)
    root = etree.fromstring(data)
    channel = root.find("channel")
    assert root.tag == "rss" and root.get("version") == "2.0" and channel is not None
    for tag in ("title", "link", "description"):
        assert channel.findtext(tag)
    assert email.utils.parsedate_to_datetime(channel.findtext("lastBuildDate") or "") == META.updated
    items = channel.findall("item")
    guids = [i.findtext("guid") for i in items]
    assert guids == [s.key for s in STORIES] and len(set(guids)) == 3
    for item, s in zip(items, STORIES, strict=True):
        assert item.find("guid").get("isPermaLink") == "false"
        assert item.findtext("link") == s.url and absolute(s.url)
        assert email.utils.parsedate_to_datetime(item.findtext("pubDate") or "") == s.published
        source = item.find("source")
        assert source is not None and absolute(source.get("url", ""))
        if len(s.members) > 1:
            assert "Also in" in (item.findtext("description") or "")


def test_json_feed_contract() -> None:
    doc = json.loads(render("json", META, STORIES))
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    for item, s in zip(doc["items"], STORIES, strict=True):
        assert item["id"] == s.key and item["url"] == s.url  # query string kept as published
        agg = item["_aggregator"]
        assert agg["story_id"] == s.story_id and agg["sources"] == list(s.sources)
        assert [m["url"] for m in agg["members"]] == [m.url for m in s.members]
        for m in agg["members"]:
            assert {"url", "feed_url", "title", "published", "match", "similarity"} <= set(m)
            assert RFC3339.match(m["published"])
        assert agg["members"][0]["representative"] is True


def test_outputs_are_deterministic_and_reparse() -> None:
    for fmt in ("atom", "rss", "json"):
        assert render(fmt, META, STORIES) == render(fmt, META, STORIES)
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(render(fmt, META, STORIES))
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert [e.link for e in parsed.entries] == [s.url for s in STORIES]
