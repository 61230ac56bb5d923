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

import bench_browser as bb

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
    out = {name: {k: [] for k in METRICS + ["chrome"]} for name in apps}
    with bb.side_by_side(apps, bb.DEFAULT, 0, threads=args.threads) as (pid, pages):
        cdps = {}
        for name, (page, _) in pages.items():
            cdps[name] = page.context.new_cdp_session(page)
            cdps[name].send("Performance.enable")
        for r in range(args.rounds):
            order = list(pages)
            for name in order[r % len(order):] + order[: r % len(order)]:
                before = metrics(cdps[name])
                out[name]["chrome"].append(bb.compare_run(pages[name][0], pid))
                after = metrics(cdps[name])
                for k in METRICS:
                    out[name][k].append(after[k] - before[k])
    print(f"{args.rounds} Compare runs each (medians, seconds; main thread from CDP, Chromium CPU over all processes)")
    print("| page | all tasks | script | layout | style | Chromium CPU |\n|---|---|---|---|---|---|")
    for name, d in out.items():
        print(f"| {name} | " + " | ".join(f"{statistics.median(d[k]):.2f}" for k in METRICS + ["chrome"]) + " |")


if __name__ == "__main__":
    main()
