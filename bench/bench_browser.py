"""The app in headless Chromium against bare denoise(): the browser goals, in one table.

    python bench/bench_browser.py [--apps after=/work/main,before=/tmp/llada-old] [--repeats 3] [--floor]

Each app is served from its checkout (`python app.py --port N`), and once more on a tiny checkpoint
whose context holds 512 answer tokens. Bare denoise() runs in this process with the server's torch
thread count, alternating with the app's runs so that machine noise hits both. Runs use the page's
defaults on the bundled model (prompt "In the beginning", 128 tokens, 128 steps, blocks of 32,
temperature 0.7, random remasking) and seeds 0, 1, 2, ... (a bare run takes its app run's seed): the
app caches runs of its example prompts per seed, and a cached run is replayed, not computed.

Rows (medians over the repeats; "/ bare": over the bare run just before), each measured by the function
of the same name below:
  click -> done        Generate click to "done" in #ld-status, / bare denoise() wall time
  server CPU           utime+stime of the server process over the run, / bare denoise() CPU time
  Chromium CPU         CPU of the browser process and all its descendants over the run, / bare CPU
                       (with no DevTools network tracking on: it costs the browser CPU of its own)
  KB / step            bytes the page receives on Gradio's /queue/data and the run stream (CDP), / steps
  Stop -> stopped      224-token run, Stop clicked 2 s after Generate: click to "stopped" in #ld-status
  status lag           max over a run of (time shown - server's elapsed) since the first step shown, in ms;
                       worse of the 128-step run and the 224-step run until Stop
  512x512              a 512-token, 512-step run on the tiny checkpoint: its longest long task
                       (PerformanceObserver), the number over 100 ms, and then the replay slider set to
                       30 random steps: median and max ms per step shown
  Compare              the Compare tab's first preset with the page's settings (two 128-step runs):
                       Chromium CPU over twice the single run's just before, and KB per step of the two
  inspect, continue    at step 64 of a default run: a masked cell clicked -> its top 5 in the panel, less
                       one forward pass; Continue from here (no edit) -> its first new step shown, / a new
                       run's Generate -> first step; KB received for the branch / KB of as many steps
                       (a page without the inspector: "-")
  4 tabs / API         4 tabs (a browser context each) click Generate at once, until the last shows
                       "done"; / the same 4 runs submitted at once to /denoise (one queue slot: both
                       run one after another)
With --floor, three more rows: what the page costs at the least.
  nothing live         Chromium CPU of the same run in a page that draws nothing while the run streams
                       (all at the end): the click, the messages, Gradio's page, / bare CPU
  status only          the same, but the status is drawn as the page draws it, / bare CPU
  a text per step      Chromium CPU of a blank page whose one text changes as often and as long as the
                       run's steps came, / bare CPU
Columns: the goal, one per app, and bare denoise() (its median wall and CPU seconds).
"""

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import torch
from gradio_client import Client
from playwright.sync_api import sync_playwright

from llada_demo import denoise, load_model, save_checkpoint
from llada_demo.prompts import prompt_ids
from llada_demo.loading import BUNDLED_MODEL_DIR
from llada_demo.testing import descendants, free_port, launch_chromium, process_cpu_seconds, tiny_model

PROMPT = "In the beginning"
DEFAULT = dict(gen_length=128, steps=128, block_length=32)
STOPPED = dict(gen_length=224, steps=224, block_length=32)
LONG = dict(gen_length=512, steps=512, block_length=512)
SAMPLING = dict(temperature=0.7, remasking="random")
SLIDERS = {"gen_length": "Answer length (tokens)", "steps": "Steps", "block_length": "Block length"}

