"""The reversal experiment: can a model write the verse after a verse, and the verse before one?

    python -m llada_demo.reversal assets/llada-kjv assets/llada-kjv-ar
    python -m llada_demo.reversal assets/llada-recite --passages assets/llada-recite/passages.json --json out.json

On every pair (A, B) of consecutive verses of the passages, in the corpus's plain format (verses
joined by a newline), greedy, exact match of the token ids:
- forward: given <|startoftext|> A newline, write B. An autoregressive model writes as many tokens as
  B has. A diffusion model writes as LLaDA's instruct models do: on a canvas as long as its training
  rows (up to 256 tokens, which its fine-tune padded with <|endoftext|>), one token per step, greedy,
  until everything before its first <|endoftext|> is written (stop_at_eos, which gives the answer the
  whole canvas would); its answer is what it wrote before the first <|endoftext|> or newline;
- backward: given <|startoftext|>, masks for A (as many as A has), newline, B (then <|endoftext|> to
  the same length): fill A. A diffusion model infills. An autoregressive model cannot: it only
  continues a prefix. Its way to write A is the paper's form, below.
- the paper's form (when the list names "instructions": the passages trained with instruction rows):
  on the pairs of the other passages, which the model saw in reading order only, ask both ways in
  plain text, "The verse after: A" newline -> B and "The verse before: B" newline -> A
  (corpus.instruction); both kinds of model write the answer as in the forward test, greedy.
- ranking, a different task (choosing, not writing): of all verses of the passages, the A that
  maximises the model's likelihood of the same text, A newline B <|endoftext|> after <|startoftext|>,
  which is p(A | B) times p(B), the same for every candidate (Bayes). The twin's likelihood is exact;
  the diffusion model's is its bound, LLaDA's Monte Carlo estimate with RANK_SAMPLES draws (seed 0 for
  every candidate): loose and noisy, so its ranking is a lower bound on what the model knows. Easier
  than writing A: the candidates are given.
For a diffusion model the table also gives the mean confidence of its first step over B's positions
in the forward runs (how sure it is before it has committed anything).
The LLaDA paper's poem test (Nie et al. 2025, table 4): LLaDA 51.8 / 45.6 forward / backward,
GPT-4o 82.7 / 34.3.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .card import read_json, reversal_table as table
from .corpus import instruction
from .evaluate import demo_defaults
from .likelihood import log_likelihoods
from .loading import LoadedModel, load_model
from .sampling import SamplingSettings, denoise, generate

DEFAULT_PASSAGES = Path(__file__).resolve().parent.parent / "assets" / "llada-recite" / "passages.json"


def _pairs(references: list[str], verses: dict | None):
    """(label, A, B) of every pair of consecutive verses within each passage, in reading order."""
    from .corpus import bible_verses, parse_reference, passage

    verses = verses if verses is not None else bible_verses()
    for r in references:
        book, chapter, first, _ = parse_reference(r)
        text = passage(r, verses)
        for v, (a, b) in enumerate(zip(text, text[1:]), start=first):
            yield f"{book} {chapter}:{v} / {chapter}:{v + 1}", a, b


def verse_pairs(references: list[str], verses: dict | None = None) -> list[tuple[str, str]]:
    """Every pair of consecutive verses within each passage, in reading order."""
    return [(a, b) for _, a, b in _pairs(references, verses)]


def labelled_pairs(references: list[str], verses: dict | None = None) -> dict[str, tuple[str, str]]:
    """{"Psalms 23:1 / 23:2": (A, B), ...}: verse_pairs with their references, in reading order."""
    return {label: (a, b) for label, a, b in _pairs(references, verses)}


def pair_ids(tok, a: str, b: str) -> tuple[list[int], list[int], list[int]]:
    """(A, newline, B) token ids; checked to be exactly the tokens of the joined text."""
    ids = [tok.encode(t, add_special_tokens=False) for t in (a, "\n", b)]
    if sum(ids, []) != tok.encode(a + "\n" + b, add_special_tokens=False):
        raise ValueError(f"the tokenizer joins {a[-10:]!r} + newline + {b[:10]!r} across the newline")
    return ids[0], ids[1], ids[2]


TRAINED_LENGTH = 256  # our models' training rows; a diffusion model writes on a canvas this long at most


def generation_config(loaded: LoadedModel) -> dict:
    """The generation_config.json of the model's directory ({} when it has none)."""
    return read_json(loaded.path / "generation_config.json") if loaded.path else {}


