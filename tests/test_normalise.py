"""normalise: canonical URLs, the HTML sanitiser, HTML → text, dates, identity keys."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from aggregator.models import Entry, ParsedEntry, ParsedFeed
from aggregator.normalise import (
    canonical_url,
    effective_published,
    html_to_text,
    normalise_entry,
    normalise_feed,
    sanitise_html,
    site_host,
    text_fingerprint,
)

ARTICLE = "https://cnnindonesia.com/nasional/20240506-92-1157232/polisi-urai-kasus"
NOW = datetime(2024, 8, 13, 12, 0, tzinfo=UTC)
BODY = (
    "<p>Jakarta, CNN Indonesia -- Lembaga kepolisian dianggap Koordinator Indonesian Corruptor "
    "Watch (ICW) Adnan Topan Husodo tak mampu menghadapi halangan dalam penanganan kasus.</p>"
)


# --------------------------------------------------------------------------- canonical URLs
@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (ARTICLE, ARTICLE),
        ("http://www.CNNIndonesia.com/nasional/20240506-92-1157232/polisi-urai-kasus", ARTICLE),
        ("HTTPS://m.cnnindonesia.com:443/nasional/20240506-92-1157232/polisi-urai-kasus/", ARTICLE),
        (
            "http://mobile.cnnindonesia.com:80/nasional/20240506-92-1157232/polisi-urai-kasus#komentar",
            ARTICLE,
        ),
        (ARTICLE + "?utm_source=twitter&utm_medium=social&UTM_Campaign=x", ARTICLE),
        (ARTICLE + "?fbclid=IwAR0&gclid=1&dclid=2&gbraid=3&wbraid=4&msclkid=5&yclid=6&igshid=7", ARTICLE),
        (ARTICLE + "?mc_cid=1&mc_eid=2&_ga=3&_gl=4&ref=tw&ref_src=twsrc&cmpid=5&ncid=6&ocid=7", ARTICLE),
        (ARTICLE + "?spm=a.b&__twitter_impression=true&at_medium=rss&at_campaign=x", ARTICLE),
        (ARTICLE + "?page=2&utm_source=x&id=7", ARTICLE + "?id=7&page=2"),  # kept, sorted
        (ARTICLE + "?b=2&a=1", ARTICLE + "?a=1&b=2"),
        # AMP variants
        ("https://cnnindonesia.com/amp/nasional/20240506-92-1157232/polisi-urai-kasus", ARTICLE),
        (ARTICLE + "/amp", ARTICLE),
        (ARTICLE + ".amp", ARTICLE),
        (ARTICLE + "?amp", ARTICLE),
        (ARTICLE + "?amp=1", ARTICLE),
        ("https://amp.cnnindonesia.com/nasional/20240506-92-1157232/polisi-urai-kasus", ARTICLE),
        ("https://news.example.id/berita/judul.amp.html", "https://news.example.id/berita/judul.html"),
        (
            "https://www.google.com/amp/s/www.cnnindonesia.com/nasional/20240506-92-1157232/polisi-urai-kasus",
            ARTICLE,
        ),
        (
            "https://news-example-id.cdn.ampproject.org/c/s/news.example.id/a.amp.html",
            "https://news.example.id/a.html",
        ),
        # kept apart: other ports, other paths, other hosts
        ("https://cnnindonesia.com:8080/a", "https://cnnindonesia.com:8080/a"),
        ("https://example.com/campaign", "https://example.com/campaign"),
        ("https://m.co/x", "https://m.co/x"),  # a two-label host is not a mobile prefix
        ("https://example.com", "https://example.com/"),
        # not http(s), or unreadable
        ("", ""),
        ("ftp://example.com/a", ""),
        ("javascript:alert(1)", ""),
        ("mailto:redaksi@example.id", ""),
        ("https://example.com:99999/x", ""),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_canonical_url_is_idempotent() -> None:
    url = "http://www.example.com/a/amp/?utm_source=x&z=1&a=%7e"
    assert canonical_url(canonical_url(url)) == canonical_url(url)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://www.CNNIndonesia.com/x", "cnnindonesia.com"),
        ("http://m.detik.com/", "detik.com"),
        ("https://news.detik.com/x", "news.detik.com"),
        ("", ""),
        ("not a url", ""),
    ],
)
def test_site_host(url: str, host: str) -> None:
    assert site_host(url) == host


# --------------------------------------------------------------------------- sanitiser
BASE = "https://news.example.id/berita/1"
XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
    '<a href="java&#09;script:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example/"></iframe>',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<form action="https://evil.example/"><input name=a><button>go</button></form>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<p style="background:url(javascript:alert(1))">x</p>',
    "<b onmouseover=alert(1)>x</b>",
    '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
    '<q cite="javascript:alert(1)">x</q>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<img srcset="javascript:alert(1) 1x">',
    "<div onclick=alert(1)>x</div>",
]


@pytest.mark.parametrize("markup", XSS)
def test_sanitiser_removes_attacks(markup: str) -> None:
    out = sanitise_html(f"<p>Berita aman</p>{markup}", BASE).lower()
    for bad in ("<script", "javascript", "data:", "onerror", "onload", "onmouseover", "onclick", "<iframe"):
        assert bad not in out
    for bad in ("<svg", "<object", "<embed", "<form", "style=", "<math", "<style", "alert(1)"):
        assert bad not in out
    assert "<p>berita aman</p>" in out


def test_sanitiser_keeps_text_and_resolves_links() -> None:
    markup = (
        "<h2>Judul</h2><p>Harga naik 5% &amp; turun &lt;3 <em>hari</em></p>"
        '<a href="/nasional/lain">Baca</a> <img src="foto.jpg" alt="Foto"> '
        '<a href="mailto:redaksi@example.id">Surel</a><a href="HTTPS://Example.id/x">X</a>'
    )
    out = sanitise_html(markup, BASE)
    assert "<h2>Judul</h2>" in out and "<p>Harga naik 5% &amp; turun &lt;3 <em>hari</em></p>" in out
    assert '<a href="https://news.example.id/nasional/lain" rel="noopener noreferrer">Baca</a>' in out
    assert '<img src="https://news.example.id/berita/foto.jpg" alt="Foto">' in out
    assert 'href="mailto:redaksi@example.id"' in out
    assert sanitise_html("", BASE) == ""
    assert sanitise_html("teks biasa", BASE) == "teks biasa"


# --------------------------------------------------------------------------- text
def test_html_to_text() -> None:
    html = (
        "<div><h1>Judul&nbsp;Berita</h1><p>Satu   &amp;\n dua <b>tiga</b></p>"
        "<script>var x = 1;</script><style>p {}</style><noscript>aktifkan JS</noscript>"
        "<ul><li>a</li><li>b</li></ul>baris<br>baru<blockquote>kutipan</blockquote>"
        "<table><tr><td>x</td><td>y</td></tr></table><p>   </p><figure>gambar</figure></div>"
    )
    assert html_to_text(html) == "Judul Berita\nSatu & dua tiga\na\nb\nbaris\nbaru\nkutipan\nx y\ngambar"


@pytest.mark.parametrize(("html", "text"), [("", ""), ("teks  biasa", "teks biasa"), ("a &lt; b", "a < b")])
def test_html_to_text_small(html: str, text: str) -> None:
    assert html_to_text(html) == text


# --------------------------------------------------------------------------- dates
def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("published", "updated", "expected"),
    [
        (at(-5), at(-1), (at(-5), False)),
        (None, at(-1), (at(-1), False)),
        (None, None, (NOW, True)),
        (at(1), None, (NOW, False)),  # within the tolerance: clock skew, kept at now
        (at(48), None, (NOW, True)),  # far ahead: not believed
        (datetime(1970, 1, 1, tzinfo=UTC), at(-2), (at(-2), False)),  # placeholder ignored
        (datetime(1970, 1, 1, tzinfo=UTC), None, (NOW, True)),
    ],
)
def test_effective_published(
    published: datetime | None, updated: datetime | None, expected: tuple[datetime, bool]
) -> None:
    assert effective_published(published, updated, NOW) == expected


def test_effective_published_tolerance_is_a_parameter() -> None:
    assert effective_published(at(1), None, NOW, max_future=timedelta(minutes=5)) == (NOW, True)


# --------------------------------------------------------------------------- entries
def entry(**changes: object) -> ParsedEntry:
    fields: dict[str, object] = dict(
        guid=None,
        link=None,
        title="Polisi Disebut Tak Mampu Urai Sumbatan Kasus Novel",
        content_html=BODY,
        summary_html="<p>Ringkas.</p>",
        published=at(-3),
        updated=None,
    )
    fields.update(changes)
    return ParsedEntry(**fields)  # type: ignore[arg-type]


def norm(e: ParsedEntry) -> Entry:
    return normalise_entry(e, feed_url="https://www.cnnindonesia.com/rss", base_url=BASE, now=NOW)


def test_guid_key_fallbacks() -> None:
    assert norm(entry(guid="  cnn-1157232 ", link=ARTICLE)).guid_key == "cnn-1157232"
    with_link = norm(entry(link="http://www.cnnindonesia.com/nasional/x?utm_source=rss"))
    assert with_link.guid_key == "https://cnnindonesia.com/nasional/x"
    assert with_link.url == "http://www.cnnindonesia.com/nasional/x?utm_source=rss"
    bare = norm(entry())
    text = html_to_text(BODY)
    title = "Polisi Disebut Tak Mampu Urai Sumbatan Kasus Novel"
    expected = "sha1:" + hashlib.sha1(f"{title}\0{text}".encode()).hexdigest()
    assert bare.guid_key == expected
    assert bare.url == "" and bare.canonical_url == ""


def test_normalise_entry_fields() -> None:
    e = normalise_entry(
        entry(link="/nasional/x", content_html=BODY + "<script>x()</script>", published=None, updated=None),
        feed_url="https://www.cnnindonesia.com/rss",
        base_url="https://www.cnnindonesia.com/rss",
        now=NOW,
    )
    assert e.url == "https://www.cnnindonesia.com/nasional/x"
    assert e.canonical_url == "https://cnnindonesia.com/nasional/x"
    assert "<script" not in e.content_html
    assert e.text.startswith("Jakarta, CNN Indonesia") and "Polisi Disebut" not in e.text  # no title
    assert (e.published, e.published_is_fallback) == (NOW, True)
    assert (
        e.content_hash
        == hashlib.sha256(f"{e.title}\0{e.content_html}\0{e.summary_html}".encode()).hexdigest()
    )
    assert e.text_hash == text_fingerprint(e.text) != ""


def test_text_fingerprint_folds_case_punctuation_and_width() -> None:
    a = "Jakarta, CNN Indonesia -- Lembaga kepolisian dianggap tak mampu menghadapi halangan dalam kasus."
    b = "JAKARTA  CNN  Indonesia: lembaga   kepolisian dianggap tak mampu menghadapi halangan dalam kasus!"
    assert text_fingerprint(a) == text_fingerprint(b) != ""
    assert text_fingerprint("Ｊａｋａｒｔａ" + a[7:]) == text_fingerprint(a)  # NFKC folds full-width
    assert text_fingerprint("Baca juga: berita lain di sini") == ""  # too short to identify


def _reference_fingerprint(text: str) -> str:
    """The definition ``text_fingerprint`` keeps to (its faster way must give the same keys:
    stored entries are matched by them)."""
    import re
    import unicodedata

    words = re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).split()
    return hashlib.sha256(" ".join(words).encode()).hexdigest() if len(words) >= 12 else ""


_TRICKY = list("aZ09_-.,'’“”—…–´°ßİıΣσςﬁＪｋ\u212a²Ⅻ٣é\u0301\u00a0\u2009\u3000\u200b\u2028\x1c\t\n 🙂中文")


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(_TRICKY), min_size=1, max_size=6), min_size=8, max_size=30))
def test_text_fingerprint_is_its_definition(parts: list[str]) -> None:
    text = " ".join(parts)
    assert text_fingerprint(text) == _reference_fingerprint(text)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(min_size=30, max_size=300))
def test_text_fingerprint_is_its_definition_for_any_text(text: str) -> None:
    assert text_fingerprint(text) == _reference_fingerprint(text)
    assert text_fingerprint(text + " plain words " * 6) == _reference_fingerprint(text + " plain words " * 6)


def test_normalise_feed_drops_repeated_guid_keys() -> None:
    feed = ParsedFeed(
        format="rss20",
        title="t",
        link=None,
        language="id",
        entries=(entry(guid="a", title="pertama"), entry(guid="b"), entry(guid="a", title="kedua")),
    )
    out = normalise_feed(feed, feed_url="https://x/rss", base_url="https://x/rss", now=NOW)
    assert [(e.guid_key, e.title) for e in out] == [("a", "pertama"), ("b", entry().title)]


def test_html_to_text_survives_deep_nesting() -> None:
    assert html_to_text("<div>" * 20_000 + "isi") == "isi"


def test_untitled_entries_get_a_title_from_their_text_or_link() -> None:
    assert norm(entry(title="", content_html="<p>Banjir merendam Bekasi.</p><p>Dua.</p>")).title == (
        "Banjir merendam Bekasi."
    )
    long_text = "<p>" + "Hujan deras mengguyur kawasan Bekasi sejak pagi " * 4 + "</p>"
    derived = norm(entry(title="", content_html=long_text, summary_html="")).title
    assert derived.endswith("…") and len(derived) <= 91 and derived.startswith("Hujan deras")
    slug = "/2024/08/banjir-rendam-bekasi.html"
    by_link = norm(entry(title="", content_html="", summary_html="", link=slug))
    assert by_link.title == "Banjir rendam bekasi"
    nothing = norm(entry(title="", content_html="", summary_html="", link=None))
    assert nothing.title == "" and nothing.url == "" and nothing.text == ""


def test_plain_titles_stay_text_and_markup_titles_become_text() -> None:
    assert norm(entry(title="std::vector<int> explained")).title == "std::vector<int> explained"
    marked = entry(title="Safe<script>steal()</script> <b>title</b>", title_is_html=True)
    assert norm(marked).title == "Safe title"
