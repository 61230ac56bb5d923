"""Fast decoding in one table: decoding rule x KV cache x answer length, side by side in one run.

    python bench/bench_decoding.py                       # the bundled models, CPU
    python bench/bench_decoding.py --recite assets/llada-recite --lengths 224
    python bench/bench_decoding.py --model GSAI-ML/LLaDA-8B-Instruct --device cuda --lengths 256 512 1024

Part 1, general text (the bundled KJV model, or --model): prompt "In the beginning", blocks of 32,
greedy. For each answer length, the baseline is LLaDA's plain loop (`fixed`, one step per token, no
cache, no EOS stop); every other row is a rule (fixed / threshold 0.9 / factor 1.0) x a cache (none /
prefix / dual), all with stop at EOS (which never changes the answer, so it is in every fast row).
Part 2, the confident case (--recite DIR, default assets/llada-recite when it exists): every pair of
consecutive verses (A, B) of its passages.json, prompt <|startoftext|> A newline, an answer of 64 tokens
in one block; recall = the answer up to its first EOS or newline is exactly B.

Columns: forward passes (summed over the part's prompts), tokens committed per forward pass, ms per
forward pass, wall seconds, speed-up of the wall time over the baseline of the same length, and the
quality: agreement of the answer (up to EOS) with the baseline's, or the share of verses recalled.
Rows go in turns within each repeat, so that machine noise hits all alike; medians over repeats.
With --against NAME=DIR, every row once more with that checkout's denoise() ("[NAME]"), in the same turns.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from llada_demo import denoise, load_model
from llada_demo.prompts import prompt_ids
from llada_demo.testing import import_checkout

ROOT = Path(__file__).resolve().parent.parent
RULES = {"fixed": {}, "threshold 0.9": dict(decoding="threshold", threshold=0.9),
         "factor 1.0": dict(decoding="factor", factor=1.0)}
CACHES = (None, "prefix", "dual")
BASELINE = "fixed, no cache, no EOS stop (LLaDA)"
CHECKOUTS = {"": denoise}  # row suffix -> the denoise() it runs (--against adds another checkout's)


def rows():
    """(name, keyword arguments, denoise) of every row, the baseline first."""
    for suffix, fn in CHECKOUTS.items():
        yield BASELINE + suffix, {}, fn
        for rule, kw in RULES.items():
            for cache in CACHES:
                yield f"{rule}, {cache or 'no'} cache, EOS stop{suffix}", dict(kw, cache=cache, stop_at_eos=True), fn


def run(loaded, ids, settings, denoise=denoise):
    """(seconds, forward passes, positions committed, canvas tokens) of one greedy run."""
    start = time.perf_counter()
    denoising = denoise(loaded, [ids], **settings)
    tokens = torch.tensor(denoising.canvas.initial)
    passes = committed = 0
    for record in denoising:
        tokens[record.committed] = torch.as_tensor(record.tokens)
        passes, committed = record.forward_passes, committed + len(record.committed)
    if loaded.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, passes, committed, tokens.tolist()


def until(tokens, stops):
    return tokens[: next((i for i, t in enumerate(tokens) if t in stops), len(tokens))]


def measure(loaded, prompts, base, repeats, quality):
    """{row: (median seconds, passes, committed, quality)} over `prompts`, rows in turns."""
    seconds = {name: [] for name, _, _ in rows()}
    results = {}
    for _ in range(repeats):
        for name, kw, fn in rows():
            total, passes, committed, answers = 0.0, 0, 0, []
            for ids in prompts:
                t, p, c, tokens = run(loaded, ids, base | kw, fn)
                total, passes, committed = total + t, passes + p, committed + c
                answers.append(tokens)
            seconds[name].append(total)
            results[name] = (passes, committed, answers)
    reference = results[BASELINE][2]
    return {name: (statistics.median(seconds[name]), p, c, quality(answers, reference))
            for name, (p, c, answers) in results.items()}


def print_table(title, measured, quality_name):
    base = measured[BASELINE][0]
    print(f"\n{title}")
    print(f"| row | forward passes | tokens / pass | ms / pass | seconds | speed-up | {quality_name} |")
    print("|---|---|---|---|---|---|---|")
    for name, (t, passes, committed, q) in measured.items():
        print(f"| {name} | {passes} | {committed / passes:.2f} | {1000 * t / passes:.1f} | {t:.2f} | "
              f"{base / t:.1f}x | {q} |")


def general(loaded, lengths, repeats, chat):
    ids = prompt_ids(loaded, "In the beginning", chat=chat)
    stops = {i for i in (loaded.eos_id, loaded.eot_id) if i is not None}

    def agreement(answers, reference):
        return "yes" if until(answers[0], stops) == until(reference[0], stops) else "no"

    for length in lengths:
        base = dict(gen_length=length, steps=length, block_length=min(32, length))
        print_table(f"{loaded.name}: \"In the beginning\", answer {length}, block {base['block_length']}, greedy",
                    measure(loaded, [ids], base, repeats, agreement), "same answer as LLaDA")


def recitation(loaded, repeats, length=64):
    from llada_demo.reversal import answer_of, pair_ids, verse_pairs

    references = json.loads((loaded.path / "passages.json").read_text())["passages"]
    tok, bos = loaded.tokenizer, loaded.tokenizer.bos_token_id
    pairs = [pair_ids(tok, a, b) for a, b in verse_pairs(references)]
    prompts = [[bos] + a + nl for a, nl, _ in pairs]

    def recall(answers, reference):  # read as the reversal experiment reads a written verse
        right = sum(answer_of(loaded, tokens) == b for tokens, (_, _, b) in zip(answers, pairs))
        return f"{right}/{len(pairs)} ({right / len(pairs):.0%})"

    base = dict(gen_length=length, steps=length, block_length=length)
    print_table(f"{loaded.name}: the next verse of each of {len(pairs)} verse pairs, answer {length} in one block, "
                "greedy (forward passes summed over the pairs)", measure(loaded, prompts, base, repeats, recall),
                "verses recalled exactly")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="the general-text model (default: the bundled one)")
    ap.add_argument("--recite", default=None, help="a recitation model directory with passages.json "
                    "(default: assets/llada-recite when it holds a model; 'none' to skip)")
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 224])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="default: as app.py")
    ap.add_argument("--against", default=None, help="NAME=DIR: every row also with that checkout's denoise()")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.against:
        name, checkout = args.against.split("=", 1)
        CHECKOUTS[f" [{name}]"] = import_checkout(checkout, "llada_demo_" + name).denoise
    recite = args.recite or (str(ROOT / "assets" / "llada-recite")
                             if (ROOT / "assets" / "llada-recite" / "config.json").exists() else "none")
    print(f"{args.threads} torch threads on {args.device}, {args.repeats} repeat(s) (medians)")
    loaded = load_model(args.model, device=args.device)
    chat = "instruct" in loaded.name.lower()  # LLaDA-8B-Instruct gets its chat template
    run(loaded, prompt_ids(loaded, "In the beginning", chat=chat), dict(gen_length=32, steps=32, block_length=32))
    general(loaded, args.lengths, args.repeats, chat)
    if recite != "none":
        recitation(load_model(recite, device=args.device), args.repeats)


if __name__ == "__main__":
    main()
