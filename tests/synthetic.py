"""Synthetic feeds of many distinct entries, for crash and load tests (no article text needed)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from tests.feedfiles import rss


def poll_killed_after(config: Path, feeds_done: int, cwd: Path | None = None) -> tuple[bool, int]:
    """Run `aggregator poll` and SIGKILL it once ``feeds_done`` feeds have reported (each line is
    printed after its feed's transaction committed, so the kill lands mid-round, with other
    feeds being fetched, parsed or written). Returns (killed, feed lines seen)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "poll"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
    )
    assert proc.stdout is not None
    seen = 0
    killed = False
    for line in proc.stdout:
        if b" feeds: " in line:  # the summary: the round finished
            break
        seen += 1
        if seen >= feeds_done:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
    proc.stdout.close()
    proc.wait()
    return killed, seen


WORDS = (
    "pemerintah",
    "daerah",
    "warga",
    "banjir",
    "jalan",
    "sekolah",
    "rumah",
    "sakit",
    "harga",
    "pasar",
    "petani",
    "nelayan",
    "listrik",
    "air",
    "bersih",
    "kereta",
    "bandara",
    "pelabuhan",
    "gempa",
    "hujan",
    "kebakaran",
    "polisi",
    "pengadilan",
    "menteri",
    "gubernur",
    "bupati",
    "desa",
    "kota",
    "provinsi",
    "anggaran",
    "proyek",
    "jembatan",
    "tol",
    "bus",
    "angkutan",
    "ekspor",
    "impor",
    "beras",
    "cabai",
    "bawang",
    "gula",
    "minyak",
    "pupuk",
    "vaksin",
    "dokter",
    "perawat",
    "guru",
    "murid",
    "ujian",
    "beasiswa",
    "pajak",
    "bank",
    "kredit",
)


SYLLABLES = ("ba", "ka", "ra", "ma", "ta", "si", "lu", "pe", "no", "gi", "dar", "kan", "tur", "wen")


def _word(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(WORDS)
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def feed_bytes(feed_no: int, items: int, seed: int = 0, start: int = 0) -> bytes:
    """An RSS document of ``items`` distinct entries (half common words, half invented ones),
    numbered from ``start`` (a feed that moved on shows later ones)."""
    rng = random.Random(seed * 1000 + feed_no)
    entries = []
    for i in range(start, start + items):
        words = " ".join(_word(rng) for _ in range(80))
        entries.append(
            {
                "url": f"https://sumber{feed_no}.example.id/berita/{i}",
                "guid": f"s{feed_no}-{i}",
                "title": f"Berita {feed_no}-{i} {rng.choice(WORDS)} {rng.randint(1, 10**6)}",
                "content_html": f"<p>{words} {rng.randint(1, 10**9)}</p>",
                "published": f"2024-08-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+07:00",
            }
        )
    return rss(f"Sumber {feed_no}", f"https://sumber{feed_no}.example.id/", entries)
