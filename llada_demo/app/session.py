"""Per-tab state: each browser tab's last run, and the run going on with a way to stop it.

Gradio gives every tab a session hash; a tab's Session lives until the tab closes (`Sessions.close`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..trace import Trajectory


class Activity:
    """A run: a stop flag it checks before every step, and a flag it sets when it ends."""

    def __init__(self):
        self.stop, self.done = threading.Event(), threading.Event()


@dataclass
class Session:
    """One browser tab: its last run's trajectory and how it ended, and the run going on, if any."""

    trajectory: Trajectory | None = None
    state: str = ""  # "done" or "stopped" once the last run has ended
    answer: str = ""
    run: Activity | None = None
    exports: list = field(default_factory=list)  # files written for this tab, removed when it closes


class Sessions:
    """The sessions of all tabs, by Gradio's session hash (None when a handler is called directly)."""

    def __init__(self):
        self._by_hash: dict[str | None, Session] = {}
        self._lock = threading.Lock()

    def of(self, request) -> Session:
        key = getattr(request, "session_hash", None)
        with self._lock:
            return self._by_hash.setdefault(key, Session())

    def close(self, request) -> Session | None:
        """A closed tab: stop its run and forget it."""
        with self._lock:
            session = self._by_hash.pop(getattr(request, "session_hash", None), None)
        if session is not None and session.run is not None:
            session.run.stop.set()
        return session