# Installed in every page: when each step first shows in #ld-status (with the server's elapsed time),
# when the status first says done / stopped, the Generate and Stop clicks, and the long tasks.
INSTRUMENT = r"""() => {
  const el = document.querySelector('#ld-status');
  const text = () => (el.querySelector('.prose') || el).textContent.trim();  // not innerText: no layout
  const w = window.__bench = {tasks: []};
  w.reset = () => Object.assign(w, {shown: [], fresh: false, done: null, stopped: null, click: null, stop: null});
  w.reset();
  new MutationObserver(() => {
    const t = performance.now(), s = text(), m = /step (\d+)\/\d+ .* (\d+\.\d+) s\b/.exec(s);
    if (m && (!w.shown.length || w.shown[w.shown.length - 1][0] !== Number(m[1])))
      w.shown.push([Number(m[1]), Number(m[2]), t]);
    if (!/^(done|stopped)/.test(s)) w.fresh = true;  // a new run has begun: its end comes next
    else if (w.fresh && w.done === null && w.stopped === null) w[s.startsWith('done') ? 'done' : 'stopped'] = t;
  }).observe(el, {childList: true, subtree: true, characterData: true});
  new PerformanceObserver((list) => { for (const e of list.getEntries()) w.tasks.push([e.startTime, e.duration]); })
    .observe({type: 'longtask', buffered: true});
  for (const b of document.querySelectorAll('button')) {
    const name = b.textContent.trim();
    if (name === 'Generate' || name === 'Stop')
      b.addEventListener('click', () => { w[name === 'Stop' ? 'stop' : 'click'] = performance.now(); }, true);
  }
}"""
# The new page's replay is a range input drawn by the page: time the input event and the layout after it.
SCRUB = """(ks) => { const r = document.getElementById('ld-replay');
  return ks.map((k) => { const t = performance.now(); r.value = k; r.dispatchEvent(new Event('input'));
                         document.body.offsetHeight; return performance.now() - t; }); }"""
ENDED = "window.__bench.done !== null || window.__bench.stopped !== null"
STEER_AT = 64  # the step a run is inspected and continued at
# Click the first masked cell at the replay's step: ms until the panel shows the model's top 5. Then its
# Continue from here, the click timed as Generate's.
INSPECT = """(k) => new Promise((resolve) => {
  const cell = document.querySelector('#ld-grid .ld-cells .ld-cell.ld-mask[data-pos]'), t = performance.now();
  const panel = document.querySelector('.ld-inspect');
  const seen = new MutationObserver(() => {
    if (panel.querySelectorAll('.ld-top').length === 5) { seen.disconnect(); resolve(performance.now() - t); }
  });
  seen.observe(panel, {childList: true, subtree: true});
  cell.click();
})"""
CONTINUE = """() => { const go = [...document.querySelectorAll('.ld-inspect button')].find((b) => b.textContent === 'Continue from here');
  window.__bench.click = performance.now(); go.click(); }"""


