"""How fast the Likelihood tab scores: tokens per second through the bundled model in LLaDA's Monte Carlo
bound, and how long the tab's largest allowed scoring takes.

    python bench/bench_likelihood.py [--threads 2] [--repeats 3]

For prompt + answer lengths of 40, 128 and 256 tokens (half prompt, half answer), 64 samples in batches
of 16 as the tab draws them (likelihood.bound_samples); medians over the repeats. The last column is the
seconds one scoring at the tab's budget (app/tabs/likelihood.py BUDGET, tokens through the model) takes
at that speed.
"""

import argparse
import statistics
import time

import torch

from llada_demo import load_model
from llada_demo.app.tabs.likelihood import BATCH, BUDGET
from llada_demo.likelihood import bound_samples

SAMPLES = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model()
    print(f"bundled model, {args.threads} torch threads, {SAMPLES} samples in batches of {BATCH}, "
          f"median of {args.repeats}; budget {BUDGET:,} tokens a scoring")
    print(f"{'tokens':>7} {'ms / sample':>12} {'tokens / s':>11} {'budget in s':>12}")
    for length in (40, 128, 256):
        prompt, answer = list(range(10, 10 + length // 2)), list(range(100, 100 + length // 2))
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _batch in bound_samples(loaded, prompt, answer, mc_samples=SAMPLES, batch_size=BATCH):
                pass
            times.append((time.perf_counter() - start) / SAMPLES)
        per_sample = statistics.median(times)
        rate = length / per_sample
        print(f"{length:>7} {per_sample * 1e3:>12.2f} {rate:>11.0f} {BUDGET / rate:>12.1f}")


if __name__ == "__main__":
    main()
