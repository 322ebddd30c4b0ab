"""OPML import into feeds.yaml (comments kept) and export."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from aggregator.commands import app
from aggregator.config.opml import read_opml
from tests.conftest import DATA

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_import_keeps_comments_skips_known_and_validates(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "feeds.yaml", config)
    before = config.read_text(encoding="utf-8")
    result = runner.invoke(
        app, ["--config", str(config), "feeds", "import", str(DATA / "opml" / "reader-export.opml")]
    )
    assert result.exit_code == 0, result.output
    after = config.read_text(encoding="utf-8")
    assert "added 2 of 3 feeds" in result.output  # BBC World is already configured
    assert "https://www.kompas.com/rss" in after and "https://rss.tempo.co/bisnis" in after
    for line in before.splitlines():
        if line.strip().startswith("#"):
            assert line in after  # comments survive
    again = runner.invoke(
        app, ["--config", str(config), "feeds", "import", str(DATA / "opml" / "reader-export.opml")]
    )
    assert "added 0 of 3" in again.output


def test_export_round_trips() -> None:
    result = runner.invoke(app, ["--config", str(ROOT / "feeds.yaml"), "feeds", "export"])
    assert result.exit_code == 0
    subs = read_opml(result.stdout_bytes, "stdout")
    assert [s.url for s in subs][:2] == [
        "https://www.cnnindonesia.com/nasional/rss",
        "https://www.antaranews.com/rss/terkini.xml",
    ]


def test_folders_become_tags_and_bad_files_are_config_errors(tmp_path: Path) -> None:
    subs = read_opml((DATA / "opml" / "reader-export.opml").read_bytes(), "x.opml")
    assert subs[0].tags == ("indonesia",)
    bad = tmp_path / "bad.opml"
    bad.write_text("<html></html>", encoding="utf-8")
    result = runner.invoke(app, ["--config", str(ROOT / "feeds.yaml"), "feeds", "import", str(bad)])
    assert result.exit_code == 3 and "not an OPML file" in result.output
