"""Fast decoding on a CPU: key/value caches and decoding rules against LLaDA's plain loop, in one table.

    python bench/bench_cache.py [--model DIR] [--repeats 3] [--threads N]

On the bundled model (or --model), prompt "In the beginning", answer 224 tokens in blocks of 32,
greedy: the plain loop (224 steps, no cache), the prefix and dual caches, and the threshold rule
(tau 0.9) with the dual cache and stop at EOS. Runs go in turns, so that machine noise hits all alike;
medians over the repeats. Columns: seconds, forward passes, seconds per pass against the plain
loop's, speed-up of the whole run, and whether the answer (up to EOS) is the plain loop's.
"""

import argparse
import os
import statistics
import time

import torch

from llada_demo import denoise, load_model
from llada_demo.app.prompts import prompt_ids

BASE = dict(gen_length=224, steps=224, block_length=32)
RUNS = {
    "plain (fixed, no cache)": {},
    "prefix cache": dict(cache="prefix"),
    "dual cache": dict(cache="dual"),
    "threshold 0.9 + dual + EOS stop": dict(cache="dual", decoding="threshold", threshold=0.9, stop_at_eos=True),
}


def answer(tokens, stop_ids):
    tokens = tokens.tolist()
    return tokens[: next((i for i, t in enumerate(tokens) if t in stop_ids), len(tokens))]


def one(loaded, ids, kw):
    start = time.perf_counter()
    run = denoise(loaded, [ids], **BASE, **kw)
    tokens = torch.tensor(run.canvas.initial)
    passes = 0
    for record in run:
        tokens[record.committed] = torch.as_tensor(record.tokens)
        passes = record.forward_passes
    return time.perf_counter() - start, passes, tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="default: as app.py")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model(args.model, device="cpu")
    ids = prompt_ids(loaded, "In the beginning")
    stop_ids = {i for i in (loaded.eos_id, loaded.eot_id) if i is not None}
    one(loaded, ids, {})  # warm-up
    seconds = {name: [] for name in RUNS}
    passes, tokens = {}, {}
    for _ in range(args.repeats):
        for name, kw in RUNS.items():
            t, passes[name], tokens[name] = one(loaded, ids, kw)
            seconds[name].append(t)
    base = statistics.median(seconds["plain (fixed, no cache)"])
    base_per_pass = base / passes["plain (fixed, no cache)"]
    reference = answer(tokens["plain (fixed, no cache)"], stop_ids)
    print(f"{loaded.name}, {BASE}, greedy, {args.threads} torch threads, {args.repeats} repeats (medians)")
    print(f"{'':34s} {'seconds':>8s} {'passes':>7s} {'s/pass vs plain':>16s} {'speed-up':>9s} {'same answer':>12s}")
    for name in RUNS:
        t = statistics.median(seconds[name])
        same = "yes" if answer(tokens[name], stop_ids) == reference else "no"
        print(f"{name:34s} {t:8.2f} {passes[name]:7d} {t / passes[name] / base_per_pass:15.0%} "
              f"{base / t:8.1f}x {same:>12s}")


if __name__ == "__main__":
    main()
