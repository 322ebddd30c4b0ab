"""feeds.yaml + environment → frozen, validated settings.

Every problem is reported with file, line, column, the key path and what to do, and all problems
are collected before failing, so one edit fixes them all. Validation is pydantic; line numbers
come from ruamel.yaml's round-trip node marks.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from aggregator.config import fastyaml
from aggregator.errors import ConfigError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.I)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.I)
_SIZES = {"b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2, "gb": 1024**3, "gib": 1024**3}
DURATION_HINT = "use forms like 30s, 15m, 2h, 1d, 1w (or 1h30m)"


def parse_duration(value: object) -> timedelta:
    """``3s``, ``15m``, ``2h``, ``1d``, ``1w``, ``1h30m`` or a number of seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
            raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
        seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    else:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be longer than zero")
    return timedelta(seconds=seconds)


def parse_size(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(str(value)) if isinstance(value, str) else None
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a size; use forms like 512KB, 16MB, 1GB")
    return int(float(m.group(1)) * _SIZES[(m.group(2) or "b").lower()])


def check_url(value: str) -> str:
    v = value.strip()
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in v:
        raise ValueError(f"{value!r} is not an http(s) URL; write it in full, like https://example.com/rss")
    return v


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Url = Annotated[str, BeforeValidator(lambda v: check_url(v) if isinstance(v, str) else v)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PollingConfig(_Model):
    interval: Duration = timedelta(minutes=30)
    min_interval: Duration = timedelta(minutes=5)
    max_interval: Duration = timedelta(days=1)
    timeout: Duration = timedelta(seconds=30)
    max_body: Size = 16 * 1024 * 1024
    concurrency: int = Field(16, ge=1, le=256)
    per_host: int = Field(2, ge=1, le=32)
    user_agent: str | None = None
    # How long a process may hold a feed it fetches: a process that died frees its feeds after
    # this (one on the same machine at once). Longer than the slowest run (`poll` leases feeds
    # ahead of their runs only as far as the lease allows: pipeline.round.leased_ahead).
    lease: Duration = timedelta(minutes=5)


class FeedConfig(_Model):
    url: Url
    name: Name = ""
    title: str | None = None
    interval: Duration | None = None
    priority: int = 0
    tags: tuple[str, ...] = ()
    enabled: bool = True
    language: str | None = None


class OutputConfig(_Model):
    name: Name
    title: str = "All news, deduplicated"
    description: str | None = None
    feeds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    language: str | None = None
    limit: int = Field(50, ge=1, le=100_000)

    def feed_names(self, feeds: Sequence[FeedConfig]) -> frozenset[str]:
        """Names of the feeds this output draws from (no feeds and no tags: every feed)."""
        if not self.feeds and not self.tags:
            return frozenset(f.name for f in feeds)
        return frozenset(f.name for f in feeds if f.name in self.feeds or set(self.tags) & set(f.tags))


class DedupConfig(_Model):
    enabled: bool = True
    window: Duration = timedelta(days=3)
    reworded: bool = True
    excerpts: bool = True
    headlines: bool = True


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    base_url: Url | None = None


class RetentionConfig(_Model):
    entries: Duration | None = timedelta(days=30)

    @field_validator("entries", mode="before")
    @classmethod
    def _forever(cls, v: object) -> object:
        return None if isinstance(v, str) and v.strip().lower() == "forever" else v


class DatabaseConfig(_Model):
    url: str | None = None
    pool_size: int = Field(5, ge=1, le=200)  # connections each process may hold (PostgreSQL)
    statement_timeout: Duration = timedelta(seconds=30)  # longest statement or lock wait


class FileConfig(_Model):
    database: str | DatabaseConfig | None = None
    polling: PollingConfig = PollingConfig()
    feeds: tuple[FeedConfig, ...]
    outputs: tuple[OutputConfig, ...] = ()
    dedup: DedupConfig = DedupConfig()
    server: ServerConfig = ServerConfig()
    retention: RetentionConfig = RetentionConfig()


class Settings(_Model):
    """Everything the program needs from feeds.yaml and the environment."""

    config_path: Path
    database_url: str
    database: DatabaseConfig
    polling: PollingConfig
    feeds: tuple[FeedConfig, ...]
    outputs: tuple[OutputConfig, ...]
    dedup: DedupConfig
    server: ServerConfig
    retention: RetentionConfig

    def feed(self, name: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.name == name), None)


# --------------------------------------------------------------------------- loading
def resolve_config_path(cli_value: str | None, env: Mapping[str, str]) -> Path:
    """--config, else AGGREGATOR_CONFIG, else ./feeds.yaml."""
    return Path(cli_value or env.get("AGGREGATOR_CONFIG") or "feeds.yaml")


class _Relocate(Exception):
    """The fast reading found problems: read again with line numbers to report them."""


def load_config(path: Path, env: Mapping[str, str]) -> Settings:
    """Read and validate feeds.yaml; ``ConfigError`` lists every problem with its line."""
    text = _read_text(path)
    try:
        fast = fastyaml.load(text)
    except Exception:  # any doubt: the careful reading below says what is wrong
        fast = None
    if isinstance(fast, dict):
        try:
            return _settings(path, fast, env, None)
        except _Relocate:
            pass
    raw = _read_yaml(path, text)
    return _settings(path, _plain(raw), env, _Locator(path, raw))


def _settings(path: Path, data: dict[str, Any], env: Mapping[str, str], where: _Locator | None) -> Settings:
    problems: list[tuple[int, str]] = []
    try:
        parsed = FileConfig.model_validate(data)
    except ValidationError as exc:
        if where is None:
            raise _Relocate from exc
        for e in exc.errors():
            problems.append(where.describe(e["loc"], _message(e, data)))
        _raise(path, problems)
    feeds = _name_feeds(parsed.feeds)
    locate = where or _Locator(path, None)  # no lines yet: problems are read again
    problems += _cross_checks(locate, feeds, parsed.outputs)
    database = (
        parsed.database
        if isinstance(parsed.database, DatabaseConfig)
        else DatabaseConfig(url=parsed.database)
    )
    db_url, db_problem = _database_url(path, database.url, env)
    if db_problem:
        from_env = "AGGREGATOR_DATABASE_URL" in db_problem
        key = ("database", "url") if isinstance(parsed.database, DatabaseConfig) else ("database",)
        problems.append((0, db_problem) if from_env else locate.describe(key, db_problem))
    if problems:
        if where is None:
            raise _Relocate
        _raise(path, problems)
    outputs = parsed.outputs or (OutputConfig(name="all"),)
    return Settings(
        config_path=path.resolve(),
        database_url=db_url,
        database=database,
        polling=parsed.polling,
        feeds=feeds,
        outputs=outputs,
        dedup=parsed.dedup,
        server=parsed.server,
        retention=parsed.retention,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; create it with `aggregator init` (see README.md, "
            "'Configuration'), or pass --config FILE / set AGGREGATOR_CONFIG"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc


def _read_yaml(path: Path, text: str) -> Any:
    """The round-trip reading: slower, but every value knows its line (for error messages)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"{mark.line + 1}:{mark.column + 1}" if mark else "?"
        raise ConfigError(
            f"{path}:{line}: YAML syntax error: {exc.problem or exc.context}; "
            "check indentation and quoting around that line"
        ) from exc
    except YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from exc
    if not isinstance(data, CommentedMap):
        raise ConfigError(f"{path}: the top level must be a mapping with at least a `feeds:` list")
    return data


def _plain(node: Any) -> Any:
    """ruamel's commented containers → plain dicts/lists for pydantic."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node


class _Locator:
    """Maps a key path (``("feeds", 3, "interval")``) to a line in the file."""

    def __init__(self, path: Path, root: Any) -> None:
        self.path, self.root = path, root  # ruamel's round-trip document (None: no lines known)

    def line_of(self, loc: Sequence[int | str]) -> tuple[int, int]:
        if self.root is None:
            return 1, 1
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        node: Any = self.root
        line, col = 1, 1
        for key in loc:
            try:
                if isinstance(node, CommentedMap) and key in node:
                    line, col = (x + 1 for x in node.lc.key(key))
                    node = node[key]
                elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
                    line, col = (x + 1 for x in node.lc.item(key))
                    node = node[key]
                else:
                    break
            except (AttributeError, KeyError, TypeError):
                break
        return line, col

    def describe(self, loc: Sequence[int | str], message: str) -> tuple[int, str]:
        line, col = self.line_of(loc)
        return line, f"{self.path}:{line}:{col}: {_dotted(loc)}: {message}"


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_KNOWN: dict[str, type[BaseModel]] = {
    "": FileConfig,
    "polling": PollingConfig,
    "feeds": FeedConfig,
    "outputs": OutputConfig,
    "dedup": DedupConfig,
    "server": ServerConfig,
    "retention": RetentionConfig,
    "database": DatabaseConfig,
}


def _message(error: Any, raw: Any) -> str:
    kind, loc, msg = error["type"], error["loc"], str(error["msg"])
    if kind == "extra_forbidden":
        section = next((str(p) for p in loc[:-1] if isinstance(p, str)), "")
        known = list(_KNOWN.get(section, FileConfig).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return f"unknown key {loc[-1]!r}; {hint}"
    if kind == "missing":
        return "required key is missing"
    if msg.startswith("Value error, "):
        return str(msg).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return f"{error.get('input')!r} is not a valid name; use lower-case letters, digits, '-' and '_'"
    return f"{msg} (got {error.get('input')!r})"


def _raise(path: Path, problems: list[tuple[int, str]]) -> None:
    problems.sort(key=lambda p: p[0])
    n = len(problems)
    raise ConfigError(f"{path}: {n} problem{'s' if n != 1 else ''}", tuple(p[1] for p in problems))


def _slug(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "feed").removeprefix("www.")
    path = re.sub(r"\.(xml|rss|atom|json|php)$", "", parts.path.strip("/"))
    text = f"{host}-{path}" if path else host
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "feed"


def _slug_title(title: str | None) -> str:
    import unicodedata

    ascii_title = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60]


def _name_feeds(feeds: Sequence[FeedConfig]) -> tuple[FeedConfig, ...]:
    """Give unnamed feeds a name from their URL, unique among all names."""
    taken = {f.name for f in feeds if f.name}
    out = []
    for f in feeds:
        if f.name:
            out.append(f)
            continue
        base = name = _slug_title(f.title) or _slug(f.url)
        n = 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        out.append(f.model_copy(update={"name": name}))
    return tuple(out)


def _cross_checks(
    where: _Locator, feeds: Sequence[FeedConfig], outputs: Sequence[OutputConfig]
) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    seen_url: dict[str, int] = {}
    seen_name: dict[str, int] = {}
    for i, f in enumerate(feeds):
        key = f.url.rstrip("/")
        if key in seen_url:
            first = where.line_of(("feeds", seen_url[key]))[0]
            problems.append(
                where.describe(
                    ("feeds", i, "url"),
                    f"duplicate feed {f.url!r} (already listed on line {first}); remove one of them",
                )
            )
        seen_url.setdefault(key, i)
        if f.name in seen_name:
            first = where.line_of(("feeds", seen_name[f.name]))[0]
            problems.append(
                where.describe(
                    ("feeds", i, "name"),
                    f"duplicate feed name {f.name!r} (already used on line {first}); names must be unique",
                )
            )
        seen_name.setdefault(f.name, i)
    names = {f.name for f in feeds}
    tags = {t for f in feeds for t in f.tags}
    out_names: set[str] = set()
    for i, o in enumerate(outputs):
        if o.name in out_names:
            problems.append(where.describe(("outputs", i, "name"), f"duplicate output name {o.name!r}"))
        out_names.add(o.name)
        for j, n in enumerate(o.feeds):
            if n not in names:
                close = difflib.get_close_matches(n, sorted(names), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"feed names: {', '.join(sorted(names))}"
                problems.append(where.describe(("outputs", i, "feeds", j), f"no feed named {n!r}; {hint}"))
        for j, t in enumerate(o.tags):
            if t not in tags:
                problems.append(
                    where.describe(
                        ("outputs", i, "tags", j),
                        f"no feed has the tag {t!r}; tags in use: {', '.join(sorted(tags)) or 'none'}",
                    )
                )
    return problems


def _database_url(path: Path, value: str | None, env: Mapping[str, str]) -> tuple[str, str | None]:
    """The effective database URL (env first), with relative SQLite paths made absolute."""
    from_env = env.get("AGGREGATOR_DATABASE_URL")
    url = from_env or value or f"sqlite:///{(path.parent / 'aggregator.db').resolve()}"
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg:" + url.split(":", 1)[1], None
    if scheme in ("postgresql+psycopg", "sqlite"):
        if scheme == "sqlite" and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            if rel and rel != ":memory:":
                url = f"sqlite:///{(path.parent / rel).resolve()}"
        return url, None
    prefix = "AGGREGATOR_DATABASE_URL: " if from_env else ""  # the file's key is named by its location
    return url, (
        f"{prefix}{url!r} is not a supported database URL; use sqlite:///FILE "
        "or postgresql://user@host/dbname"
    )
