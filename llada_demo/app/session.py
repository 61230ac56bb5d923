"""Per-tab state: each browser tab's last run, and the run going on with a way to stop it.

Gradio gives every tab a session hash; a tab's Session lives until the tab closes (`Sessions.close`),
until it has been idle for `Sessions.max_idle` seconds, or until `Sessions.capacity` newer sessions push
it out (least recently used first). A raw API client never closes its tab, so without the last two
every new client would hold its last run for the life of the server.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ..trace import Trajectory

SESSIONS = 256  # tabs whose last run the server keeps
SESSION_IDLE = 3600.0  # s without a request after which a tab's last run is forgotten


class Activity:
    """A run: a stop flag it checks before every step, and a flag it sets when it ends."""

    def __init__(self):
        self.stop, self.done = threading.Event(), threading.Event()

    @property
    def running(self) -> bool:
        return not self.done.is_set()


@dataclass
class Session:
    """One browser tab: its last run's trajectory and how it ended, the run going on, if any, and the
    Reversal tab's last scoreboard."""

    trajectory: Trajectory | None = None
    state: str = ""  # "done" or "stopped" once the last run has ended
    answer: str = ""
    run: Activity | None = None
    # the Reversal tab's last scoreboard, pair by pair, for replay: about 1.8 MB for its 46 pairs' runs; each
    # takes a minute or two of the model's queue, so the idle limit bounds how many are kept at once
    board: list = field(default_factory=list)
    used: float = field(default_factory=time.monotonic)  # last request

    @property
    def busy(self) -> bool:
        return self.run is not None and self.run.running


class Sessions:
    """The sessions of all tabs, by Gradio's session hash (None when a handler is called directly),
    at most `capacity` of them, none idle for more than `max_idle` seconds. A session whose run is
    going on is never dropped (its Stop must still find it)."""

    def __init__(self, capacity: int = SESSIONS, max_idle: float = SESSION_IDLE):
        self.capacity, self.max_idle = capacity, max_idle
        self._by_hash: OrderedDict[str | None, Session] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, request) -> Session:
        key = getattr(request, "session_hash", None)
        now = time.monotonic()
        with self._lock:
            session = self._by_hash.pop(key, None) or Session()
            session.used = now
            self._by_hash[key] = session  # the most recently used last
            self._prune(now)
            return session

    def _prune(self, now: float) -> None:
        idle = [k for k, s in self._by_hash.items() if now - s.used > self.max_idle and not s.busy]
        for key in idle:
            del self._by_hash[key]
        for key in [k for k, s in self._by_hash.items() if not s.busy][: max(0, len(self._by_hash) - self.capacity)]:
            del self._by_hash[key]

    def __len__(self) -> int:
        return len(self._by_hash)

    def close(self, request) -> Session | None:
        """A closed tab: stop its run and forget it."""
        with self._lock:
            session = self._by_hash.pop(getattr(request, "session_hash", None), None)
        if session is not None and session.run is not None:
            session.run.stop.set()
        return session
