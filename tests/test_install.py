"""The package as a user installs it: a built wheel, not this source tree, run from another folder.

Every other test imports ``aggregator`` from the source tree, where the migrations sit in
``alembic/`` beside the package; an installed wheel finds them only if packaging ships them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.httpserver import LocalServer

ROOT = Path(__file__).resolve().parents[1]
PIP = [sys.executable, "-m", "pip"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, installed (without its dependencies, which this
    environment has) into a folder of its own; returns that folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    # From a clean copy: a build/ folder left by an earlier build would lend the wheel its files.
    source = tmp / "source"
    skip = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".*cache")
    shutil.copytree(ROOT, source, ignore=skip)
    built = _run(
        [*PIP, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(source)],
        tmp,
        dict(os.environ),
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp.glob("aggregator-*.whl")
    target = tmp / "site"
    done = _run(
        [*PIP, "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        tmp,
        dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    return target


def test_installed_wheel_polls_and_exports_from_another_folder(
    installed: Path, server: LocalServer, tmp_path: Path
) -> None:
    url = server.serve_bytes("/rss20.xml", (DATA / "feeds" / "rss20.xml").read_bytes())
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "feeds.yaml").write_text(f"feeds:\n  - url: {url}\n    title: Uji\n", encoding="utf-8")
    # Only the installed copy is importable: the source tree is neither the cwd nor on the path,
    # and -S keeps site's .pth files (an editable install's import hook) out; the dependencies
    # come from this environment's site-packages, after the wheel.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AGGREGATOR_DATABASE_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(installed), *site.getsitepackages()])
    env.pop("AGGREGATOR_CONFIG", None)
    py = [sys.executable, "-S"]
    where = _run([*py, "-c", "import aggregator.commands; print(aggregator.__file__)"], work, env)
    assert where.stdout.strip().startswith(str(installed)), where.stdout + where.stderr

    version = _run([*py, "-m", "aggregator", "--version"], work, env)
    assert version.returncode == 0 and version.stdout.startswith("aggregator "), version.stderr
    starter = _run([*py, "-m", "aggregator", "--config", "starter.yaml", "init"], work, env)
    assert starter.returncode == 0, starter.stderr
    assert (work / "starter.yaml").read_text(encoding="utf-8").startswith("# feeds.yaml")
    poll = _run([*py, "-m", "aggregator", "poll"], work, env)
    assert poll.returncode == 0, poll.stdout + poll.stderr
    assert "new 3" in poll.stdout
    export = _run([*py, "-m", "aggregator", "export", "--format", "json"], work, env)
    assert export.returncode == 0, export.stderr
    assert len(json.loads(export.stdout)["items"]) == 3
    assert (work / "aggregator.db").is_file()
    script = installed / "bin" / "aggregator"
    if script.exists():  # the console script pip wrote, run as a user runs it
        help_ = _run([*py, str(script), "--help"], work, env)
        assert help_.returncode == 0 and "poll" in help_.stdout


def test_installed_wheel_runs_the_demo_offline(installed: Path, tmp_path: Path) -> None:
    """The sample feeds ship in the wheel: the demo serves merged stories from an installed copy."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AGGREGATOR_CONFIG")}
    env["PYTHONPATH"] = os.pathsep.join([str(installed), *site.getsitepackages()])
    proc = subprocess.Popen(
        [sys.executable, "-S", "-m", "aggregator", "demo", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        url = f"http://127.0.0.1:{match.group(1)}/feeds/all.json"
        deadline = time.monotonic() + 60
        merged = 0
        while time.monotonic() < deadline and not merged:
            with urllib.request.urlopen(url, timeout=10) as resp:
                items = json.loads(resp.read())["items"]
            merged = sum(1 for i in items if len(i["_aggregator"]["members"]) > 1)
            time.sleep(0.5)
        assert merged, "no story of several members within 60 s"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