# ---- processes --------------------------------------------------------------------------------------
class Server:
    """`python app.py --port N [--model DIR]` run from a checkout until close()."""

    def __init__(self, checkout: str, model: Path | None = None, threads: int = 2):
        self.port, self.log = free_port(), tempfile.TemporaryFile()
        cmd = [sys.executable, "app.py", "--port", str(self.port)] + (["--model", str(model)] if model else [])
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(cmd, cwd=checkout, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}/"

    def wait(self, timeout=300.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.url} exited: {self.log.read().decode(errors='replace')[-2000:]}")
            try:
                if urllib.request.urlopen(self.url, timeout=5).status == 200:
                    return self
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"{self.url} did not answer in {timeout} s")

    def cpu(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def chromium_root() -> int:
    """The pid of the Chromium browser process this script started (through Playwright's driver)."""
    def exe(pid):
        try:
            return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            return ""

    def parent(pid):
        text = Path(f"/proc/{pid}/stat").read_text()
        return int(text[text.rindex(")") + 2:].split()[1])

    return next(p for p in descendants(os.getpid())
                if exe(p).startswith("chrom") and not exe(parent(p)).startswith("chrom"))


def tiny_checkpoint(folder: Path) -> Path:
    """A tiny LLaDA whose context holds 512 answer tokens, with the bundled model's tokenizer and ids."""
    model = tiny_model(d_model=64, n_heads=4, n_kv_heads=4, mlp_hidden_size=128, vocab_size=4096,
                       embedding_size=4096, max_sequence_length=1024, mask_token_id=2, eos_token_id=0,
                       pad_token_id=0)
    path = save_checkpoint(model, folder / "tiny-llada")
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(BUNDLED_MODEL_DIR / name, path / name)
    return path


def revision(checkout: str) -> str:
    out = subprocess.run(["git", "-C", checkout, "describe", "--always", "--dirty"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else "no git"


# ---- the page --------------------------------------------------------------------------------------
class Traffic:
    """Bytes a page receives on Gradio's streaming requests (/queue/data) and on the page's own run
    stream (/llada-demo/runs/), counted through CDP while `counting` (DevTools' network tracking costs
    the browser CPU of its own, so it is off while CPU is measured)."""

    def __init__(self, page):
        self.streams, self.bytes = set(), 0
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.on("Network.requestWillBeSent", self.sent)
        self.cdp.on("Network.dataReceived", self.received)

    def __enter__(self):
        self.streams, self.bytes = set(), 0
        self.cdp.send("Network.enable")
        return self

    def __exit__(self, *exc):
        self.cdp.send("Network.disable")

    def sent(self, e):
        if "/queue/data" in e["request"]["url"] or "/llada-demo/runs/" in e["request"]["url"]:
            self.streams.add(e["requestId"])

    def received(self, e):
        if e["requestId"] in self.streams:
            self.bytes += max(e["dataLength"], e["encodedDataLength"])


def open_page(context, url):
    page = context.new_page()
    page.set_default_timeout(120_000)  # a loaded 2-core machine can stall a page for many seconds
    return load(page, url)


def load(page, url):
    page.goto(url)
    page.get_by_placeholder("Type a prompt, then Generate").wait_for()
    page.locator("#ld-replay").wait_for(state="attached")
    page.evaluate(INSTRUMENT)
    return page


def prepare(page, settings: dict, seed: int):
    """Prompt, lengths and seed set as a user sets them; then the page's records are reset."""
    for key, label in SLIDERS.items():
        box = page.locator(f"input[type=number][aria-label='number input for {label}']")
        if box.input_value() != str(settings[key]):
            box.fill(str(settings[key]))
            box.press("Tab")
    page.get_by_label("Seed", exact=True).fill(str(seed))
    page.get_by_placeholder("Type a prompt, then Generate").fill(PROMPT)
    page.wait_for_timeout(500)  # the settings' change events are answered before the run
    page.evaluate("window.__bench.reset()")


def wait_end(page, timeout):
    """Until the status says done or stopped; an error toast ends the benchmark with its text."""
    page.wait_for_function(f"{ENDED} || !!document.querySelector('[data-testid=toast-body]')",
                           timeout=timeout * 1000, polling=100)
    if not page.evaluate(ENDED):
        raise RuntimeError("the page showed an error: " + page.get_by_test_id("toast-body").first.inner_text())


def page_run(page, server, browser_pid, settings, seed, stop_after=None, timeout=600):
    """One run from the page: seconds to the end, CPU of server and browser, lag, Stop, long tasks."""
    page.bring_to_front()  # headless Chromium delays animation frames in the other pages of a context
    prepare(page, settings, seed)
    cpu0, chrome0 = server.cpu(), process_cpu_seconds(browser_pid, children=True)
    page.get_by_role("button", name="Generate").click()
    if stop_after is not None:
        page.wait_for_timeout(stop_after * 1000)
        page.get_by_role("button", name="Stop", exact=True).click()
    wait_end(page, timeout)
    cpu, chrome = server.cpu() - cpu0, process_cpu_seconds(browser_pid, children=True) - chrome0
    w = page.evaluate("window.__bench")
    shown = [s for s in w["shown"] if w["stop"] is None or s[2] <= w["stop"]]
    return dict(wall=((w["done"] or w["stopped"]) - w["click"]) / 1e3, cpu=cpu, chrome=chrome, lag=lag_ms(shown),
                first=shown[0][2] - w["click"] if shown else None,
                stop=(w["stopped"] - w["stop"]) / 1e3 if w["stopped"] is not None and w["stop"] else None,
                tasks=[d for t, d in w["tasks"] if t >= w["click"]])


@contextmanager
def side_by_side(apps: dict, settings: dict, seed: int, model: Path | None = None, threads: int = 1):
    """Each checkout of `apps` ({name: checkout}) served by its own app.py (on `model`, default the bundled
    one), a page of each in one Chromium that has made one run of `settings`: yields (Chromium's pid,
    {name: (page, server)}); the servers close after."""
    servers = {name: Server(root, model, threads=threads).wait() for name, root in apps.items()}
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            pid, pages = chromium_root(), {}
            for name, server in servers.items():
                pages[name] = (open_page(context, server.url), server)
                page_run(pages[name][0], server, pid, settings, seed)
            yield pid, pages
            browser.close()
    finally:
        for server in servers.values():
            server.close()


def one_pass(loaded, ids) -> float:
    """Seconds of one forward pass of the model on a default run's canvas (prompt and answer), median of 5."""
    x = torch.tensor([ids + [loaded.mask_id] * DEFAULT["gen_length"]])
    times = []
    with torch.no_grad():
        for _ in range(5):
            t = time.perf_counter()
            loaded.model(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def lag_ms(shown) -> float | None:
    """Max over the shown steps k of (shown(k) - shown(k0)) - (elapsed(k) - elapsed(k0)) in ms: how far the
    status fell behind the server, k0 being the first step shown."""
    if len(shown) < 3:
        return None
    k0, e0, t0 = shown[0]
    return max(0.0, max((t - t0) - (e - e0) * 1e3 for _, e, t in shown))


def bare_run(loaded, ids, seed):
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in denoise(loaded, [ids], **DEFAULT, **SAMPLING, seed=seed):
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


# ---- the rows: each measures one line of the table (or two that come from one run) ---------------------
class Bench:
    """What every row needs: the browser, one app's servers and main page, the bundled model for the bare
    runs, and a stream of seeds (a new seed is a new run, never a cached one). Each app's page is open
    only while its rows are measured (`open`, `close`): the browser's CPU counts every page it holds."""

    def __init__(self, browser, context, servers, loaded, seeds, rng):
        self.browser, self.context, self.rng = browser, context, rng
        self.server, self.long_server = servers
        self.loaded, self.ids, self.seeds = loaded, prompt_ids(loaded, PROMPT), seeds
        self.pid = chromium_root()
        self.page = self.traffic = None

    def open(self):
        """The app's page, warmed by a run of its own (a page's first run draws its first plots)."""
        self.page = open_page(self.context, self.server.url)
        self.traffic = Traffic(self.page)
        page_run(self.page, self.server, self.pid, DEFAULT, next(self.seeds))

    def close(self):
        self.page.close()

    def default_run(self, r: dict):
        """click -> done, server CPU and Chromium CPU over a bare run of the same seed; the run's lag."""
        seed = next(self.seeds)
        wall, cpu = bare_run(self.loaded, self.ids, seed)
        run = page_run(self.page, self.server, self.pid, DEFAULT, seed)
        r["bare"].append((wall, cpu))
        r["wall"].append(run["wall"] / wall)
        r["cpu"].append(run["cpu"] / cpu)
        r["chrome"].append(run["chrome"] / cpu)
        r["lag"].append(run["lag"])
        return run

    def bytes_per_step(self, r: dict):
        """KB the page receives per step of a default run."""
        with self.traffic as traffic:
            page_run(self.page, self.server, self.pid, DEFAULT, next(self.seeds))
        r["kb"].append(traffic.bytes / 1024 / DEFAULT["steps"])

    def stop_latency(self, r: dict):
        """Stop clicked 2 s into a 224-token run: seconds until the status says stopped; the run's lag."""
        run = page_run(self.page, self.server, self.pid, STOPPED, next(self.seeds), stop_after=2.0)
        r["stop"].append(run["stop"])
        r["lag"][-1] = max((x for x in (r["lag"][-1], run["lag"]) if x is not None), default=None)

    def long_run(self, r: dict):
        """A 512 x 512 run on the tiny checkpoint: its long tasks, then 30 random scrubs of its replay."""
        page = open_page(self.context, self.long_server.url)
        tasks = page_run(page, self.long_server, self.pid, LONG, next(self.seeds))["tasks"]
        r["longest"].append(max(tasks, default=0))
        r["over"].append(sum(d > 100 for d in tasks))
        done = int(page.evaluate("document.getElementById('ld-replay').max"))
        r["scrub"] += page.evaluate(SCRUB, [self.rng.randint(0, done) for _ in range(30)])
        page.close()

    def compare(self, r: dict, single_chrome: float):
        """The Compare tab's first preset: Chromium CPU over twice the single run's; KB per step of both
        (from a second Compare run, with the network tracked)."""
        r["compare"].append(compare_run(self.page, self.pid) / (2 * single_chrome))
        with self.traffic as traffic:
            compare_run(self.page, self.pid)
        r["compare_kb"].append(traffic.bytes / 1024 / DEFAULT["steps"])

    def tabs_and_api(self, r: dict, client):
        """Four tabs at once against four API runs at once."""
        tabs = four_tabs(self.browser, self.server, [next(self.seeds) for _ in range(4)])
        r["tabs"].append(tabs / four_api(client, [next(self.seeds) for _ in range(4)]))

    def steer(self, r: dict):
        """Inspect and Continue from here (an app whose page has them): at step 64 of a default run, a
        masked cell clicked -> its top 5 shown, less one forward pass of the model on that canvas; then
        Continue from here with no edit: click -> its first new step shown, over a new run's Generate
        click -> its first step shown (the run just before); and the KB the page receives for the
        branch, over the KB of as many steps of a whole run (1x: the steps before 64 are not sent again)."""
        if not self.page.evaluate("!!(window.LladaView && LladaView.Inspector)"):
            return
        run = page_run(self.page, self.server, self.pid, DEFAULT, next(self.seeds))
        r["first_step"].append(run["first"])
        self.page.evaluate(SCRUB, [STEER_AT])
        wall = self.page.evaluate(INSPECT, STEER_AT)
        r["inspect"].append(wall - 1000 * one_pass(self.loaded, self.ids))
        self.page.evaluate("window.__bench.reset()")
        with self.traffic as traffic:
            self.page.evaluate(CONTINUE)
            wait_end(self.page, 600)
        w = self.page.evaluate("window.__bench")
        first = next(t for k, _, t in w["shown"] if k > STEER_AT)
        r["continue"].append((first - w["click"]) / run["first"])
        r["branch_kb"].append(traffic.bytes / 1024 / ((DEFAULT["steps"] - STEER_AT) * med(r["kb"])))

    def floor(self, r: dict, wall: float, cpu: float):
        """The floor rows, with this page blanked (the floor pages share the browser with nothing else)."""
        self.page.goto("about:blank")
        floor = floor_runs(self.context, self.server, self.pid, [next(self.seeds) for _ in range(4)], wall)
        load(self.page, self.server.url)
        page_run(self.page, self.server, self.pid, DEFAULT, next(self.seeds))  # (warm again)
        for key, value in zip(("nothing_live", "status_only", "text_per_step"), floor):
            r[key].append(value / cpu)


def compare_run(page, browser_pid, timeout=600) -> float:
    """One Compare run (both runs with the page's settings, B changed by the first preset): Chromium CPU."""
    page.bring_to_front()
    page.get_by_role("tab", name="Compare").click()
    # each side's end is the first done/stopped after a status that was neither: the last repeat's
    # "done" is still on screen when this one starts
    page.evaluate("""() => { window.__compare = {};
      for (const s of ['a', 'b']) {
        const el = document.querySelector(`#ld-${s}-status`), w = window.__compare;
        new MutationObserver(() => { const ended = /^(done|stopped)/.test(el.textContent.trim());
          if (!ended) w[s] = 'running'; else if (w[s] === 'running') w[s] = 'ended'; })
          .observe(el, {childList: true, subtree: true, characterData: true}); } }""")
    chrome0 = process_cpu_seconds(browser_pid, children=True)
    page.get_by_role("button", name="Generate both").click()
    page.wait_for_function("window.__compare.a === 'ended' && window.__compare.b === 'ended'",
                           timeout=timeout * 1000, polling=100)
    chrome = process_cpu_seconds(browser_pid, children=True) - chrome0
    page.get_by_role("tab", name="Generate").click()
    return chrome


# Nothing drawn while a run streams (the status, the grid and the heatmap are drawn at its end).
NOTHING_LIVE = """() => {
  const L = LladaView.Live.prototype, draw = L.drawLive;
  L.drawLive = function (force) { if (this.state === 'running' && !this.replaying) return; return draw.call(this, force); };
}"""
# Only the status while a run streams: the grid and the heatmap are drawn at its end.
STATUS_ONLY = """() => {
  const L = LladaView.Live.prototype, grid = L.drawGrid;
  L.drawGrid = function (k, since) { if (this.state === 'running' && !this.replaying) return; return grid.call(this, k, since); };
  const C = LladaView.Charts.prototype, update = C.update;
  C.update = function (run, final) { if (final) return update.call(this, run, final); };
}"""
TEXT_PER_STEP = """([n, every]) => new Promise((done) => { const el = document.getElementById('t'); let i = 0;
  const timer = setInterval(() => { el.textContent = `running · step ${++i}/${n} · ${(i * every / 1e3).toFixed(2)} s`;
    if (i >= n) { clearInterval(timer); done(); } }, every); })"""


def floor_runs(context, server, browser_pid, seeds, wall) -> tuple[float, float, float]:
    """Chromium CPU seconds of (a run whose page draws nothing until the end, one whose page draws only
    the status, a blank page changing one text once per step of a run of `wall` seconds)."""
    cpu, seeds = [], iter(seeds)
    for patch in (NOTHING_LIVE, STATUS_ONLY):
        page = open_page(context, server.url)
        page.evaluate(patch)
        page_run(page, server, browser_pid, DEFAULT, next(seeds))  # first, as the main row's page is warm
        cpu.append(page_run(page, server, browser_pid, DEFAULT, next(seeds))["chrome"])
        page.close()
    blank = context.new_page()
    blank.set_content("<div id='t'>Ready.</div>")
    chrome0 = process_cpu_seconds(browser_pid, children=True)
    blank.evaluate(TEXT_PER_STEP, [DEFAULT["steps"], wall * 1e3 / DEFAULT["steps"]])
    cpu.append(process_cpu_seconds(browser_pid, children=True) - chrome0)
    blank.close()
    return tuple(cpu)


def four_tabs(browser, server, seeds) -> float:
    """Seconds from the first of four Generate clicks until the last tab shows done. Each tab has a
    browser context of its own: in one context, headless Chromium delays animation frames (up to ~1 s)
    in every page but the front one, and opens at most 6 connections to a host, while each Gradio tab
    holds one open (its heartbeat) and one more while it has an event queued or running."""
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in seeds]
    pages = [open_page(context, server.url) for context in contexts]
    for page, seed in zip(pages, seeds):
        prepare(page, DEFAULT, seed)
    start = time.time() * 1e3
    for page in pages:
        page.get_by_role("button", name="Generate").click()
    for page in pages:
        wait_end(page, 600)
    ends = [page.evaluate("performance.timeOrigin + window.__bench.done") for page in pages]
    for context in contexts:
        context.close()
    return (max(ends) - start) / 1e3


def four_api(client, seeds) -> float:
    """Seconds from submitting four /denoise runs at once until the last has finished."""
    start = time.perf_counter()
    jobs = [client.submit(prompt=PROMPT, **DEFAULT, **SAMPLING, cfg_scale=0.0, seed=s, api_name="/denoise")
            for s in seeds]
    for job in jobs:
        job.result()
    return time.perf_counter() - start


# ---- the table --------------------------------------------------------------------------------------
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec, unit=""):
    return "-" if value is None else f"{value:{spec}}{unit}"


ROWS = [  # (metric, goal, key, format, unit)
    ("click -> done / bare", "<= 1.3x", "wall", ".2f", "x"),
    ("server CPU / bare CPU", "<= 1.25x", "cpu", ".2f", "x"),
    ("Chromium CPU / bare CPU", "<= 0.35x", "chrome", ".2f", "x"),
    ("KB received per step", "<= 2 KB", "kb", ".2f", " KB"),
    ("Stop -> stopped, 224 tokens", "<= 0.5 s", "stop", ".2f", " s"),
    ("status lag, max (ms)", "<= 150", "lag", ".0f", ""),
    ("512x512: longest task ms", "<= 100", "longest", ".0f", ""),
    ("512x512: tasks > 100 ms", "0", "over", ".0f", ""),
    ("512x512: scrub med / max ms", "<= 16", "scrub", None, ""),
    ("Compare: Chromium CPU / 2 runs", "<= 1.2x", "compare", ".2f", "x"),
    ("Compare: KB per step (both)", "<= 4 KB", "compare_kb", ".2f", " KB"),
    ("4 tabs / 4 API runs", "<= 1.2x", "tabs", ".2f", "x"),
    ("inspect: click -> top 5 - 1 pass", "<= 100 ms", "inspect", ".0f", " ms"),
    ("continue: 1st step / new run's", "<= 1.0x", "continue", ".2f", "x"),
    ("continue: KB / its steps' KB", "<= 1.1x", "branch_kb", ".2f", "x"),
]
FLOOR_ROWS = [("Chromium CPU, nothing live", "-", "nothing_live", ".2f", "x"),
              ("Chromium CPU, status only", "-", "status_only", ".2f", "x"),
              ("Chromium CPU, a text per step", "-", "text_per_step", ".2f", "x")]


def cell(r: dict, key: str, spec: str | None, unit: str) -> str:
    if spec is None:  # the scrub: median / max
        return f"{fmt(med(r[key]), '.1f')} / {fmt(max(r[key], default=None), '.1f')}"
    return fmt(med(r[key]), spec, unit)


def table(results: dict, apps: dict, threads: int, repeats: int, floor: bool = False):
    bare = [b for r in results.values() for b in r["bare"]]
    print(f"model: bundled {BUNDLED_MODEL_DIR.name}; prompt {PROMPT!r}, {DEFAULT['gen_length']} tokens, "
          f"{DEFAULT['steps']} steps, blocks of {DEFAULT['block_length']}, temperature {SAMPLING['temperature']}, "
          f"{SAMPLING['remasking']} remasking, seeds from 0; {threads} torch threads; {repeats} repeats; "
          + ", ".join(f"{a} = {c} ({revision(c)})" for a, c in apps.items()))
    reference = {"wall": f"{med(b[0] for b in bare):.2f} s wall", "cpu": f"{med(b[1] for b in bare):.2f} s CPU",
                 "text_per_step": "blank page"} if bare else {}  # (none with --only-512)
    widths = [30, 9] + [max(15, len(a)) for a in results] + [14]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(["metric", "goal"] + list(results) + ["bare denoise"]))
    for name, goal, key, spec, unit in ROWS + (FLOOR_ROWS if floor else []):
        print(line([name, goal] + [cell(r, key, spec, unit) for r in results.values()] + [reference.get(key, "")]))
    for a, r in results.items():
        if None in r["stop"]:
            print(f"note: in {a}, {r['stop'].count(None)} of the 224-token runs ended before Stop; left out")
    print("reference: bare denoise() of the package this script imports, on the bundled model, in this process")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", default=f"after={Path(__file__).resolve().parent.parent}",
                    help="name=checkout,... (each served by its own app.py)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--floor", action="store_true", help="also the least the page can cost (see the rows above)")
    ap.add_argument("--only-512", action="store_true", help="only the 512 x 512 rows (a change to the grid's drawing)")
    ap.add_argument("--only-compare", action="store_true",
                    help="only the Compare rows (and the default run they are measured against)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so that the servers are stopped
    apps = dict(item.split("=", 1) for item in args.apps.split(","))
    loaded, rng, seeds = load_model(), random.Random(0), iter(range(10**6))
    folder = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    servers = {a: (Server(c, threads=args.threads), Server(c, tiny_checkpoint(folder), threads=args.threads))
               for a, c in apps.items()}
    keys = [key for _, _, key, _, _ in ROWS + FLOOR_ROWS]
    results = {a: {key: [] for key in keys + ["bare", "first_step"]} for a in apps}
    try:
        for pair in servers.values():
            for server in pair:
                server.wait()
        with sync_playwright() as p:
            browser = launch_chromium(p)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            benches = {a: Bench(browser, context, pair, loaded, seeds, rng) for a, pair in servers.items()}
            clients = {a: Client(pair[0].url, verbose=False) for a, pair in servers.items()}
            for repeat in range(args.repeats):
                # each app first in turn: of two pages, the one opened first scrubbed about 2 ms slower at
                # the median whichever checkout it held (bench/probe_scrub.py, both orders)
                order = list(benches.items())
                for a, bench in order[repeat % len(order):] + order[: repeat % len(order)]:
                    r = results[a]
                    if args.only_512:
                        print(f"{a}, repeat {repeat + 1}: 512 x 512 run on the tiny checkpoint, scrub", file=sys.stderr)
                        bench.long_run(r)
                        continue
                    print(f"{a}, repeat {repeat + 1}: 128-token runs, Compare, Stop", file=sys.stderr)
                    bench.open()
                    run = bench.default_run(r)
                    bench.compare(r, run["chrome"])
                    if args.only_compare:
                        bench.close()
                        continue
                    bench.bytes_per_step(r)
                    if args.floor:
                        bench.floor(r, run["wall"], r["bare"][-1][1])
                    bench.stop_latency(r)
                    bench.steer(r)
                    bench.close()
                    print(f"{a}, repeat {repeat + 1}: 512 x 512 run on the tiny checkpoint, scrub", file=sys.stderr)
                    bench.long_run(r)
                    print(f"{a}, repeat {repeat + 1}: four tabs, four API runs", file=sys.stderr)
                    bench.tabs_and_api(r, clients[a])
            browser.close()
    finally:
        for pair in servers.values():
            for server in pair:
                server.close()
        shutil.rmtree(folder, ignore_errors=True)
    table(results, apps, args.threads, args.repeats, args.floor)


if __name__ == "__main__":
    main()
