"""feeds.yaml: a complete file loads; every kind of mistake is reported with file, line and a hint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.config.settings import load_config, parse_duration, parse_size, resolve_config_path
from aggregator.errors import ConfigError
from tests.conftest import DATA

CONFIGS = DATA / "config"


def problems(name: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(CONFIGS / name, env or {})
    return str(info.value)


def test_complete_file() -> None:
    s = load_config(CONFIGS / "full.yaml", {})
    assert s.database_url == f"sqlite:///{(CONFIGS / 'data/agg.db.placeholder').resolve()}"
    assert s.polling.interval == timedelta(minutes=20) and s.polling.max_body == 4 * 1024 * 1024
    cnn, antara, bbc = s.feeds
    assert cnn.name == "cnn-indonesia-nasional" and cnn.interval == timedelta(hours=1, minutes=30)
    assert antara.name == "antaranews-com-rss-terkini" and not antara.enabled
    assert bbc.name == "bbc-world"
    indonesia, world = s.outputs
    assert indonesia.feed_names(s.feeds) == {"cnn-indonesia-nasional"}
    assert world.feed_names(s.feeds) == {"bbc-world"}
    assert s.dedup.window == timedelta(days=2) and s.retention.entries is None
    assert not s.dedup.reworded and s.dedup.excerpts
    assert s.server.port == 9090


def test_defaults_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: https://example.com/rss\n", encoding="utf-8")
    s = load_config(path, {})
    assert s.database_url == f"sqlite:///{(tmp_path / 'aggregator.db').resolve()}"
    assert [o.name for o in s.outputs] == ["all"] and s.outputs[0].feed_names(s.feeds) == {"example-com-rss"}
    env = load_config(path, {"AGGREGATOR_DATABASE_URL": "postgres://u@db/news"})
    assert env.database_url == "postgresql+psycopg://u@db/news"
    assert resolve_config_path(None, {"AGGREGATOR_CONFIG": "/etc/a.yaml"}) == Path("/etc/a.yaml")
    assert resolve_config_path("x.yaml", {"AGGREGATOR_CONFIG": "/etc/a.yaml"}) == Path("x.yaml")


def test_all_problems_at_once_with_lines_and_hints() -> None:
    text = problems("many-problems.yaml")
    f = CONFIGS / "many-problems.yaml"
    assert text.startswith(f"{f}: ") and "problems" in text
    assert f"{f}:2:3: polling.interval: '15 minutes' is not a duration" in text
    assert f"{f}:3:3: polling.timeout:" in text and "longer than zero" in text
    assert f"{f}:6:5: feeds[0].intervall: unknown key 'intervall'; did you mean 'interval'?" in text
    assert f"{f}:7:5: feeds[1].url: 'ftp://example.com/feed' is not an http(s) URL" in text
    assert f"{f}:9:5: feeds[2].priority:" in text


def test_cross_checks() -> None:
    path = CONFIGS / "cross.yaml"
    path.write_text(
        "feeds:\n  - url: https://example.com/rss\n  - url: https://example.com/rss/\n"
        "  - url: https://example.org/a\n    name: same\n  - url: https://example.org/b\n    name: same\n"
        "outputs:\n  - name: all\n    feeds: [nope]\n    tags: [missing]\n  - name: all\n",
        encoding="utf-8",
    )
    try:
        text = problems("cross.yaml")
    finally:
        path.unlink()
    assert "duplicate feed 'https://example.com/rss/' (already listed on line 2)" in text
    assert "duplicate feed name 'same'" in text
    assert "no feed named 'nope'" in text and "no feed has the tag 'missing'" in text
    assert "duplicate output name 'all'" in text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("syntax.yaml", "YAML syntax error"),
        ("not-a-mapping.yaml", "top level must be a mapping"),
        ("no-feeds.yaml", "feeds: required key is missing"),
        ("does-not-exist.yaml", "no such file"),
    ],
)
def test_file_level_problems(name: str, expected: str) -> None:
    assert expected in problems(name)


def test_bad_database_urls() -> None:
    assert "AGGREGATOR_DATABASE_URL: 'mysql://x' is not a supported" in problems(
        "full.yaml", {"AGGREGATOR_DATABASE_URL": "mysql://x"}
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("3s", 3), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (45, 45)]
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "soon", "5 minutes", "0s", -3, True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_sizes() -> None:
    assert parse_size("16MB") == 16 * 1024 * 1024 and parse_size(512) == 512
    with pytest.raises(ValueError):
        parse_size("lots")


@pytest.mark.parametrize(
    "text",
    [
        (DATA / "config" / "full.yaml").read_text(encoding="utf-8"),
        (Path(__file__).resolve().parents[1] / "feeds.yaml").read_text(encoding="utf-8"),
        "feeds:\n  - url: https://a.example/rss\n    language: no\n    title: yes\n    priority: 010\n",
        "feeds:\n  - url: https://a.example/rss\n    enabled: false\npolling:\n  interval: 90\n",
    ],
)
def test_the_fast_reading_gives_what_the_careful_one_gives(text: str, tmp_path: Path) -> None:
    """libyaml under the YAML 1.2 schema reads feeds.yaml as ruamel.yaml does."""
    from aggregator.config import fastyaml, settings

    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    careful = settings._plain(settings._read_yaml(path, text))
    assert fastyaml.load(text) == careful
    assert load_config(path, {}) == settings._settings(path, careful, {}, settings._Locator(path, None))


def test_a_key_given_twice_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - url: https://a.example/rss\n    url: https://b.example/rss\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"feeds.yaml:3"):
        load_config(path, {})
