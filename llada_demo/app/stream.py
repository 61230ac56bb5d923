"""The transport of a run's messages to its page: each run's Outbox, and the page's own stream of them.

Two ways out of an Outbox:
- the page's own stream, Server-Sent Events beside Gradio's routes: every message as soon as it is
  added. GET llada-demo/runs/<run>?from=<n> streams the run's messages from index n on, each event
  {"first": index, "messages": [...]} with `id:` the count sent so far (a reconnecting EventSource
  resumes from there); it ends after the run's end message. An unknown or finished run answers 204,
  which tells EventSource not to reconnect. The run id is a random token that only its page has seen.
- the live view's Gradio value, {run, first, messages}: the start and the end, and every step while no
  page follows the stream (it has not connected yet, or cannot), `first` being the index of the value's
  first message in the run (messages go as one JSON string: Gradio diffs successive values, a string as
  one value, a list item by item).
Why a stream of our own: every value update of a Gradio component costs the page several ms of
main-thread work in Gradio's client and Svelte state, where a message of our own stream is parsed and
applied in well under a millisecond (docs/performance.md). A page that missed messages (it mounted after
the run began, or a value was dropped) asks for them with `Outboxes.resend`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

PATH = "/llada-demo/runs/{run}"
KEEPALIVE = 15.0  # s: a comment line this often while a run is quiet, so that a gone page is noticed
KEEP_OUTBOXES = 64  # runs whose messages the server keeps for pages that missed some


class Outbox:
    """A run's messages, in order, as the page receives them. Messages are added by the run's thread and
    read by the server's event loop."""

    def __init__(self):
        self.run, self.log, self.closed, self.followers = uuid.uuid4().hex, [], False, 0
        self.branch_of, self.at = None, None  # a branch: the run it continues and the step (its page has those)
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def add(self, messages: list[dict], close: bool = False):
        with self._lock:
            self.log += messages
            self.closed = self.closed or close
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def payload(self, first: int) -> dict:
        """The live view's value: the messages from `first` on."""
        value = dict(run=self.run, first=first, messages=json.dumps(self.log[first:], separators=(",", ":")))
        return value if self.branch_of is None else value | dict(branch_of=self.branch_of, at=self.at)

    async def wait(self, seen: int, timeout: float) -> None:
        """Until the log holds more than `seen` messages, the run has ended, or `timeout` seconds."""
        with self._lock:
            if len(self.log) > seen or self.closed:
                return
            event = asyncio.Event()
            self._waiters.append((asyncio.get_running_loop(), event))
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class Outboxes:
    """The latest runs' outboxes, by run id (the oldest dropped beyond `keep`)."""

    def __init__(self, keep: int = KEEP_OUTBOXES):
        self.keep, self._by_run = keep, {}
        self._lock = threading.Lock()

    def new(self) -> Outbox:
        outbox = Outbox()
        with self._lock:
            self._by_run[outbox.run] = outbox
            while len(self._by_run) > self.keep:
                self._by_run.pop(next(iter(self._by_run)))
        return outbox

    def get(self, run: str) -> Outbox | None:
        return self._by_run.get(run)

    def __getitem__(self, run: str) -> Outbox:
        return self._by_run[run]

    def resend(self, request) -> str | None:
        """[run, start, end] from the page -> the run's messages [start:end] as a JSON string (None if
        that run is no longer kept). The run id is a random token only its page has seen."""
        try:
            run, start, end = request
            return json.dumps(self._by_run[str(run)].log[int(start):int(end)], separators=(",", ":"))
        except (KeyError, TypeError, ValueError):
            return None


def stream_route(outboxes: Outboxes) -> Route:
    """The route serving `outboxes`."""

    async def stream(request: Request) -> Response:
        outbox = outboxes.get(request.path_params["run"])
        try:
            seen = int(request.headers.get("last-event-id") or request.query_params.get("from") or 0)
        except ValueError:
            seen = -1
        if seen < 0:
            return Response("'from' must be a whole number, 0 or more", status_code=400)
        if outbox is None or (outbox.closed and seen >= len(outbox.log)):
            return Response(status_code=204)

        async def events():
            nonlocal seen
            outbox.followers += 1  # the run sends its steps here, not through Gradio
            try:
                while True:
                    await outbox.wait(seen, KEEPALIVE)
                    closed = outbox.closed  # read before the log: once closed, the log is whole
                    new = outbox.log[seen:]
                    if new:
                        data = json.dumps({"first": seen, "messages": new}, separators=(",", ":"))
                        seen += len(new)
                        yield f"id: {seen}\ndata: {data}\n\n"
                    elif not closed:
                        yield ": still running\n\n"
                    if closed and seen >= len(outbox.log):
                        return
            finally:
                outbox.followers -= 1

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return Route(PATH, stream, methods=["GET"])


def add_stream_route(server_app, outboxes: Outboxes) -> None:
    """Put the route in front of Gradio's own (its app is made by launch(), so this runs after it)."""
    server_app.router.routes.insert(0, stream_route(outboxes))
