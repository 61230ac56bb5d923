"""The 512 x 512 replay's scrub, side by side: two checkouts, one page each, the scrubs interleaved.

    python bench/probe_scrub.py --apps after=/work/main,before=/tmp/prev19 [--rounds 6] [--delay MS]

Serves each checkout on bench_browser's tiny checkpoint, runs its 512 x 512 run once in a page of its
own, then times 30 random scrubs (bench_browser's SCRUB: the input event and the layout it forces) on
each page in turn, `--rounds` times, and prints each page's median, 90th percentile, max and how many
scrubs took over 33 ms (two frames). Interleaving puts both under the same load, where bench_browser
scrubs each page right after its own run.

With --delay, every round runs the 512 x 512 run again on each page in turn and scrubs it MS
milliseconds after the run ended (0: at once, as bench_browser does).
"""

import argparse
import random
import statistics
import tempfile
from pathlib import Path

import bench_browser as bb


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", required=True, help="name=checkout,name=checkout")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--delay", type=int, default=None, help="ms from a run's end to its scrubs; a run per round")
    args = ap.parse_args()
    apps = dict(a.split("=", 1) for a in args.apps.split(","))
    checkpoint = bb.tiny_checkpoint(Path(tempfile.mkdtemp(prefix="scrub-")))
    rng, times = random.Random(0), {name: [] for name in apps}
    with bb.side_by_side(apps, bb.LONG, 1, model=checkpoint) as (pid, pages):
        for page, _ in pages.values():
            page.wait_for_timeout(1500)
        for round_ in range(args.rounds):
            for name, (page, server) in pages.items():
                page.bring_to_front()
                if args.delay is None:
                    page.wait_for_timeout(300)
                else:
                    if round_:
                        bb.page_run(page, server, pid, bb.LONG, round_ + 1)
                    if args.delay:
                        page.wait_for_timeout(args.delay)
                times[name] += page.evaluate(bb.SCRUB, [rng.randint(0, 512) for _ in range(30)])
    print(f"delay: {'none (one run, then rounds of scrubs)' if args.delay is None else f'{args.delay} ms'}")
    print("| page | scrubs | median ms | 90th percentile ms | max ms | over 33 ms |\n|---|---|---|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {len(t)} | {statistics.median(t):.1f} | {statistics.quantiles(t, n=10)[-1]:.1f} "
              f"| {max(t):.1f} | {sum(x > 33 for x in t)} |")


if __name__ == "__main__":
    main()
