"""Held-out numbers and samples for a trained checkpoint; fills the model card.

    python -m llada_demo.evaluate assets/llada-kjv
    python -m llada_demo.evaluate my-model --text notes.txt    # a model trained on your own text

Prints masked-token accuracy at t = 0.15, 0.5, 0.9 and the ELBO perplexity bound on fixed held-out
windows, and the distinct-3-gram ratio of 20 samples; writes them with five samples to
DIR/eval_results.json and re-renders DIR/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .card import read_json, write_model_card
from .corpus import encode_docs, heldout_windows, load_corpus
from .likelihood import hidden_states, mask_tokens, masked_accuracy, next_token_accuracy, output_head
from .loading import DEMO_DEFAULTS, load_model

TS = (0.15, 0.5, 0.9)
CARD_PROMPTS = ["In the beginning", "And Jesus said unto them,", "The LORD is my shepherd;",
                "Blessed are the", "And it came to pass, when the king"]


@torch.no_grad()
def elbo_nll(model, windows, mask_id, draws=8, eps=1e-3, seed=0, batch_size=16) -> float:
    """Monte Carlo ELBO bound on NLL per token: E_t[(1/t) sum_masked -log p(x_i)] / T, fixed seed."""
    g = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for _ in range(draws):
        for i in range(0, len(windows), batch_size):
            x = windows[i : i + batch_size]
            noisy, masked, p_mask = mask_tokens(x, mask_id, eps, g)
            logits = output_head(model, hidden_states(model, noisy)[masked])[:, : model.config.vocab_size]
            nll = F.cross_entropy(logits.float(), x[masked], reduction="none") / p_mask[masked]
            total += nll.sum().item()
            count += x.numel()
    return total / count


@torch.no_grad()
def exact_nll(model, windows, batch_size=16) -> float:
    """A causal model's NLL per token: each token of a window given those before it (the first token of
    each window is context only, as in training)."""
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        x = windows[i : i + batch_size]
        logits = output_head(model, hidden_states(model, x[:, :-1]))[..., : model.config.vocab_size].float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum").item()
        count += x[:, 1:].numel()
    return total / count


def distinct_n(seqs: list[list[int]], n: int = 3) -> tuple[float, float]:
    """(pooled, mean per sample) share of distinct token n-grams; 1.0 means no n-gram repeats."""
    grams = [[tuple(s[i : i + n]) for i in range(len(s) - n + 1)] for s in seqs]
    pooled = [g for gs in grams for g in gs]
    per_sample = [len(set(gs)) / len(gs) for gs in grams if gs]
    return len(set(pooled)) / max(len(pooled), 1), sum(per_sample) / max(len(per_sample), 1)




def sample(loaded, prompt_ids: list[int], settings: dict, seed: int, gen_length: int | None = None) -> list[int]:
    """The answer's token ids, from the package's LLaDA reverse process (llada_demo.generate)."""
    from .sampling import generate

    gen_length = gen_length or settings["gen_length"]
    steps = max(1, settings["steps"] * gen_length // settings["gen_length"])  # same steps per token
    # a model with a short context (e.g. in tests) gets a shorter answer, keeping the steps-per-token ratio
    room = loaded.model.config.max_sequence_length - len(prompt_ids)
    if gen_length > room:
        steps, gen_length = max(1, steps * room // gen_length), room
    prompt = torch.tensor([prompt_ids], dtype=torch.long)
    out = generate(loaded.model, prompt, steps=steps, gen_length=gen_length,
                   block_length=min(settings["block_length"], gen_length), temperature=settings["temperature"],
                   remasking=settings.get("remasking", "low_confidence"), mask_id=loaded.mask_id,
                   eos_id=loaded.eos_id, eot_id=loaded.eot_id, seed=seed)
    return out[0, len(prompt_ids):].tolist()


def demo_defaults(path: Path) -> dict:
    return {**DEMO_DEFAULTS, **read_json(path / "generation_config.json").get("demo_defaults", {})}


def evaluate_dir(path, text_files=None, windows: int = 64, draws: int = 8, threads: int = 2, write: bool = True,
                 overrides: dict | None = None, metrics: bool = True, save_defaults: bool = False,
                 compare: str | Path | None = None):
    """Metrics and samples of the checkpoint at `path`; `overrides` change the sampling settings.
    A causal model (the autoregressive twin) gets next-token accuracy and its exact perplexity, and,
    with `compare` (a diffusion model with the same tokenizer), that model's ELBO bound on the very same
    windows beside it."""
    torch.set_num_threads(threads)
    path = Path(path)
    t0 = time.time()
    loaded = load_model(path, device="cpu", dtype="float32")
    model, tok = loaded.model, loaded.tokenizer
    seq_len = model.config.max_sequence_length
    results = dict(seq_len=seq_len)
    if metrics:
        _, held_docs = load_corpus(text_files)
        win = heldout_windows(encode_docs(tok, held_docs), seq_len, windows)
        if model.config.causal:
            results.update(windows=len(win), heldout=list(held_docs),
                           **causal_metrics(loaded, win, draws, compare, path))
    if metrics and not model.config.causal:
        results.update(windows=len(win), heldout=list(held_docs), **diffusion_metrics(loaded, win, draws))
    d = {**demo_defaults(path), **(overrides or {})}
    results.update(samples_of(loaded, d), seconds=round(time.time() - t0, 1))
    if save_defaults:  # the app reads these as its starting settings for this model
        gen_file = path / "generation_config.json"
        gen_cfg = read_json(gen_file)
        gen_cfg["demo_defaults"] = d
        gen_file.write_text(json.dumps(gen_cfg, indent=2) + "\n")
    if write and metrics:
        (path / "eval_results.json").write_text(json.dumps(results, indent=2) + "\n")
        if (path / "config.json").is_file():
            write_model_card(path)
    return results


def diffusion_metrics(loaded, win, draws) -> dict:
    """A mask predictor's held-out numbers: masked-token accuracy at each t, and its ELBO bound."""
    acc = {str(t): masked_accuracy(loaded.model, win, loaded.mask_id, t, seed=0) for t in TS}
    nll = elbo_nll(loaded.model, win, loaded.mask_id, draws=draws)
    print(f"{len(win)} held-out windows of {win.shape[1]} tokens")
    for t, a in acc.items():
        print(f"masked-token accuracy at t={t}: {a:.4f}")
    print(f"ELBO NLL bound {nll:.4f} nats/token -> perplexity <= {math.exp(nll):.2f}")
    return dict(masked_accuracy=acc, elbo_nll=nll, elbo_ppl=math.exp(nll), elbo_samples=draws)


