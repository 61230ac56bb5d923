"""Milliseconds per forward pass (one reverse step) at prompt 64 + answer 128, batch 1, float32.

    python bench/bench_model_step.py [--model DIR] [--threads 2] [--repeats 200]

Times the bundled model's shape (or DIR's) next to a few neighbouring sizes, all with random
weights (speed does not depend on the values). The budget for the bundled model is 15 ms on two
cores. Sizes run interleaved, round after round, so machine noise hits all alike; the table gives
the median and the 10th percentile over the rounds.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from llada_demo import LLaDAConfig, LLaDAModelLM
from llada_demo.loading import BUNDLED_MODEL_DIR

# the shape the bundled model was trained with (used when no config.json is found)
CHOSEN = dict(d_model=256, n_layers=4, n_heads=4, n_kv_heads=4, mlp_hidden_size=512)
NEIGHBOURS = [
    dict(d_model=256, n_layers=4, n_heads=4, n_kv_heads=4, mlp_hidden_size=768),
    dict(d_model=256, n_layers=6, n_heads=4, n_kv_heads=4, mlp_hidden_size=512),
    dict(d_model=320, n_layers=4, n_heads=5, n_kv_heads=5, mlp_hidden_size=640),
]


def build(shape: dict, vocab: int) -> LLaDAModelLM:
    cfg = LLaDAConfig(**shape, vocab_size=vocab, embedding_size=(vocab + 127) // 128 * 128, weight_tying=True,
                      rope_theta=10000.0, max_sequence_length=256, mask_token_id=2, eos_token_id=0, pad_token_id=0)
    return LLaDAModelLM(cfg).init_weights(0).eval().requires_grad_(False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(BUNDLED_MODEL_DIR), help="checkpoint dir whose shape to time")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--prompt-length", type=int, default=64)
    ap.add_argument("--answer-length", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    chosen, vocab, label = CHOSEN, 4096, "chosen"
    source = "train.py defaults"
    config_file = Path(args.model) / "config.json"
    if config_file.is_file():
        raw = json.loads(config_file.read_text())
        chosen = {k: raw[k] for k in CHOSEN}
        vocab, label, source = raw["vocab_size"], "chosen", args.model
    rows = [(label, chosen)] + [("", s) for s in NEIGHBOURS if s != chosen]
    models = [build(shape, vocab) for _, shape in rows]
    ids = torch.randint(6, vocab, (1, args.prompt_length + args.answer_length))
    times = [[] for _ in models]
    with torch.no_grad():
        for m in models:  # warm-up: allocator, rotary cache
            for _ in range(5):
                m(ids)
        for _ in range(args.repeats):
            for m, ts in zip(models, times):
                t0 = time.perf_counter()
                m(ids)
                ts.append(time.perf_counter() - t0)

    print(f"forward, batch 1, {ids.shape[1]} tokens ({args.prompt_length} prompt + {args.answer_length} answer), "
          f"float32, {args.threads} threads, {args.repeats} rounds; chosen shape from {source}\n")
    print(f"| {'model':<28} | d_model | layers | heads/kv | mlp | params | median ms | p10 ms |")
    print(f"|{'-' * 30}|---------|--------|----------|-----|--------|-----------|--------|")
    for (name, s), m, ts in zip(rows, models, times):
        ts = sorted(ts)
        print(f"| {name:<28} | {s['d_model']:>7} | {s['n_layers']:>6} | {s['n_heads']:>4}/{s['n_kv_heads']:<3} | "
              f"{s['mlp_hidden_size']:>3} | {m.num_parameters() / 1e6:5.2f}M | {statistics.median(ts) * 1e3:9.1f} | "
              f"{ts[len(ts) // 10] * 1e3:6.1f} |")


if __name__ == "__main__":
    main()
