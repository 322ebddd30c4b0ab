"""``aggregator stories``, ``aggregator explain`` and ``aggregator dedup rebuild``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from aggregator.app import open_database, output_stories, rebuild_clusters, utcnow
from aggregator.commands.base import EXIT_ERROR, app, dedup_app, err, load_settings, out, user_errors
from aggregator.dedup import DedupDoc, Engine
from aggregator.dedup_matcher import settings_for_dedup
from aggregator.store import entries as entry_repo
from aggregator.store import stories as story_repo
from aggregator.store.values import StoredEntry


@app.command()
def stories(
    limit: Annotated[int, typer.Option("--limit", help="How many stories; 0 = all.", min=0)] = 30,
    output_name: Annotated[str, typer.Option("--output-name", "-n", help="Output of feeds.yaml.")] = "all",
) -> None:
    """List recent stories, newest first, with how many copies each has and where.

    Examples:

      aggregator stories

      aggregator stories --limit 100 --output-name indonesia
    """
    with user_errors():
        settings = load_settings()
        chosen = {o.name: o for o in settings.outputs}.get(output_name)
        if chosen is None:
            err.print(f"no output named {output_name!r}", markup=False)
            raise typer.Exit(EXIT_ERROR)
        with open_database(settings) as database:
            _, views = output_stories(settings, database, chosen, limit or None)
    for v in views:
        others = len(v.members) - 1
        copies = f"+{others} cop{'y' if others == 1 else 'ies'}" if others else "single"
        out.print(f"{v.published:%Y-%m-%d %H:%M}  #{v.story_id:<6} {copies:<10} {v.title}", markup=False)
        if others:
            out.print(
                f"{'':30}{v.feed_title} (representative); also in: {', '.join(v.sources[1:])}", markup=False
            )


@app.command()
def explain(
    url: Annotated[str, typer.Argument(help="URL of an entry (as published or canonical).")],
    other: Annotated[str | None, typer.Argument(help="A second entry: compare the two.")] = None,
) -> None:
    """Show why entries were grouped: an entry's story, or the similarity of two entries.

    Examples:

      aggregator explain https://example.com/news/1

      aggregator explain https://example.com/news/1 https://other.example/copy
    """
    with user_errors():
        settings = load_settings()
        with open_database(settings) as database, database.readers() as session:
            first = _entry_or_exit(session, url)
            if other is None:
                _explain_story(session, first.id)
                return
            second = _entry_or_exit(session, other)
            policy = settings_for_dedup(settings)
            engine = Engine(policy, lambda ids: [])
            docs = [DedupDoc(e.id, e.feed_id, e.title, e.text, e.published) for e in (first, second)]
            verdict = engine.explain(*docs)
            same = membership_story(session, first.id) == membership_story(session, second.id)
    out.print(f"same story now: {'yes' if same else 'no'}", markup=False)
    label = "same story" if verdict.same else "different"
    if verdict.same and not policy.allows(verdict.method):
        label = f"different ({verdict.method} matches are switched off under dedup: in feeds.yaml)"
    out.print(f"verdict: {label} ({verdict.method}, score {verdict.score:.3f})", markup=False)
    for key, value in sorted(verdict.detail.items()):
        out.print(f"  {key:<18} {value:.3f}", markup=False)


def membership_story(session: Session, entry_id: int) -> int | None:
    m = story_repo.membership(session, entry_id)
    return m.story_id if m else None


def _entry_or_exit(session: Session, url: str) -> StoredEntry:
    found = entry_repo.find_entries_by_url(session, url)
    if not found:
        err.print(f"no stored entry has the URL {url}", markup=False)
        raise typer.Exit(EXIT_ERROR)
    return found[0]


def _explain_story(session: Session, entry_id: int) -> None:
    membership = story_repo.membership(session, entry_id)
    if membership is None:
        err.print("this entry is in no story yet (run `aggregator dedup rebuild`)", markup=False)
        raise typer.Exit(EXIT_ERROR)
    (view,) = story_repo.story_views(session, [membership.story_id])
    details = {m.entry_id: m for m in story_repo.members_of(session, membership.story_id)}
    out.print(f"story #{view.story_id} {view.key}: {view.title}", markup=False)
    for m in view.members:
        mark = "*" if m.is_representative else " "
        sim = "" if m.similarity is None else f" similarity {m.similarity:.3f}"
        out.print(
            f" {mark} {m.published:%Y-%m-%d %H:%M}  {m.match:<18}{sim}  {m.feed_title}: {m.url}", markup=False
        )
        detail = details[m.entry_id].detail
        if detail:
            scores = ", ".join(f"{k} {v:.2f}" for k, v in sorted(json.loads(detail).items()))
            out.print(f"      {scores}", markup=False)
    out.print("(* representative)", markup=False)


@dedup_app.command("rebuild")
def rebuild() -> None:
    """Re-sign and re-cluster every stored entry (after a settings or version change).

    Deterministic: entries are replayed in order of publication, so the same database and
    settings always give the same stories. Story ids change; story keys stay derived from
    each story's first entry.

    Example:

      aggregator dedup rebuild
    """
    with user_errors():
        settings = load_settings()
        with open_database(settings) as database:
            n, stories_n = rebuild_clusters(settings, database, utcnow())
    out.print(f"re-clustered {n} entries into {stories_n} stories", markup=False)
