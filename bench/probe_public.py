"""Probe the served app as an anonymous client would, and print what held (issue 18's probe, re-runnable).

    python bench/probe_public.py [--sessions 250] [--threads 1]

Starts `app.py` on the bundled model in a subprocess whose temporary files all go to a fresh folder
(TMPDIR: the export store and Gradio's cache), then talks to it only over HTTP, as the page does (the
page's queue, a new session per tab) or as a raw API client does. Each row: the probe, what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from llada_demo.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


class Server:
    """app.py in a subprocess, with its own TMPDIR."""

    def __init__(self, threads: int):
        self.tmp = Path(tempfile.mkdtemp(prefix="llada-probe-"))
        self.port = free_port()
        env = dict(os.environ, TMPDIR=str(self.tmp), GRADIO_TEMP_DIR=str(self.tmp / "gradio"))
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port),
                                         "--threads", str(threads)], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.http = httpx.Client(base_url=self.url, timeout=120)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if self.http.get("config").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        self.config = self.http.get("config").json()

    def rss_mb(self) -> float:
        pages = int(open(f"/proc/{self.process.pid}/statm").read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def disk_mb(self) -> float:
        return sum(f.stat().st_size for f in self.tmp.rglob("*") if f.is_file()) / 2**20

    # ---- the page's queue -------------------------------------------------------------------------
    def component(self, **props) -> dict:
        return next(c for c in self.config["components"] if all(c.get("props", {}).get(k) == v
                                                                for k, v in props.items()))

    def event(self, target: int, name: str = "click") -> tuple[int, dict]:
        """The event the server answers for (target, name): not one that runs only in the page (as the
        Generate click's that closes the toasts)."""
        for i, dep in enumerate(self.config["dependencies"]):
            if [target, name] in [list(t) for t in dep["targets"]] and dep.get("backend_fn", True):
                return dep.get("id", i), dep
        raise KeyError((target, name))

    def defaults(self, dep: dict) -> list:
        by_id = {c["id"]: c for c in self.config["components"]}
        return [by_id[i].get("props", {}).get("value") for i in dep["inputs"]]

    def queue(self, fn_index: int, data: list, session: str, trigger: int | None = None) -> dict:
        """One event through Gradio's queue as the page sends it; its last message."""
        joined = self.http.post("gradio_api/queue/join", json=dict(data=data, event_data=None, fn_index=fn_index,
                                                                   trigger_id=trigger, session_hash=session))
        if joined.status_code != 200:
            return {"msg": "refused", "status": joined.status_code, "detail": joined.text[:200]}
        last = {}
        with self.http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    last = json.loads(line[6:])
                    if last.get("msg") in ("process_completed", "close_stream"):
                        break
        return last

    def raw_call(self, endpoint: str, data: list) -> str:
        event = self.http.post(f"gradio_api/call/{endpoint}", json={"data": data}).json()
        return self.http.get(f"gradio_api/call/{endpoint}/{event['event_id']}").text

    def close(self):
        self.process.terminate()
        self.process.wait(30)
        shutil.rmtree(self.tmp, ignore_errors=True)


def row(probe: str, result: str):
    print(f"| {probe} | {result} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    server = Server(args.threads)
    try:
        print(f"server: app.py on the bundled model, {args.threads} thread(s), pid {server.process.pid}\n")
        print("| probe | result |\n|---|---|")
        generate_button = server.component(value="Generate", variant="primary")["id"]
        export_button = server.component(value="Export run (JSON + standalone HTML)")["id"]
        generate_fn, generate_dep = server.event(generate_button)
        export_fn, _ = server.event(export_button)
        inputs = server.defaults(generate_dep)
        labels = [next(x for x in server.config["components"] if x["id"] == c).get("props", {}).get("label")
                  for c in generate_dep["inputs"]]

        def run(session, seed=0, n=16):
            """A run from the page's queue (the inputs found by their labels); its last message, checked."""
            data = list(inputs)
            for i, label in enumerate(labels):
                if label == "Prompt":
                    data[i] = "In the world"  # not an example prompt (those are cached and replayed)
                elif label in ("Answer length (tokens)", "Steps", "Block length"):
                    data[i] = n
                elif label == "Seed":
                    data[i] = seed
            out = server.queue(generate_fn, data, session, generate_button)
            if not out.get("success"):
                raise RuntimeError(f"a run from the page's queue failed: {json.dumps(out)[:300]}")
            return out

        # 1. the same run exported ten times through the page's queue
        tab = uuid.uuid4().hex[:10]
        run(tab)
        disk = server.disk_mb()
        t = time.perf_counter()
        paths = set()
        for _ in range(10):
            out = server.queue(export_fn, [], tab, export_button)
            paths.add(json.dumps(out.get("output", {}).get("data"), sort_keys=True))
        row("the same run exported 10 times (page's queue)",
            f"{server.disk_mb() - disk:.1f} MB written in {time.perf_counter() - t:.1f} s; "
            f"{len(paths)} distinct answer(s)")
        # 2. distinct runs exported: the store's cap and Gradio's cache
        disk = server.disk_mb()
        for seed in range(1, 61):
            run(tab, seed=seed, n=8)
            server.queue(export_fn, [], tab, export_button)
        row("60 distinct runs exported (cap 200 MB)", f"{server.disk_mb() - disk:.0f} MB more on disk in all "
                                                       f"(exports and Gradio's cache: {server.disk_mb():.0f} MB)")
        # 3. an upload of 100 MB (the app has no upload component)
        big = server.http.post("gradio_api/upload", files={"files": ("big.bin", b"\0" * (100 * 2**20))})
        row("an upload of 100 MB", f"HTTP {big.status_code}")
        # 4. memory over new sessions, each a page's run
        before = server.rss_mb()
        marks = []
        for i in range(args.sessions):
            run(uuid.uuid4().hex[:10], seed=i, n=8)
            if (i + 1) % max(1, args.sessions // 5) == 0:
                marks.append(f"{i + 1}: {server.rss_mb():.0f}")
        row(f"RSS over {args.sessions} new sessions, each a run (MB)", f"{before:.0f} at the start; " + ", ".join(marks))
        # 5. the command line
        done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--model", "no&such-dir"], capture_output=True,
                              text=True, timeout=120)
        row("app.py --model 'no&such-dir'", f"exit {done.returncode}, {len(done.stderr.strip().splitlines())} line: "
                                            f"`{done.stderr.strip()}`")
        # 6. seeds of 2**63 and 10**20 in the API (the tabs' handlers: tests/test_public.py)
        for seed in (2**63, 10**20):
            text = server.raw_call("run", ["In the world", 8, 2, 8, 0.0, 0.0, "low_confidence", seed])
            row(f"/run with seed {seed}", next((line[6:] for line in text.splitlines() if line.startswith("data: ")), text))
        # 7. raw API argument holes
        for what, endpoint, data in [
            ("/run with /denoise's 8 arguments", "run", ["In the world", 8, 2, 8, 0.0, 0.0, "low_confidence", 0]),
            ("/denoise with 13 arguments", "denoise", ["In the world", 8, 2, 8, 0.0, 0.0, "low_confidence", 0, None, "",
                                                       False, 1, 2]),
            ("/run with stop_at_eos \"false\"", "run", ["In the world", 8, 2, 8, 0.0, 0.0, "low_confidence", 0,
                                                       "fixed", 0.9, 1.0, "false"]),
            ("/denoise with answer length -5", "denoise", ["In the world", -5]),
            ("/denoise with answer length 0", "denoise", ["In the world", 0]),
        ]:
            text = server.raw_call(endpoint, data)
            kind = "error" if "event: error" in text else "complete" if "event: complete" in text else "?"
            last = [line[6:] for line in text.splitlines() if line.startswith("data: ")][-1:]
            row(what, f"{kind}: {last[0][:160] if last else ''}")
        # 8. run files: tests/test_public.py and tests/test_browser.py feed each malformed file to
        # decode_run() and to the page; here the size cap alone, through decode_run
        from llada_demo.trace.wire import decode_run

        try:
            decode_run(" " * (50 * 2**20))
            row("a 50 MB run file", "accepted")
        except ValueError as e:
            row("a 50 MB run file", f"refused: {e}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
