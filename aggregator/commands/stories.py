"""``aggregator stories`` and ``aggregator explain``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from aggregator.commands.base import EXIT_USAGE, app, fail, load_settings, pick_output, say, user_errors

if TYPE_CHECKING:
    from aggregator.store import Tx
    from aggregator.store.values import StoredEntry


@app.command()
def stories(
    limit: Annotated[int, typer.Option("--limit", help="How many stories; 0 = all.", min=0)] = 30,
    output_name: Annotated[str, typer.Option("--output-name", "-n", help="Output of feeds.yaml.")] = "all",
) -> None:
    """List recent stories, newest first: each one's link (for `explain`), its copies and sources.

    Examples:

      aggregator stories

      aggregator stories --limit 100 --output-name indonesia
    """
    from aggregator.publish.select import Query, select_stories
    from aggregator.wiring import open_database

    with user_errors():
        settings = load_settings()
        chosen = pick_output(settings, output_name)
        database = open_database(settings)
        try:
            with database.reading() as tx:
                views = select_stories(tx, settings, chosen, Query(limit=limit or None))
        finally:
            database.close()
    for v in views:
        others = len(v.members) - 1
        copies = f"+{others} cop{'y' if others == 1 else 'ies'}" if others else "single"
        say(f"{v.published:%Y-%m-%d %H:%M}  #{v.story_id:<6} {copies:<10} {v.title}")
        say(f"{'':18}{v.url or '(no link)'}")
        sources = [s for s in v.sources if s != v.feed_title]
        say(f"{'':18}{v.feed_title}" + (f"; also in: {', '.join(sources)}" if sources else ""))


@app.command()
def explain(
    url: Annotated[str, typer.Argument(help="URL of an entry (as published or canonical).")],
    other: Annotated[str | None, typer.Argument(help="A second entry: compare the two.")] = None,
) -> None:
    """Show why entries were grouped: an entry's story, or every signal between two entries.

    Examples:

      aggregator explain https://example.com/news/1

      aggregator explain https://example.com/news/1 https://other.example/copy
    """
    from aggregator.cluster.explain import explain_pair, headline_lines
    from aggregator.wiring import dedup_settings, open_database

    with user_errors():
        settings = load_settings()
        database = open_database(settings)
        try:
            with database.reading() as tx:
                first = _entry_or_exit(tx, url)
                if other is None:
                    _explain_story(tx, first.id)
                    return
                found = explain_pair(tx, dedup_settings(settings), first, _entry_or_exit(tx, other))
        finally:
            database.close()
    v = found.verdict
    say(f"same story now: {'yes' if found.same_story_now else 'no'}")
    label = "same story" if v.same else "different"
    if found.switched_off:
        label = f"different ({v.method} matches are switched off under dedup: in feeds.yaml)"
    say(f"verdict: {label} ({v.method}, score {v.score:.3f})")
    if found.headline is not None:
        for line in headline_lines(found.headline):
            say(line)
    for key, value in sorted(v.detail.items()):
        say(f"  {key:<18} {value:.3f}")


def _entry_or_exit(tx: Tx, url: str) -> StoredEntry:
    from aggregator.store import entries as entry_repo

    found = entry_repo.find_entries_by_url(tx, url)
    if not found:
        fail(EXIT_USAGE, f"no stored entry has the URL {url} (`aggregator stories` lists stories' links)")
    return found[0]


def _explain_story(tx: Tx, entry_id: int) -> None:
    from aggregator.store import stories as story_repo

    membership = story_repo.membership(tx, entry_id)
    if membership is None:
        fail(1, "this entry is in no story yet (run `aggregator dedup rebuild`)")
    (view,) = story_repo.story_views(tx, [membership.story_id])
    details = {m.entry_id: m for m in story_repo.members_of(tx, membership.story_id)}
    say(f"story #{view.story_id} {view.key}: {view.title}")
    for m in view.members:
        mark = "*" if m.is_representative else " "
        sim = "" if m.similarity is None else f" similarity {m.similarity:.3f}"
        say(f" {mark} {m.published:%Y-%m-%d %H:%M}  {m.match:<18}{sim}  {m.feed_title}: {m.url}")
        detail = details[m.entry_id].detail
        if detail:
            say("      " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(json.loads(detail).items())))
    say("(* representative)")
