"""What the web server answers from memory: rendered feed documents and pages.

Readers poll the combined feeds, often thousands of them, mostly with conditional requests.
So a document is rendered once per change of the stories, gzipped once, and given a strong
ETag; a request then costs a dictionary look-up and a header comparison, with no query. Whether
the stories changed is learned by one background query a second (the shared "changes"
counter). While the database is unreachable, what is held is served as it is.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

PAGES_KEPT = 256  # rendered HTML pages kept (LRU)


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    gzipped: bytes
    etag: str
    modified: datetime
    last_modified: str  # the HTTP date of ``modified``
    content_type: str

    @classmethod
    def of(cls, body: bytes, modified: datetime, content_type: str) -> Document:
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        return cls(
            body,
            gzip.compress(body, compresslevel=6, mtime=0),
            etag,
            modified,
            format_datetime(modified.replace(microsecond=0), usegmt=True),
            content_type,
        )


class Held:
    """Rendered things by key, each tagged with the version of the stories it was made from.

    ``get`` returns what is held for the current version, else renders (one render per key at
    a time: concurrent requests for the same document wait for the same render). When a render
    fails, what is held for an older version is returned instead, if anything.
    """

    def __init__(self, size: int | None = None) -> None:
        self._held: OrderedDict[Hashable, tuple[int, object]] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._size = size

    def peek(self, key: Hashable, version: int) -> object | None:
        found = self._held.get(key)
        if found is not None and found[0] == version:
            self._held.move_to_end(key)
            return found[1]
        return None

    async def get(self, key: Hashable, version: int, render: Callable[[], object]) -> object:
        held = self.peek(key, version)
        if held is not None:
            return held
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            held = self.peek(key, version)
            if held is not None:
                return held
            try:
                value = await asyncio.get_running_loop().run_in_executor(None, render)
            except Exception:
                stale = self._held.get(key)
                if stale is None:
                    raise
                return stale[1]
            self._held[key] = (version, value)
            self._held.move_to_end(key)
            while self._size is not None and len(self._held) > self._size:
                old, _ = self._held.popitem(last=False)
                self._locks.pop(old, None)
            return value