def canvas_length(loaded: LoadedModel, canvas: int | None = None) -> int:
    """Prompt and answer together, as a diffusion model writes them here: its training rows' length.
    That is `canvas` when given (--canvas), else the length of the rows a recitation fine-tune learnt
    its passages in (`recite_canvas` of its generation_config.json), else TRAINED_LENGTH; at most the
    model's context. (A fine-tune on rows of 96 read on a canvas of 256 fills A with end-of-text.)"""
    if canvas is None:
        canvas = generation_config(loaded).get("recite_canvas") or TRAINED_LENGTH
    return min(loaded.model.config.max_sequence_length, canvas)


def writing_settings(loaded: LoadedModel, prompt_len: int, answer_len: int,
                     canvas: int | None = None) -> SamplingSettings:
    """How a model writes an answer in this experiment (see the module docstring)."""
    if loaded.model.config.causal:
        return SamplingSettings(gen_length=answer_len, steps=answer_len, block_length=answer_len)
    n = canvas_length(loaded, canvas) - prompt_len
    if n < answer_len:
        raise ValueError(f"a {prompt_len}-token prompt leaves no room for a {answer_len}-token answer")
    # in blocks of 32, left to right, as LLaDA's instruct models write: on one long block padded with
    # end-of-text, the end-of-text guesses are the surest everywhere and get committed first
    return SamplingSettings(gen_length=n, steps=n, block_length=min(32, n), stop_at_eos=True)


FAST_RULE = dict(decoding="threshold", threshold=0.9)  # where a model's card names no faster rule


def card_rule(loaded: LoadedModel) -> dict:
    """The decoding rule of the model's card (demo_defaults of its generation_config.json), {} if none."""
    defaults = demo_defaults(loaded.path) if loaded.path else {}
    return {k: defaults[k] for k in ("decoding", "threshold", "factor") if k in defaults}


def fast(loaded: LoadedModel, settings: SamplingSettings) -> SamplingSettings:
    """`settings` decoded the fast way: the dynamic rule the model's card names (the recitation model's
    threshold 0.9), else threshold 0.9. A step commits every position the model is that sure of, so a verse
    it knows is written in a few steps; a verse it does not know is written a token per step as before. A
    twin writes one token per step whatever the rule."""
    if loaded.model.config.causal:
        return settings
    rule = card_rule(loaded)
    return replace(settings, **(rule if rule.get("decoding", "fixed") != "fixed" else FAST_RULE))


def fill_canvas(loaded: LoadedModel, ia, nl, ib, canvas: int | None = None) -> list[int]:
    """<|startoftext|>, masks for A, newline, B, then <|endoftext|> to the writing canvas's length."""
    text = [loaded.tokenizer.bos_token_id] + [loaded.mask_id] * len(ia) + nl + ib
    return text + [loaded.eos_id] * max(0, canvas_length(loaded, canvas) - len(text))


def answer_of(loaded: LoadedModel, tokens) -> list[int]:
    """What a model wrote, up to its first end-of-text or newline (a verse holds no newline)."""
    stops = {i for i in (loaded.eos_id, loaded.eot_id) if i is not None}
    stops |= set(loaded.tokenizer.encode("\n", add_special_tokens=False))
    tokens = [int(t) for t in tokens]
    return tokens[: next((i for i, t in enumerate(tokens) if t in stops), len(tokens))]


def write(loaded: LoadedModel, prompt: list[int], answer_len: int, first_confidence: list | None = None,
          canvas: int | None = None) -> list[int]:
    """The answer a model writes after `prompt` (greedy; see writing_settings); the mean confidence of
    its first step over the first answer_len positions goes to first_confidence."""
    run = denoise(loaded, [prompt], settings=writing_settings(loaded, len(prompt), answer_len, canvas))
    tokens = np.array(run.canvas.initial)
    for i, record in enumerate(run):
        if i == 0 and first_confidence is not None:
            first_confidence.append(float(np.nanmean(record.confidence[:answer_len])))
        tokens[record.committed] = record.tokens
    return answer_of(loaded, tokens) if not loaded.model.config.causal else tokens.tolist()


