"""What a reverse step costs besides the model: denoise() against its forward passes alone.

    python bench/bench_step_cost.py [--repeats 5] [--threads N] [--against before=/tmp/llada-old]

At the app's defaults on the bundled model (prompt "In the beginning", 128 tokens, 128 steps, blocks
of 32, temperature 0.7, random remasking): the 128 forward passes alone (the same input shape, no
sampling), then denoise() with Gumbel noise only where a step may commit (the default; under the
app's random remasking, only where it commits) and with
noise at every position (full_noise=True, generate.py's random stream), in turns, so that machine
noise hits all three alike. Medians over the repeats; "beyond the passes" is (run - passes) / passes.
With --against NAME=DIR, the two denoise() rows of that checkout's package too, in the same turns.
"""

import argparse
import os
import statistics
import time

import torch

from llada_demo import denoise, load_model
from llada_demo.prompts import prompt_ids
from llada_demo.testing import import_checkout

SETTINGS = dict(gen_length=128, steps=128, block_length=32, temperature=0.7, remasking="random")


def passes_alone(loaded, ids, n) -> float:
    x = torch.tensor([ids + [loaded.mask_id] * SETTINGS["gen_length"]])
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(n):
            loaded.model(x)
    return time.perf_counter() - start


def run(loaded, ids, seed, full_noise, denoise=denoise) -> float:
    start = time.perf_counter()
    for _ in denoise(loaded, [ids], seed=seed, full_noise=full_noise, **SETTINGS):
        pass
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="default: as app.py")
    ap.add_argument("--against", default=None, help="NAME=DIR: also that checkout's denoise(), in turns")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model(None, device="cpu")
    ids = prompt_ids(loaded, "In the beginning")
    rows = {"denoise(), noise where it may commit": (denoise, False),
            "denoise(), noise everywhere (full_noise)": (denoise, True)}
    if args.against:
        name, checkout = args.against.split("=", 1)
        other = import_checkout(checkout, "llada_demo_" + name).denoise
        rows |= {f"{row} [{name}]": (other, noise) for row, (_, noise) in rows.items()}
    times = {"forward passes alone": [], **{row: [] for row in rows}}
    for fn, noise in rows.values():
        run(loaded, ids, 0, noise, fn)  # warm-up
    for seed in range(args.repeats):
        times["forward passes alone"].append(passes_alone(loaded, ids, SETTINGS["steps"]))
        for row, (fn, noise) in rows.items():
            times[row].append(run(loaded, ids, seed, noise, fn))
    base = statistics.median(times["forward passes alone"])
    print(f"bundled model, {SETTINGS}, {args.threads} torch threads, {args.repeats} repeats (medians)")
    print(f"{'':54s} {'seconds':>8s} {'beyond the passes':>18s}")
    for name, values in times.items():
        t = statistics.median(values)
        beyond = "" if t is base else f"{(t - base) / base:17.0%}"
        print(f"{name:54s} {t:8.2f} {beyond:>18s}")


if __name__ == "__main__":
    main()
