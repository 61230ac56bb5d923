"""A Compare run's cost in Chromium, two checkouts side by side: where its time goes.

    python bench/probe_compare.py --apps after=/work/main,before=/tmp/prev19 [--rounds 4]

Serves each checkout on the bundled model, opens a page of each and makes bench_browser's default run
there (as bench_browser does before its Compare rows), then runs Compare (bench_browser's compare_run:
both runs, B changed by the first preset) on each page in turn, `--rounds` times, the first page
alternating. Prints the medians of the main thread's time from CDP's Performance.getMetrics (all tasks,
script, layout, style) and Chromium's CPU over all its processes. bench_browser's Compare row is this
CPU over twice the default run's; this gives Compare's own cost, which that ratio cannot tell apart
from a change in the single run's.
"""

import argparse
import statistics

from playwright.sync_api import sync_playwright

import bench_browser as bb
from llada_demo.testing import launch_chromium

METRICS = ["TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"]


def metrics(cdp) -> dict:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", required=True, help="name=checkout,name=checkout")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    apps = dict(a.split("=", 1) for a in args.apps.split(","))
    servers = {name: bb.Server(root, threads=args.threads).wait() for name, root in apps.items()}
    out = {name: {k: [] for k in METRICS + ["chrome"]} for name in apps}
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            pid, pages = bb.chromium_root(), {}
            for name, server in servers.items():
                page = bb.open_page(context, server.url)
                bb.page_run(page, server, pid, bb.DEFAULT, 0)
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                pages[name] = (page, cdp)
            for r in range(args.rounds):
                order = list(pages.items())
                for name, (page, cdp) in order[r % len(order):] + order[: r % len(order)]:
                    before = metrics(cdp)
                    out[name]["chrome"].append(bb.compare_run(page, pid))
                    after = metrics(cdp)
                    for k in METRICS:
                        out[name][k].append(after[k] - before[k])
            browser.close()
    finally:
        for server in servers.values():
            server.close()
    print(f"{args.rounds} Compare runs each (medians, seconds; main thread from CDP, Chromium CPU over all processes)")
    print("| page | all tasks | script | layout | style | Chromium CPU |\n|---|---|---|---|---|---|")
    for name, d in out.items():
        print(f"| {name} | " + " | ".join(f"{statistics.median(d[k]):.2f}" for k in METRICS + ["chrome"]) + " |")


if __name__ == "__main__":
    main()
