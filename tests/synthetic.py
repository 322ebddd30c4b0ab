"""Synthetic feeds of many distinct entries, for crash and load tests (no article text needed)."""

from __future__ import annotations

import random

from tests.feedfiles import rss

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


def feed_bytes(feed_no: int, items: int, seed: int = 0) -> bytes:
    """An RSS document of ``items`` distinct entries (half common words, half invented ones)."""
    rng = random.Random(seed * 1000 + feed_no)
    entries = []
    for i in range(items):
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