def samples_of(loaded, d: dict) -> dict:
    """The card's samples with the sampling settings `d`: 20 unconditional ones of 64 tokens (the prompt is
    EOS: "a new text starts here") for distinct 3-grams, and one per CARD_PROMPTS."""
    print("sampling settings:", d)
    seqs = [sample(loaded, [loaded.eos_id], d, seed=i, gen_length=64) for i in range(20)]
    pooled, per_sample = distinct_n(seqs, 3)
    print(f"distinct 3-grams over 20 samples of 64 tokens: {per_sample:.3f} per sample, {pooled:.3f} pooled")
    samples = []
    for i, prompt in enumerate(CARD_PROMPTS):
        ids = sample(loaded, loaded.tokenizer.encode(prompt, add_special_tokens=False), d, seed=i)
        if loaded.eos_id in ids:  # the text ended; what follows EOS is padding
            ids = ids[: ids.index(loaded.eos_id)]
        samples.append(prompt + loaded.tokenizer.decode(ids))
    for s in samples:
        print("---\n" + s)
    how = (f"one token per step, temperature {d['temperature']}" if loaded.model.config.causal else
           f"{d['steps']} steps, block length {d['block_length']}, temperature {d['temperature']}, "
           f"{d['remasking']} remasking")
    return dict(distinct3=per_sample, distinct3_pooled=pooled, distinct_samples=20, distinct_length=64, samples=samples,
                sampling=d, sample_settings=(f"prompt as shown, {d['gen_length']} new tokens, {how}, seeds 0-4, cut at "
                                             "the first <|endoftext|>"))


def causal_metrics(loaded, win, draws, compare, path) -> dict:
    """The twin's held-out numbers; with `compare`, the diffusion model's bound on the same windows."""
    acc, nll = next_token_accuracy(loaded.model, win), exact_nll(loaded.model, win)
    print(f"next-token accuracy {acc:.4f}; NLL {nll:.4f} nats/token -> perplexity {math.exp(nll):.2f}")
    out = dict(next_token_accuracy=acc, nll=nll, ppl=math.exp(nll))
    if compare is not None:
        other = load_model(compare, device="cpu", dtype="float32")
        if other.tokenizer.backend_tokenizer.to_str() != loaded.tokenizer.backend_tokenizer.to_str():
            raise SystemExit(f"{compare} reads other tokens than {path}: their numbers would not compare")
        if other.model.config.causal:
            raise SystemExit(f"--compare takes a diffusion model; {compare} is causal")
        bound = elbo_nll(other.model, win, other.mask_id, draws=draws)
        print(f"{compare}: ELBO NLL bound {bound:.4f} nats/token -> perplexity <= {math.exp(bound):.2f}")
        out["compare"] = dict(model=str(compare), elbo_nll=bound, elbo_ppl=math.exp(bound), elbo_samples=draws)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Held-out metrics and samples of a LLaDA checkpoint directory")
    p.add_argument("dir")
    p.add_argument("--text", nargs="+", default=None, metavar="FILE",
                   help="the text files the model was trained on (their last 5%% is held out); default: the Bible")
    p.add_argument("--windows", type=int, default=64, help="held-out windows (default 64)")
    p.add_argument("--draws", type=int, default=8, help="draws of t per window for the ELBO (default 8)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compare", metavar="DIR", help="a causal model's card: this diffusion model's ELBO bound "
                                                    "on the same windows (the same tokenizer)")
    p.add_argument("--no-write", action="store_true", help="print only; leave eval_results.json and README.md")
    p.add_argument("--card-only", action="store_true", help="only re-render README.md from the saved results")
    p.add_argument("--samples-only", action="store_true", help="skip the held-out metrics (implies --no-write)")
    g = p.add_argument_group("sampling settings (default: demo_defaults in generation_config.json)")
    g.add_argument("--temperature", type=float)
    g.add_argument("--steps", type=int)
    g.add_argument("--gen-length", type=int)
    g.add_argument("--block-length", type=int)
    g.add_argument("--remasking", choices=["low_confidence", "random", "margin", "entropy"])
    g.add_argument("--save-defaults", action="store_true", help="store these settings as the demo defaults")
    a = p.parse_args(argv)
    if a.card_only:
        write_model_card(Path(a.dir))
        return
    names = ("temperature", "steps", "gen_length", "block_length", "remasking")
    overrides = {k: getattr(a, k) for k in names if getattr(a, k) is not None}
    evaluate_dir(a.dir, a.text, a.windows, a.draws, a.threads, write=not a.no_write, overrides=overrides,
                 metrics=not a.samples_only, save_defaults=a.save_defaults, compare=a.compare)


if __name__ == "__main__":
    main()
