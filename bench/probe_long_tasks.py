"""Where a 512 x 512 run's long tasks come from: the viewer's functions timed inside the page.

    python bench/probe_long_tasks.py [--repeats 3] [--over 60]

Serves the app on bench_browser's tiny checkpoint (512 answer tokens), runs its 512 x 512 run in a fresh
page each repeat, and prints every long task over `--over` ms (PerformanceObserver) with the viewer's
functions and Plotly's calls that ran inside it, each over 8 ms (wrapped in the page: the wrapping
adds a little to each). Times from the Generate click and from "done".
"""

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

import bench_browser as bb
from llada_demo.testing import launch_chromium

ROOT = Path(__file__).resolve().parent.parent
WRAP = r"""() => {
  const L = window.LladaView, log = window.__calls = [];
  const wrap = (obj, name, label) => {
    const f = obj[name];
    obj[name] = function (...a) {
      const t = performance.now();
      try { return f.apply(this, a); } finally { const d = performance.now() - t; if (d > 8) log.push([label, t, d]); }
    };
  };
  for (const [obj, names, prefix] of [[L.Grid.prototype, ['draw', 'build'], 'grid.'],
                                      [L.Charts.prototype, ['update', 'axes', 'orderChart', 'progressChart'], 'charts.'],
                                      [L.Live.prototype, ['drawLive', 'finish', 'message', 'receive'], 'live.'],
                                      [L.Run.prototype, ['add'], 'run.'], [window.Plotly, ['newPlot', 'react'], 'Plotly.']])
    for (const name of names) wrap(obj, name, prefix + name);
}"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--over", type=float, default=60, help="ms: the long tasks listed")
    args = ap.parse_args()
    server = bb.Server(str(ROOT), bb.tiny_checkpoint(Path(tempfile.mkdtemp(prefix="long-tasks-"))), threads=1).wait()
    print("| repeat | task at (from click / from done), ms | long | inside it (function: ms) |\n|---|---|---|---|")
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            pid = bb.chromium_root()
            for repeat in range(1, args.repeats + 1):
                page = bb.open_page(context, server.url)
                page.evaluate(WRAP)
                bb.page_run(page, server, pid, bb.LONG, repeat)
                w, calls = page.evaluate("window.__bench"), page.evaluate("window.__calls")
                for t, d in w["tasks"]:
                    if t >= w["click"] and d > args.over:
                        inside = ", ".join(f"{name}: {dd:.0f}" for name, s, dd in calls if t - 1 <= s <= t + d)
                        print(f"| {repeat} | {t - w['click']:.0f} / {t - w['done']:.0f} | {d:.0f} | {inside} |", flush=True)
                page.close()
            browser.close()
    finally:
        server.close()


if __name__ == "__main__":
    main()