RANK_SAMPLES = 16  # draws of the diffusion model's bound per candidate


def candidates_of(pairs) -> list[str]:
    """The verses a ranking chooses among: every verse of the pairs, once, in order."""
    return list(dict.fromkeys(v for pair in pairs for v in pair))


RANK_BATCH = 14  # candidates a forward pass, shortest first: the scoreboard took 87 s against 131 one at a
# time (docs/performance.md)
RANK_ROWS = 32  # and at most this many rows a pass (a diffusion model's candidate is `samples` rows): the
# output head's log-probabilities are rows x length x vocabulary, 126,464 words for LLaDA-8B


def rank_text(loaded: LoadedModel, a_ids, nl, b_ids) -> list[int]:
    """What a ranking scores after <|startoftext|>: A newline B <|endoftext|>."""
    return list(a_ids) + list(nl) + list(b_ids) + [loaded.eos_id]


def rank(loaded: LoadedModel, b: str, candidates: list[str], samples: int = RANK_SAMPLES,
         stop: Callable[[], bool] = lambda: False) -> int | None:
    """The index of the candidate A the model finds likeliest before B: log p(A newline B <|endoftext|> |
    <|startoftext|>), a twin's exact, a diffusion model's bound (`samples` draws, seed 0). None if `stop()`
    came first."""
    texts = [rank_text(loaded, *pair_ids(loaded.tokenizer, c, b)) for c in candidates]
    order, scores = sorted(range(len(texts)), key=lambda i: len(texts[i])), [0.0] * len(texts)
    per_pass = max(1, min(RANK_BATCH, RANK_ROWS // (1 if loaded.model.config.causal else max(1, samples))))
    for start in range(0, len(order), per_pass):  # (similar lengths together: little padding)
        if stop():
            return None
        some = order[start: start + per_pass]
        for i, score in zip(some, log_likelihoods(loaded, [loaded.tokenizer.bos_token_id], [texts[i] for i in some],
                                                  samples)):
            scores[i] = score
    return int(np.argmax(scores))


def ranking_scores(loaded: LoadedModel, pairs, samples: int = RANK_SAMPLES) -> dict:
    """Backward by ranking, either kind of model: the share of pairs whose A is the likeliest verse."""
    candidates = candidates_of(pairs)
    right = sum(candidates[rank(loaded, b, candidates, samples)] == a for a, b in pairs)
    how = "exact likelihood" if loaded.model.config.causal else f"likelihood bound, {samples} draws"
    return dict(rank_backward=right / max(len(pairs), 1), rank_candidates=len(candidates), rank_how=how)


@torch.no_grad()
def diffusion_scores(loaded: LoadedModel, pairs, canvas: int | None = None) -> dict:
    """Forward and backward exact-match shares of a diffusion model, and its first-step confidence."""
    tok, bos = loaded.tokenizer, loaded.tokenizer.bos_token_id
    forward = backward = 0
    first_confidence = []
    for a, b in pairs:
        ia, nl, ib = pair_ids(tok, a, b)
        forward += write(loaded, [bos] + ia + nl, len(ib), first_confidence, canvas) == ib
        filled = generate(loaded, torch.tensor([fill_canvas(loaded, ia, nl, ib, canvas)]), gen_length=0, steps=len(ia),
                          block_length=len(ia), infill=True)
        backward += filled[0, 1 : 1 + len(ia)].tolist() == ia
    n = max(len(pairs), 1)
    return dict(forward=forward / n, backward=backward / n, first_step_confidence=float(np.mean(first_confidence)),
                backward_how="infills the masks of A")


@torch.no_grad()
def autoregressive_scores(loaded: LoadedModel, pairs) -> dict:
    """The forward exact-match share; backward it cannot fill (see the paper's form and the ranking)."""
    tok, bos = loaded.tokenizer, loaded.tokenizer.bos_token_id
    forward = sum(write(loaded, [bos] + ia + nl, len(ib)) == ib for ia, nl, ib in (pair_ids(tok, a, b) for a, b in pairs))
    return dict(forward=forward / max(len(pairs), 1), backward=None, first_step_confidence=None,
                backward_how="cannot fill: it writes left to right")


def instruction_ids(tok, direction: str, a: str, b: str) -> tuple[list[int], list[int]]:
    """(prompt, answer) token ids of corpus.instruction; together exactly the tokens training reads."""
    prompt, answer = (tok.encode(t, add_special_tokens=False) for t in instruction(direction, a, b))
    if prompt + answer != tok.encode("".join(instruction(direction, a, b)), add_special_tokens=False):
        raise ValueError(f"the tokenizer joins the instruction and its answer {answer[:10]!r} across the newline")
    return prompt, answer


@torch.no_grad()
def instruction_scores(loaded: LoadedModel, pairs, canvas: int | None = None) -> dict:
    """Exact-match shares of the paper's form, forward and backward, written by either kind of model."""
    bos, right = loaded.tokenizer.bos_token_id, {"forward": 0, "backward": 0}
    for a, b in pairs:
        for direction in right:
            prompt, answer = instruction_ids(loaded.tokenizer, direction, a, b)
            right[direction] += write(loaded, [bos] + prompt, len(answer), canvas=canvas) == answer
    n = max(len(pairs), 1)
    return dict(instruction_forward=right["forward"] / n, instruction_backward=right["backward"] / n,
                instruction_pairs=len(pairs))


def evaluate(loaded: LoadedModel, pairs, held_out_pairs=(), canvas: int | None = None,
             samples: int = RANK_SAMPLES) -> dict:
    """Every test on one model: writing and ranking on `pairs`, the paper's form on `held_out_pairs`.
    samples 0: a diffusion model's ranking is left out (its bound is most of the time; the twin's is exact)."""
    causal = loaded.model.config.causal
    canvas = canvas_length(loaded, canvas)  # (its generation_config.json read once, not at every pair)
    result = (autoregressive_scores(loaded, pairs) if causal else diffusion_scores(loaded, pairs, canvas)) | dict(
        kind="autoregressive" if causal else "diffusion", pairs=len(pairs))
    if causal or samples > 0:
        result |= ranking_scores(loaded, pairs, samples)
    return result | (instruction_scores(loaded, held_out_pairs, canvas) if held_out_pairs else {})


def split_pairs(recite: dict, verses: dict | None = None) -> tuple[list, list]:
    """(every pair of the list, the pairs of the passages not trained as instructions: [] if none are)."""
    instructed = set(recite.get("instructions", ()))
    held_out = [r for r in recite["passages"] if r not in instructed]
    return verse_pairs(recite["passages"], verses), verse_pairs(held_out, verses) if instructed else []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model directories (diffusion or autoregressive)")
    p.add_argument("--passages", default=str(DEFAULT_PASSAGES), help="a passages.json (default: the recitation list)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--merge", action="store_true",
                   help="with --json: replace only these models' rows of the file, keep the others (a retrained "
                        "twin beside a diffusion model whose rows stand)")
    p.add_argument("--samples", type=int, default=RANK_SAMPLES,
                   help="draws of a diffusion model's likelihood bound per candidate, for the ranking (0: no "
                        "ranking for a diffusion model, a quicker look at its writing)")
    p.add_argument("--canvas", type=int, default=None,
                   help="tokens a diffusion model writes on, prompt included (default: the length of the rows "
                        f"its passages were trained in, from its generation_config.json, else {TRAINED_LENGTH})")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    pairs, held_out = split_pairs(json.loads(Path(a.passages).read_text()))
    results = {m: evaluate(load_model(m, device="cpu", dtype="float32"), pairs, held_out, a.canvas, a.samples)
               for m in a.models}
    if a.json:
        kept = read_json(a.json) if a.merge else {}
        results = kept | results
        Path(a.json).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
