"""The HTML pages: plain, small, fast, escaped; no JavaScript.

Every value from a feed goes through ``html.escape``; only http(s) links are rendered as links.
The home page shows what the tool is for — each story once, with the other sources that carry
it — and the story page says in words how each copy was recognised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urlencode, urlsplit

from aggregator.models import MatchKind, MemberView, Relation, StoryView
from aggregator.store.values import FeedSummary, Membership

STYLE = """
:root{--fg:#1d232a;--mute:#5d6873;--line:#e3e7eb;--accent:#0b5cad;--chip:#eef3f8;--bad:#a3261b;
--ok:#1d6b3a}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);margin:0;
background:#fafbfc}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header{background:#fff;border-bottom:1px solid var(--line)}
.bar{max-width:60rem;margin:0 auto;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;
align-items:center}
.brand{font-weight:700;color:var(--fg)}
nav{display:flex;flex-wrap:wrap;gap:.2rem .9rem;font-size:.95rem}nav .on{font-weight:600;color:var(--fg)}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.2rem 0 .8rem}
.tools{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin-bottom:.8rem;font-size:.95rem}
.tools form{display:flex;gap:.3rem;flex:1 1 14rem;max-width:24rem}
.tools input{flex:1;padding:.35rem .5rem;border:1px solid #c7ced6;border-radius:4px;font:inherit}
.tools button{padding:.35rem .7rem;border:1px solid #c7ced6;border-radius:4px;background:#fff;font:inherit}
.tabs a{margin-right:.8rem}.tabs .on{font-weight:600;color:var(--fg)}
.subscribe{margin-left:auto;color:var(--mute);font-size:.88rem}
article{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.75rem .9rem;
margin-bottom:.6rem}
article h2{font-size:1.06rem;margin:0 0 .2rem;line-height:1.35}
.meta{color:var(--mute);font-size:.86rem}
.snippet{margin:.35rem 0;font-size:.94rem;color:#333;overflow-wrap:anywhere}
.copies{display:flex;flex-wrap:wrap;gap:.3rem;align-items:center;font-size:.84rem;margin-top:.35rem}
.chip{background:var(--chip);border-radius:99px;padding:.05rem .55rem;white-space:nowrap;max-width:16rem;
overflow:hidden;text-overflow:ellipsis}
.count{font-weight:600;color:var(--fg)}
.pager{display:flex;justify-content:space-between;margin:1rem 0}
.notice{background:#fff;border:1px solid var(--line);border-left:4px solid var(--accent);
padding:.8rem 1rem;border-radius:4px;margin-bottom:1rem}.notice.bad{border-left-color:var(--bad)}
code{background:#eef1f4;padding:.05rem .3rem;border-radius:3px;font-size:.9em}
.member{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;
margin-bottom:.5rem}
.member.rep{border-left:4px solid var(--ok)}
.how{font-size:.92rem}.badge{font-size:.78rem;background:#e5f2ea;color:var(--ok);border-radius:3px;
padding:0 .35rem;margin-left:.3rem}
details{font-size:.82rem;color:var(--mute);margin-top:.3rem}
.legend{color:var(--mute);font-size:.86rem;margin:.6rem 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.86rem;background:#fff}
th,td{border-bottom:1px solid var(--line);padding:.35rem .45rem;text-align:left;vertical-align:top}
td.n{text-align:right}.when{white-space:nowrap}td.url{overflow-wrap:anywhere;max-width:22rem}
tr.bad td{color:var(--bad)}.status{white-space:nowrap}
@media (max-width:640px){.hide-narrow{display:none}main{padding:.6rem}article{padding:.6rem .7rem}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:auto;max-width:none}
table.stack tr:first-child{display:none}table.stack tr{border-bottom:1px solid var(--line);padding:.45rem 0}
table.stack td{border:0;padding:.05rem .5rem;text-align:left}
table.stack td[data-l]::before{content:attr(data-l) ": ";color:var(--mute)}}
"""


HEALTH = "<a href='/feeds'>feed health</a>"
EXCERPT_RATIO = 0.6  # a copy much shorter than what it matched is, to a reader, an excerpt


@dataclass(frozen=True, slots=True)
class FeedHealth:
    configured: int
    polled: int  # feeds asked at least once
    failing: int  # feeds whose last run failed
    never_worked: int  # failing feeds that never answered with a feed
    any_entry: bool  # whether anything was stored yet


@dataclass(frozen=True, slots=True)
class HomeView:
    output: str
    title: str
    outputs: Sequence[str]
    stories: Sequence[StoryView]
    page: int
    has_next: bool
    order: str  # "newest" or "covered"
    search: str | None
    feeds: FeedHealth


def _href(url: str) -> str | None:
    """The URL escaped for an attribute, when it is http(s); None otherwise (never a link)."""
    return escape(url) if urlsplit(url).scheme in ("http", "https") else None


def _link(url: str, text: str, cls: str = "") -> str:
    href = _href(url)
    c = f' class="{cls}"' if cls else ""
    if href is None:
        return f"<span{c}>{escape(text)}</span>"
    return f'<a{c} href="{href}" rel="noopener noreferrer">{escape(text)}</a>'


def _when(t: datetime | None) -> str:
    return t.strftime("%d %b %Y, %H:%M UTC") if t else "—"


def _short(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "—"


def _q(**params: object) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "", 1, "newest")})


def _nav(href: str, text: str, on: bool) -> str:
    return f'<a href="{escape(href)}"{" class=on" if on else ""}>{escape(text)}</a>'


def layout(title: str, body: str, outputs: Sequence[str], current: str | None = None) -> bytes:
    nav = "".join(_nav(f"/{_q(output=o) if o != outputs[0] else ''}", o, o == current) for o in outputs)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · aggregator</title><style>{STYLE}</style></head><body>"
        f'<header><div class=bar><a class=brand href="/">aggregator</a><nav>{nav}'
        f'<a href="/feeds"{" class=on" if current == "/feeds" else ""}>feeds</a></nav></div></header>'
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    ).encode()


# --------------------------------------------------------------------------- home
def home(view: HomeView) -> bytes:
    out = view.output
    tabs = (
        "<span class=tabs>"
        + _nav(f"/{_q(output=out, q=view.search)}", "newest", view.order == "newest")
        + _nav(f"/{_q(output=out, sort='covered', q=view.search)}", "most covered", view.order == "covered")
        + "</span>"
    )
    search = (
        f'<form action="/" method=get role=search><input type=hidden name=output value="{escape(out)}">'
        f'<input type=search name=q placeholder="Search titles and text" value="{escape(view.search or "")}" '
        'aria-label="Search titles and text"><button>Search</button></form>'
    )
    subscribe = (
        f'<span class=subscribe>subscribe: <a href="/feeds/{escape(out)}.atom">Atom</a> · '
        f'<a href="/feeds/{escape(out)}.rss">RSS</a> · <a href="/feeds/{escape(out)}.json">JSON</a></span>'
    )
    parts = [f"<div class=tools>{tabs}{search}{subscribe}</div>", _notices(view)]
    parts.extend(_story_card(s) for s in view.stories)
    parts.append(_pager(view))
    return layout(view.title, "".join(parts), view.outputs, out)


def _notices(view: HomeView) -> str:
    f = view.feeds
    notes = []
    if f.configured and f.failing == f.configured:
        notes.append(
            "<div class='notice bad'><b>Every feed failed on its last run.</b> Check the network and "
            f"the feed addresses: {HEALTH} shows each error.</div>"
        )
    elif f.never_worked:
        notes.append(
            f"<div class='notice bad'>{f.never_worked} of {f.configured} feeds have never answered "
            f"with a feed; see {HEALTH}.</div>"
        )
    if not view.stories:
        if view.search:
            notes.append(f"<div class=notice>No story mentions “{escape(view.search)}”.</div>")
        elif view.page > 1:
            notes.append("<div class=notice>No more stories. <a href='/'>Back to the newest</a>.</div>")
        elif not f.any_entry:
            notes.append(
                "<div class=notice><b>No stories yet.</b> Poll the feeds once with "
                "<code>aggregator poll</code> (or keep <code>aggregator run</code> going: it polls on "
                f"schedule), then reload. {f.configured} feeds are configured; {HEALTH} shows how each "
                "one did.</div>"
            )
        else:
            notes.append(
                "<div class=notice>No story of this output yet; its feeds have not brought any.</div>"
            )
    return "".join(notes)


def _story_card(s: StoryView) -> str:
    others = [m for m in s.members if not m.is_representative]
    sources = [src for src in s.sources if src != s.feed_title]
    copies = ""
    if others:
        n = len(sources)
        also = (
            f"also in {n} source{'s' if n != 1 else ''}"
            if n
            else f"{len(others)} more cop{'y' if len(others) == 1 else 'ies'}"
        )
        chips = "".join(f"<span class=chip title='{escape(src)}'>{escape(src)}</span>" for src in sources[:6])
        more = f"<span class=chip>+{len(sources) - 6}</span>" if len(sources) > 6 else ""
        copies = f"<div class=copies><a class=count href='/story/{s.story_id}'>{also}</a>{chips}{more}</div>"
    snippet = f"<p class=snippet>{escape(s.text)}</p>" if s.text else ""
    title = _link(s.url, s.title or "(untitled)", "title")
    return (
        f'<article data-story="{s.story_id}"><h2>{title}</h2>'
        f"<div class=meta>{escape(s.feed_title)} · {_when(s.published)} · "
        f"<a href='/story/{s.story_id}'>{len(s.members)} cop{'y' if len(s.members) == 1 else 'ies'}</a></div>"
        f"{snippet}{copies}</article>"
    )


def _pager(view: HomeView) -> str:
    prev = (
        f'<a href="/{_q(output=view.output, sort=view.order, q=view.search, page=view.page - 1)}">← newer</a>'
        if view.page > 1
        else "<span></span>"
    )
    nxt = (
        f'<a href="/{_q(output=view.output, sort=view.order, q=view.search, page=view.page + 1)}">older →</a>'
        if view.has_next
        else "<span></span>"
    )
    return f"<div class=pager>{prev}{nxt}</div>" if view.page > 1 or view.has_next else ""


# --------------------------------------------------------------------------- story
def explain_match(m: MemberView, detail: Mapping[str, float]) -> str:
    """How a copy joined its story, in words a reader understands."""
    kind = MatchKind.of(m.match)

    def pct(v: float) -> str:
        return f"{round(100 * v)} %"

    if kind is MatchKind.FIRST:
        return "first seen here"
    if kind is MatchKind.GUID:
        return "the same entry (same ID) in another feed"
    if kind is MatchKind.URL:
        return "the same link"
    if kind is MatchKind.TEXT:
        return "identical text"
    if kind is MatchKind.COPY:
        if detail.get("size_ratio", 1.0) < EXCERPT_RATIO:
            return "excerpt: its text appears word for word in this story"
        share = detail.get("trigrams", m.similarity or 0.0)
        return f"verbatim copy: {pct(share)} of the wording is the same"
    if kind is MatchKind.REWORDED:
        share = detail.get("containment", m.similarity or 0.0)
        return f"same story, reworded: {pct(share)} of the words shared"
    if kind is MatchKind.EXCERPT:
        return "excerpt of this story"
    if kind is MatchKind.HEADLINE:
        return "a link to this story under its headline"
    return m.match


def relation_words(r: Relation | None, m: MemberView, detail: Mapping[str, float]) -> str:
    """What a copy is, compared with the story's original, in words a reader understands."""

    def pct(v: float | None) -> str:
        return f"{round(100 * (v or 0.0))} %"

    kind = r.kind if r else "via-copy"
    if kind == "original":
        return "the original"
    if kind == "same-link":
        return "the same link as the original"
    if kind == "identical":
        return "identical text"
    if kind == "verbatim":
        return "verbatim copy of the original"
    if kind == "edited":
        return f"edited copy: {pct(r.share if r else None)} of the wording is the same"
    if kind == "reworded":
        return f"same story, reworded: {pct(r.share if r else None)} of the words shared"
    if kind == "excerpt":
        return "excerpt of the original article"
    if kind == "headline":
        return "headline only: it carries this story's headline (no text to compare)"
    return f"joined through another copy ({explain_match(m, detail)})"


def _signals(values: Mapping[str, float]) -> str:
    return " · ".join(f"{escape(k)} {v:.2f}" for k, v in sorted(values.items()))


def story(
    view: StoryView,
    memberships: Mapping[int, Membership],
    relations: Mapping[int, Relation],
    outputs: Sequence[str],
) -> bytes:
    cards = []
    for m in view.members:
        ms = memberships.get(m.entry_id)
        detail: dict[str, float] = json.loads(ms.detail) if ms and ms.detail else {}
        r = relations.get(m.entry_id)
        against = r.signals if r and r.signals else {}
        rows = [f"how it joined the story: {escape(explain_match(m, detail))}"]
        if detail:
            rows.append(f"signals then: {_signals(detail)}")
        if against:
            rows.append(f"signals against the original: {_signals(against)}")
        signals = "<details><summary>details</summary>" + "<br>".join(rows) + "</details>"
        rep = "<span class=badge>★ original</span>" if m.is_representative else ""
        cards.append(
            f"<div class='member{' rep' if m.is_representative else ''}'>"
            f"<div>{_link(m.url, m.title or m.url or '(untitled)')}{rep}</div>"
            f"<div class=meta>{escape(m.feed_title)} · {_when(m.published)}</div>"
            f"<div class=how>{escape(relation_words(r, m, detail))}</div>{signals}</div>"
        )
    legend = (
        "<p class=legend>★ original: the copy this story is published under — the source the others "
        "credit, else the feed with the highest priority, else the earliest. Each copy is described "
        "as compared with it. "
        f"{len(view.members)} cop{'y' if len(view.members) == 1 else 'ies'} in "
        f"{len(view.sources)} source{'s' if len(view.sources) != 1 else ''}.</p>"
    )
    return layout(view.title or "(untitled)", legend + "".join(cards), outputs)


# --------------------------------------------------------------------------- feeds
def _status(s: FeedSummary) -> str:
    st = s.state
    if not st.in_config:
        return "removed"
    if not st.enabled:
        return "disabled"
    if st.last_status is None:
        return "not polled yet"
    return _STATUS_WORDS.get(st.last_status, st.last_status.replace("_", " "))


_STATUS_WORDS = {"new": "new entries", "not_modified": "not modified", "updated": "edits only"}


def _cell(cls: str, label: str, value: str) -> str:
    """A table cell; ``label`` heads it when phones show the table as a list."""
    labelled = f" data-l='{label}'" if label else ""
    return f"<td class='{cls}'{labelled}>{value}</td>"


def feeds(rows: Sequence[FeedSummary], outputs: Sequence[str]) -> bytes:
    body = []
    for f in rows:
        s = f.state
        bad = " class=bad" if s.error_count or s.gone else ""
        problem = escape(s.last_error or "")
        if s.moved_from:
            problem = f"moved from {escape(s.moved_from)}" + (f"<br>{problem}" if problem else "")
        name = _link(s.site_url or s.url, s.title or s.name) + f"<div class=meta>{escape(s.name)}</div>"
        cells = (
            ("", "", name),
            ("status", "status", escape(_status(f))),
            ("when", "last success", _short(s.last_success_at)),
            ("when hide-narrow", "next check", _short(s.next_check_at)),
            ("n", "entries", str(f.entries)),
            ("n hide-narrow", "errors", str(s.error_count)),
            ("url", "", problem or _link(s.url, s.url)),
        )
        body.append(f"<tr{bad}>" + "".join(_cell(c, h, v) for c, h, v in cells) + "</tr>")
    table = (
        "<div class=scroll><table class=stack><tr><th>feed</th><th>status</th><th>last success</th>"
        "<th class=hide-narrow>next check</th><th>entries</th><th class=hide-narrow>errors</th>"
        "<th>address / problem</th></tr>" + "".join(body) + "</table></div>"
    )
    note = "<p class=legend>Times in UTC.</p>" if rows else "<div class=notice>No feeds are configured.</div>"
    return layout("Feeds", table + note, outputs, "/feeds")


def not_found(message: str, outputs: Sequence[str]) -> bytes:
    body = f"<div class=notice>{escape(message)} <a href='/'>Go to the newest stories</a>.</div>"
    return layout("Not found", body, outputs)
