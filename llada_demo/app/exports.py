"""Exported runs on the server's disk, bounded: one folder per distinct run, a total size cap and an age
limit, whether or not any tab ever closes.

An export is keyed by its content (the JSON document's hash): exporting the same run again, from any tab,
returns the files already written. Each standalone HTML holds plotly.js (it must open offline), a few MB
a copy, so what is bounded is how many copies exist: past `max_bytes` the oldest folders go first, and a
folder older than `max_age` seconds goes at the next export or sweep.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

EXPORT_BYTES = 200 * 2**20  # all exports together
EXPORT_AGE = 3600.0  # s an export is kept


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


class ExportStore:
    """Folders of exported files under one root, each named by the hash of what it holds."""

    def __init__(self, root: Path | None = None, max_bytes: int = EXPORT_BYTES, max_age: float = EXPORT_AGE):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="llada-exports-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.max_age = max_bytes, max_age
        self._written: dict[str, tuple[float, int, list[Path]]] = {}  # key -> (time written, bytes, files)
        self._lock = threading.Lock()

    @staticmethod
    def key(content: str) -> str:
        return hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]

    def files(self, content: str, write: Callable[[Path], list[Path]]) -> list[Path]:
        """The files of the export whose JSON text is `content`: those already written, or what
        `write(folder)` writes into a new folder (then older exports are swept to keep the bounds)."""
        key = self.key(content)
        with self._lock:
            known = self._written.get(key)
            if known is not None and all(f.is_file() for f in known[2]):
                return known[2]
            folder = self.root / key
            shutil.rmtree(folder, ignore_errors=True)  # a half-written or swept folder: write it again
            folder.mkdir()
            files = write(folder)
            self._written[key] = (time.monotonic(), _size(folder), files)
            self._sweep(keep=key)
            return files

    def sweep(self) -> None:
        with self._lock:
            self._sweep()

    def _sweep(self, keep: str | None = None) -> None:
        now = time.monotonic()
        for key, (written, _, _) in list(self._written.items()):
            if key != keep and now - written > self.max_age:
                self._remove(key)
        oldest_first = sorted(self._written, key=lambda k: self._written[k][0])
        while self.total_bytes() > self.max_bytes and oldest_first:
            key = oldest_first.pop(0)
            if key != keep:
                self._remove(key)

    def _remove(self, key: str) -> None:
        self._written.pop(key, None)
        shutil.rmtree(self.root / key, ignore_errors=True)

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self._written.values())

    def __len__(self) -> int:
        return len(self._written)
