"""What a reverse step costs besides the model: denoise() against its forward passes alone.

    python bench/bench_step_cost.py [--repeats 5] [--threads N]

At the app's defaults on the bundled model (prompt "In the beginning", 128 tokens, 128 steps, blocks
of 32, temperature 0.7, random remasking): the 128 forward passes alone (the same input shape, no
sampling), then denoise() with Gumbel noise only where a step may commit (the default; under the
app's random remasking, only where it commits) and with
noise at every position (full_noise=True, generate.py's random stream), in turns, so that machine
noise hits all three alike. Medians over the repeats; "beyond the passes" is (run - passes) / passes.
"""

import argparse
import os
import statistics
import time

import torch

from llada_demo import denoise, load_model
from llada_demo.prompts import prompt_ids

SETTINGS = dict(gen_length=128, steps=128, block_length=32, temperature=0.7, remasking="random")


def passes_alone(loaded, ids, n) -> float:
    x = torch.tensor([ids + [loaded.mask_id] * SETTINGS["gen_length"]])
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(n):
            loaded.model(x)
    return time.perf_counter() - start


def run(loaded, ids, seed, full_noise) -> float:
    start = time.perf_counter()
    for _ in denoise(loaded, [ids], seed=seed, full_noise=full_noise, **SETTINGS):
        pass
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="default: as app.py")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model(None, device="cpu")
    ids = prompt_ids(loaded, "In the beginning")
    times = {"forward passes alone": [], "denoise(), noise where it may commit": [],
             "denoise(), noise everywhere (full_noise)": []}
    run(loaded, ids, 0, False)  # warm-up
    for seed in range(args.repeats):
        times["forward passes alone"].append(passes_alone(loaded, ids, SETTINGS["steps"]))
        times["denoise(), noise where it may commit"].append(run(loaded, ids, seed, False))
        times["denoise(), noise everywhere (full_noise)"].append(run(loaded, ids, seed, True))
    base = statistics.median(times["forward passes alone"])
    print(f"bundled model, {SETTINGS}, {args.threads} torch threads, {args.repeats} repeats (medians)")
    print(f"{'':44s} {'seconds':>8s} {'beyond the passes':>18s}")
    for name, values in times.items():
        t = statistics.median(values)
        beyond = "" if t is base else f"{(t - base) / base:17.0%}"
        print(f"{name:44s} {t:8.2f} {beyond:>18s}")


if __name__ == "__main__":
    main()
