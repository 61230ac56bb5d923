"""Pre-train a small LLaDA mask predictor on the King James Bible (or your own text) on a CPU.

    python -m llada_demo.train --out assets/llada-kjv --minutes 100
    python -m llada_demo.train --out my-model --text notes.txt --minutes 20
    python -m llada_demo.train --out my-model --resume --minutes 20     # continue where it stopped
    python -m llada_demo.train --out twin --causal --tokenizer assets/llada-kjv --minutes 100  # AR twin
    python -m llada_demo.train --out twin --causal --tokenizer assets/llada-kjv --steps 6665 \
        --eval-every 250 --keep-best --patience 3      # keep its best evaluation, stop 3 after it
    python -m llada_demo.train --out recite --init assets/llada-kjv \
        --recite assets/llada-recite/passages.json --minutes 30 --lr 1e-3      # learn passages by heart

The objective is LLaDA's: draw t ~ U(eps, 1) per sequence, replace each token by the mask token
with probability t, and score the model by cross-entropy on the masked positions, weighted by 1/t
and divided by the number of tokens in the batch. That is an upper bound on the negative
log-likelihood, so held-out numbers are comparable to an autoregressive model's (as a bound).

With --causal the same network, data and budget train an autoregressive twin instead: causal
attention and next-token cross-entropy, the exact NLL the bound above is compared with.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .card import ACCURACY, INFO_FILE, LOSS, training_data, write_model_card
from .corpus import HELDOUT_BOOKS, encode_docs, heldout_windows, load_corpus
from .evaluate import elbo_nll, exact_nll
from .likelihood import hidden_states, mask_tokens, masked_accuracy, next_token_accuracy, output_head
from .loading import DEMO_DEFAULTS, save_checkpoint
from .model import LLaDAConfig, LLaDAModelLM
from .tokenizer import train_tokenizer, wrap

STATE_FILE = "training_state.pt"


@dataclass
class TrainConfig:
    out: str = "assets/llada-kjv"
    text: tuple = ()  # user text files; empty means the Bible
    state: str | None = None  # training-state file; default out/training_state.pt
    resume: bool = False
    seed: int = 1337
    minutes: float | None = None  # wall-clock budget of this run, evaluation and saving included
    steps: int | None = None  # length of the LR schedule; None: fitted to --minutes
    stop_after: int | None = None  # end this session after so many steps (state saved; --resume goes on)
    # tokenizer
    vocab_size: int = 4096
    tokenizer: str | None = None  # a model directory whose tokenizer to use (default: train one)
    init: str | None = None  # fine-tune: start from this model directory (its weights, shape and tokenizer)
    recite: str | None = None  # a passages.json: part of every batch is its passages, in reading order
    recite_share: float = 0.5  # of each batch's rows
    recite_len: int | None = None  # recited rows' length (default seq_len): a verse pair needs ~70 tokens,
    # and at 256 most of a pair row's compute went to its <|endoftext|> padding
    pair_masking: str = "response"  # a verse pair's masks: "response" (B only, LLaDA's SFT), "anywhere",
    # "both" (each pair once each of these), or "each-way" (once B only, once A only)
    # model
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None
    mlp_hidden_size: int = 512
    weight_tying: bool = True
    causal: bool = False  # the autoregressive twin: causal attention, next-token loss
    # data and objective
    seq_len: int = 256
    batch_size: int = 16
    eps: float = 1e-3  # t ~ U(eps, 1): never exactly zero, so the 1/t weight stays bounded
    random_length_prob: float = 0.02  # share of batches cut to a random shorter length, as LLaDA does
    # optimiser
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # cosine decays to this share of lr
    warmup_steps: int = 300
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    # evaluation and checkpoints
    eval_every: int = 500
    eval_windows: int = 64
    keep_best: bool = False  # the model directory holds the evaluation with the lowest held-out loss
    patience: int | None = None  # stop after so many evaluations without a lower held-out loss
    save_dtype: str = "float16"
    threads: int = 2
    final_eval: bool = True  # run llada_demo.evaluate on the final model (fills the model card)


# ----------------------------------------------------------------------------------------------
# the objective


def diffusion_loss(model, x, mask_id, eps=1e-3, generator=None, t=None, span=None):
    """LLaDA's loss: sum over masked tokens of CE / t, divided by B*T. Returns (loss, n_masked).
    span (B, 2): mask only positions start <= i < end in each row, as LLaDA's SFT masks only the
    response (the prompt stays visible); default: everywhere, as its pre-training."""
    noisy, masked, p_mask = mask_tokens(x, mask_id, eps, generator, t)
    if span is not None:
        i = torch.arange(x.shape[1])[None, :]  # (1, T)
        masked &= (i >= span[:, :1]) & (i < span[:, 1:])
        noisy = torch.where(masked, noisy, x)
    h = hidden_states(model, noisy)[masked]  # (N, C)
    logits = output_head(model, h)[:, : model.config.vocab_size].float()  # padded rows are never targets
    ce = F.cross_entropy(logits, x[masked], reduction="none") / p_mask[masked]
    return ce.sum() / x.numel(), int(masked.sum())


def next_token_loss(model, x):
    """The autoregressive twin's loss: mean cross-entropy of each token given those before it."""
    if x.shape[1] < 2:
        raise ValueError(f"a window of {x.shape[1]} token(s) has no next token to score: give at least 2")
    h = hidden_states(model, x[:, :-1])  # (B, T-1, C)
    logits = output_head(model, h)[..., : model.config.vocab_size].float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))


def sample_batch(stream: torch.Tensor, batch_size: int, seq_len: int, generator) -> torch.Tensor:
    starts = torch.randint(0, len(stream) - seq_len, (batch_size,), generator=generator)
    return torch.stack([stream[s : s + seq_len] for s in starts.tolist()])


# ----------------------------------------------------------------------------------------------
# optimiser


# Of a batch's recited rows, the share of each kind (renormalised over the kinds the list has).
RECITE_MIX = {"running": 0.4, "pairs": 0.4, "instructions": 0.2}


def _row_ids(tok, text: str) -> list[int]:
    return [tok.bos_token_id] + tok.encode(text, add_special_tokens=False) + [tok.eos_token_id]


def _rows(tok, texts: list[str], seq_len: int) -> torch.Tensor:
    """(len(texts), seq_len): each text as a row, padded with <|endoftext|>."""
    out = torch.full((len(texts), seq_len), tok.eos_token_id, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = _row_ids(tok, text)
        if len(ids) > seq_len:
            raise SystemExit(f"{len(ids)} tokens ({text[:40]!r}...) do not fit a row of {seq_len}: "
                             "give a longer --recite-len")
        out[i, : len(ids)] = torch.tensor(ids)
    return out


def _verse_runs(tok, verses: list[str], seq_len: int) -> list[str]:
    """A passage in runs of whole verses joined by newlines, each as long as a row allows."""
    out, run = [], []
    for v in verses:
        if run and len(_row_ids(tok, "\n".join(run + [v]))) > seq_len:
            out.append("\n".join(run))
            run = []
        run.append(v)
    return out + ["\n".join(run)]


PAIR_MASKING = ("response", "anywhere", "both", "each-way")


def recitation_rows(tok, references: list[str], seq_len: int, instructed=(),
                    pair_masking: str = "response") -> dict[str, tuple]:
    """The rows a recitation fine-tune draws from, {kind: (rows, spans)}: each row <|startoftext|> + text
    + <|endoftext|>, padded with <|endoftext|> to seq_len, (n, seq_len); spans (n, 2) the positions
    [start, end) the diffusion loss may mask. "running": each passage, verses joined by newlines (the
    corpus's format; a passage longer than a row is cut into runs of whole verses), masked anywhere
    (pre-training); "pairs": each pair of consecutive verses (A, B) as A newline B, in reading order,
    masked after the newline only (pair_masking "response", LLaDA's SFT: B given A), anywhere (B
    given A and A given B), once each of these ("both": the pool holds every pair twice), or once B
    only and once A only ("each-way": the text stays in reading order; only the masks change). For the
    passages in `instructed` only, "instructions": each pair asked both ways (corpus.instruction), so
    that the other passages test the paper's form of the reversal experiment; masked after their first
    newline only (the question stays, the answer and its <|endoftext|> padding are masked). Which mix
    recites best: docs/experiments.md."""
    if pair_masking not in PAIR_MASKING:
        raise SystemExit(f"--pair-masking {pair_masking!r}: choose {', '.join(PAIR_MASKING)}")
    from .corpus import bible_verses, instruction, passage

    verses = bible_verses()
    passages = {r: passage(r, verses) for r in references}
    unknown = sorted(set(instructed) - set(passages))
    if unknown:
        raise SystemExit(f"'instructions' names passages that are not in the list: {', '.join(unknown)}")

    def rows(texts):
        return _rows(tok, texts, seq_len)

    newline = tok.encode("\n", add_special_tokens=False)[0]
    running = rows([r for p in passages.values() for r in _verse_runs(tok, p, seq_len)])
    pairs = rows([a + "\n" + b for p in passages.values() for a, b in zip(p, p[1:])])

    def spans(x, start, end):  # (n, 2)
        return torch.stack([torch.as_tensor(start).expand(len(x)), torch.as_tensor(end).expand(len(x))], dim=1)

    def newlines(x):  # each row's first newline
        return (x == newline).int().argmax(dim=1)

    response = spans(pairs, newlines(pairs) + 1, seq_len)  # B (and the padding after it)
    prompt = spans(pairs, 1, newlines(pairs))  # A: what the infill test masks, given the newline and B
    anywhere = spans(pairs, 0, seq_len)
    chosen = {"response": [response], "anywhere": [anywhere], "both": [response, anywhere],
              "each-way": [response, prompt]}[pair_masking]
    pools = {"running": (running, spans(running, 0, seq_len)),
             "pairs": (torch.cat([pairs] * len(chosen)), torch.cat(chosen))}
    if instructed:
        asked = rows(["".join(instruction(d, a, b)) for r in instructed
                      for a, b in zip(passages[r], passages[r][1:]) for d in ("forward", "backward")])
        pools["instructions"] = (asked, spans(asked, newlines(asked) + 1, seq_len))
    return pools


def recitation_batch(stream, pools: dict, cfg: TrainConfig, generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(x, spans), ...]: the recited rows (recite_share of the batch's rows, kinds drawn by RECITE_MIX,
    cfg.recite_len long), then general text windows (seq_len long, masked anywhere)."""
    n = round(cfg.batch_size * cfg.recite_share)
    kinds = [k for k in RECITE_MIX if k in pools]
    weights = torch.tensor([RECITE_MIX[k] for k in kinds])
    rows, spans = [], []
    for _ in range(n):
        pool, pool_spans = pools[kinds[int(torch.multinomial(weights, 1, generator=generator))]]
        i = int(torch.randint(0, len(pool), (1,), generator=generator))
        rows.append(pool[i])
        spans.append(pool_spans[i])
    groups = [(torch.stack(rows), torch.stack(spans))] if rows else []
    if n < cfg.batch_size:  # (--recite-share 1: no general rows)
        general = sample_batch(stream, cfg.batch_size - n, cfg.seq_len, generator)
        groups.append((general, torch.tensor([[0, cfg.seq_len]]).expand(len(general), 2)))
    if len(groups) == 2 and groups[0][0].shape[1] == groups[1][0].shape[1]:  # one length: one batch
        return [(torch.cat([g[0] for g in groups]), torch.cat([g[1] for g in groups]))]
    return groups


def make_optimizer(model, cfg: TrainConfig):
    # decay matrices only; norms (and biases) keep their scale
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr at `total`, flat after."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------------------------
# checkpoints


def model_config(cfg: TrainConfig, tok) -> LLaDAConfig:
    vocab = len(tok)
    return LLaDAConfig(
        d_model=cfg.d_model, n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.n_kv_heads or cfg.n_heads,
        mlp_hidden_size=cfg.mlp_hidden_size, vocab_size=vocab,
        embedding_size=(vocab + 127) // 128 * 128,  # rows padded for tidy matmul shapes
        rope_theta=10000.0, max_sequence_length=cfg.seq_len, weight_tying=cfg.weight_tying,
        mask_token_id=tok.mask_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        causal=cfg.causal,
    )


# A recitation model knows its passages: greedy, and as many tokens per pass as it is sure of.
RECITE_DEFAULTS = dict(DEMO_DEFAULTS, temperature=0.0, remasking="low_confidence", decoding="threshold",
                       threshold=0.9, stop_at_eos=True)


def write_model_dir(model, tok, cfg: TrainConfig, info: dict, weights: bool = True):
    """The model directory in the official layout, plus generation defaults and training info. weights
    False: the info and the card only (--keep-best, when the held-out loss did not improve)."""
    out = Path(cfg.out)
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[cfg.save_dtype]
    if weights:
        save_checkpoint(model, out, tokenizer=tok, dtype=dtype)
    gen = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
               mask_token_id=tok.mask_token_id, eot_token_id=tok.convert_tokens_to_ids("<|eot_id|>"),
               demo_defaults=RECITE_DEFAULTS if cfg.recite else DEMO_DEFAULTS)
    if cfg.recite:  # the page offers the passages' first verses as example prompts for this model
        gen["demo_examples"] = json.loads(Path(cfg.recite).read_text()).get("examples", [])
        gen["recite_canvas"] = cfg.recite_len or cfg.seq_len  # its verses' rows: reversal.canvas_length
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    write_model_card(out)


def save_state(path: Path, model, opt, *, step, total_steps, gen, cfg, tok, info):
    tmp = path.with_suffix(".tmp")
    torch.save(dict(model=model.state_dict(), optimizer=opt.state_dict(), step=step, total_steps=total_steps,
                    data_rng=gen.get_state(), torch_rng=torch.get_rng_state(), config=asdict(cfg),
                    tokenizer=tok.backend_tokenizer.to_str(), info=info), tmp)
    tmp.replace(path)  # atomic: a run killed while saving keeps the previous state


# ----------------------------------------------------------------------------------------------
# training


def build_tokenizer(cfg, train_docs, state):
    if state is not None:  # resume with the very same tokenizer
        from tokenizers import Tokenizer

        return wrap(Tokenizer.from_str(state["tokenizer"]))
    if cfg.tokenizer or cfg.init:  # another model's, so that the two read the same token ids
        from tokenizers import Tokenizer

        return wrap(Tokenizer.from_file(str(Path(cfg.tokenizer or cfg.init) / "tokenizer.json")))
    return train_tokenizer(train_docs.values(), vocab_size=cfg.vocab_size)


def resumed(cfg: TrainConfig) -> tuple[TrainConfig, dict | None]:
    """(the run's config, its saved state): with --resume, the run's shape comes from the state and only
    budget-like options may change; else (cfg, None)."""
    if not cfg.resume:
        return cfg, None
    state_path = Path(cfg.state) if cfg.state else Path(cfg.out) / STATE_FILE
    if not state_path.is_file():
        raise SystemExit(f"--resume: no training state at {state_path}")
    state = torch.load(state_path, weights_only=False)
    keep = dict(out=cfg.out, state=cfg.state, resume=True, minutes=cfg.minutes, threads=cfg.threads,
                final_eval=cfg.final_eval, stop_after=cfg.stop_after)
    return TrainConfig(**{**state["config"], **keep}), state


def build_model(cfg: TrainConfig, tok) -> tuple[LLaDAModelLM, TrainConfig]:
    """A new network of cfg's shape, or (--init) a checkpoint's shape and weights in float32, as we train;
    an autoregressive init stays autoregressive (the config says so)."""
    torch.manual_seed(cfg.seed)
    if not cfg.init:
        return LLaDAModelLM(model_config(cfg, tok)).init_weights(cfg.seed), cfg
    from .loading import load_model

    start = load_model(cfg.init, device="cpu", dtype="float32").model
    if start.config.causal and not cfg.causal:
        print(f"--init {cfg.init} is autoregressive: training it as such (--causal)", flush=True)
        cfg = replace(cfg, causal=True)
    model = LLaDAModelLM(replace(start.config, causal=cfg.causal))  # (--causal on a diffusion init: causal)
    model.load_state_dict(start.state_dict())
    return model, cfg


def draw_batch(cfg: TrainConfig, stream, pools, gen) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """One batch as [(x, spans), ...]: recited and general rows (--recite), or general windows, a few
    of them cut to a random shorter length as LLaDA does (spans (B, 2): where each row may be masked;
    None: anywhere)."""
    if cfg.recite:  # (never cut shorter: a recited row must hold its verses)
        return recitation_batch(stream, pools, cfg, gen)
    x = sample_batch(stream, cfg.batch_size, cfg.seq_len, gen)
    if torch.rand(1, generator=gen).item() < cfg.random_length_prob:
        # (the twin predicts each token from those before it: a 1-token window has nothing to score; its
        # empty mean made the loss NaN in a run, and with it every weight)
        x = x[:, : max(2 if cfg.causal else 1, int(torch.randint(1, cfg.seq_len + 1, (1,), generator=gen)))]
    return [(x, None)]


def batch_loss(model, groups, cfg: TrainConfig, mask_id: int, gen) -> tuple[torch.Tensor, int]:
    """(the batch's loss, its tokens). Rows of two lengths (recited, general) go through the model apart;
    each group's loss is a mean over its tokens, so weighting by them gives the mean over the whole batch."""
    n_tokens = sum(x.numel() for x, _ in groups)
    loss = sum((next_token_loss(model, x) if cfg.causal else
                diffusion_loss(model, x, mask_id, cfg.eps, gen, span=span)[0]) * (x.numel() / n_tokens)
               for x, span in groups)
    return loss, n_tokens


class StepBudget:
    """The length of the LR schedule: --steps, or fitted to --minutes at the speed measured after the
    first 20 steps of a session and again after each evaluation (other work on the machine changes it)."""

    def __init__(self, cfg: TrainConfig, step: int, saved_total: int | None, t_start: float):
        self.cfg, self.t_start, self.first = cfg, t_start, step
        self.budget = cfg.minutes * 60 if cfg.minutes else float("inf")
        self.reserve = min(240 if cfg.final_eval else 60, 0.1 * self.budget)  # for the last evaluation and saving
        self.adaptive = cfg.steps is None  # (not bit-reproducible)
        self.hint = saved_total  # a resumed run keeps its old schedule until the speed is measured
        self.total = None if self.adaptive else saved_total
        self.t_window, self.steps_window = time.time(), 0

    def lr(self, step: int) -> float:
        return lr_at(step, self.total or self.hint or 10**9, self.cfg)

    def stepped(self, step: int) -> bool:
        """After a step; True when the schedule was (re)fitted."""
        self.steps_window += 1
        if not (self.adaptive and (step - self.first == 20 or (self.total and step % self.cfg.eval_every == 1))):
            return False
        step_time = (time.time() - self.t_window) / self.steps_window
        left = self.budget - (time.time() - self.t_start) - self.reserve
        self.total = max(step + 1, step + int(0.97 * left / step_time))
        self.t_window, self.steps_window = time.time(), 0
        print(f"\n{step_time * 1000:.0f} ms/step: schedule length {self.total} steps", flush=True)
        return True

    def running(self, step: int) -> bool:
        return self.total is None or step < self.total

    def out_of_time(self) -> bool:
        return time.time() - self.t_start + self.reserve > self.budget


def training_info(cfg: TrainConfig, command, n_params, batch_tokens, streams, recite) -> dict:
    """What the model card says of the run, filled in as it goes (train_seconds, evals)."""
    train_stream, held_stream = streams
    return dict(command=command or "", data=training_data(cfg, HELDOUT_BOOKS, len((recite or {}).get("instructions", ()))),
                parameters=n_params, batch_tokens=batch_tokens, train_tokens=len(train_stream),
                heldout_tokens=len(held_stream), hardware=f"{cfg.threads} CPU thread" + ("s" if cfg.threads != 1 else ""),
                random_length_prob=cfg.random_length_prob, eval_metric=ACCURACY[cfg.causal],
                eval_loss=LOSS[cfg.causal], keep_best=cfg.keep_best,
                init=cfg.init and repository_relative(cfg.init), recite=cfg.recite and repository_relative(cfg.recite),
                train_seconds=0.0, evals=[])


class Training:
    """One training session: set up from the config (and the state it resumes), then `run()`."""

    def __init__(self, cfg: TrainConfig, command: str | None = None):
        self.t_start, self.cpu_start = time.time(), time.process_time()
        torch.set_num_threads(cfg.threads)
        cfg, state = resumed(cfg)
        if cfg.steps is None and cfg.minutes is None:
            raise SystemExit("give --steps (a fixed schedule) or --minutes (a schedule fitted to the time budget)")
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.state_path = Path(cfg.state) if cfg.state else self.out / STATE_FILE
        train_docs, held_docs = load_corpus(list(cfg.text) or None)
        self.tok = build_tokenizer(cfg, train_docs, state)
        self.stream, held_stream = encode_docs(self.tok, train_docs), encode_docs(self.tok, held_docs)
        self.windows = heldout_windows(held_stream, cfg.seq_len, cfg.eval_windows)
        self.model, cfg = build_model(cfg, self.tok)
        recite = json.loads(Path(cfg.recite).read_text()) if cfg.recite else None
        self.pools = recite and recitation_rows(self.tok, recite["passages"], cfg.recite_len or cfg.seq_len,
                                                recite.get("instructions", ()), cfg.pair_masking)
        self.opt = make_optimizer(self.model, cfg)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # data order and masks: one stream, saved with the state
        self.step, saved_total, info = 0, cfg.steps, None
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.gen.set_state(state["data_rng"])
            torch.set_rng_state(state["torch_rng"])
            self.step, saved_total, info = state["step"], state["total_steps"], state["info"]
        recited = round(cfg.batch_size * cfg.recite_share) if cfg.recite else 0
        self.batch_tokens = recited * (cfg.recite_len or cfg.seq_len) + (cfg.batch_size - recited) * cfg.seq_len
        self.info = info or training_info(cfg, command, self.model.num_parameters(), self.batch_tokens,
                                          (self.stream, held_stream), recite)
        if command and state is not None:
            self.info["resumed_with"] = self.info.get("resumed_with", []) + [command]
        # wall time counts pauses and other work on the machine; CPU time (all threads) counts only this run
        self.cfg, self.seconds_before = cfg, self.info["train_seconds"]
        self.cpu_before = self.info.get("cpu_seconds", 0.0)
        self.budget = StepBudget(cfg, self.step, saved_total, self.t_start)
        print(f"{self.model.num_parameters() / 1e6:.2f}M parameters; {len(self.stream):,} training tokens, "
              f"{len(held_stream):,} held out; {len(self.windows)} eval windows; starting at step {self.step}",
              flush=True)

    def held_out_loss(self) -> float:
        """Per token on the held-out windows: the twin's exact NLL; the diffusion model's ELBO bound with
        fixed draws of t and masks (2 draws: the same masks at every evaluation, so the curve is smooth)."""
        if self.cfg.causal:
            return exact_nll(self.model, self.windows)
        return elbo_nll(self.model, self.windows, self.tok.mask_token_id, draws=2, seed=0)

    def evaluate_and_save(self) -> float:
        """The held-out score and loss now, the model directory (with --keep-best: only when the loss is the
        lowest so far) and the training state written."""
        cfg, model = self.cfg, self.model
        model.eval()
        with torch.no_grad():
            acc = (next_token_accuracy(model, self.windows) if cfg.causal else
                   masked_accuracy(model, self.windows, self.tok.mask_token_id, 0.15))
            loss = self.held_out_loss()
        model.train()
        seconds = self.seconds_before + (time.time() - self.t_start)
        epochs = self.step * self.batch_tokens / len(self.stream)
        cpu = self.cpu_before + (time.process_time() - self.cpu_start)
        self.info.update(steps=self.step, train_seconds=seconds, train_minutes=seconds / 60,
                         cpu_seconds=cpu, cpu_minutes=cpu / 60, tokens_seen=self.step * self.batch_tokens, epochs=epochs)
        best = self.info.get("kept")
        self.info["evals"].append(dict(step=self.step, acc=round(acc, 4), loss=round(loss, 4),
                                       epochs=round(epochs, 2), minutes=round(seconds / 60, 1),
                                       cpu_minutes=round(cpu / 60, 1)))
        improved = best is None or loss < best["loss"]
        if cfg.keep_best and improved:
            self.info["kept"] = dict(step=self.step, loss=round(loss, 4), acc=round(acc, 4), epochs=round(epochs, 2))
        write_model_dir(model, self.tok, cfg, self.info, weights=improved or not cfg.keep_best)
        save_state(self.state_path, model, self.opt, step=self.step, total_steps=self.budget.total, gen=self.gen,
                   cfg=cfg, tok=self.tok, info=self.info)
        return acc

    def run(self) -> dict:
        from tqdm import tqdm

        cfg, model, budget = self.cfg, self.model, self.budget
        bar = tqdm(total=budget.total, initial=self.step, dynamic_ncols=True, mininterval=10, file=sys.stdout)
        model.train()
        tokens_done, t_loop, acc, ema_loss = 0, time.time(), None, None
        while budget.running(self.step):
            # ---- one step: a batch, its loss, the update
            groups = draw_batch(cfg, self.stream, self.pools, self.gen)
            lr = budget.lr(self.step)
            for group in self.opt.param_groups:
                group["lr"] = lr
            loss, n_tokens = batch_loss(model, groups, cfg, self.tok.mask_token_id, self.gen)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.opt.step()
            self.step, tokens_done = self.step + 1, tokens_done + n_tokens
            # ---- progress, the schedule, evaluations, the budget
            ema_loss = loss.item() if ema_loss is None else 0.98 * ema_loss + 0.02 * loss.item()
            if budget.stepped(self.step):
                bar.total = budget.total
            bar.update(1)
            bar.set_postfix(loss=f"{ema_loss:.3f}", lr=f"{lr:.1e}", acc=acc, refresh=False,
                            tok_s=f"{tokens_done / (time.time() - t_loop):.0f}")
            if self.step % cfg.eval_every == 0 and budget.running(self.step):
                acc = round(self.evaluate_and_save(), 4)
                print(f"\nstep {self.step}: held-out {ACCURACY[cfg.causal]}: {acc:.4f}, "
                      f"{LOSS[cfg.causal]}: {self.info['evals'][-1]['loss']:.4f}", flush=True)
                if self.patience_out():
                    print(f"\nno lower held-out loss in {cfg.patience} evaluations: stopping at step {self.step}; "
                          f"the model directory holds step {self.info['kept']['step']}", flush=True)
                    break
            if budget.out_of_time():
                print(f"\ntime budget reached at step {self.step}", flush=True)
                break
            if cfg.stop_after is not None and self.step - budget.first >= cfg.stop_after:
                break
        bar.close()
        return self.finish()

    def patience_out(self) -> bool:
        """--patience: `patience` evaluations have come after the one kept (--keep-best's lowest loss)."""
        kept = self.info.get("kept")
        return bool(self.cfg.patience and kept) and \
            sum(e["step"] > kept["step"] for e in self.info["evals"]) >= self.cfg.patience

    def finish(self) -> dict:
        """The last evaluation, and the model card's full numbers (evaluate.py)."""
        if not (self.info["evals"] and self.info["evals"][-1]["step"] == self.step):  # (patience: just evaluated)
            self.evaluate_and_save()
        kept = self.info.get("kept")
        print(f"done: {self.step} steps, held-out {ACCURACY[self.cfg.causal]}: {self.info['evals'][-1]['acc']:.4f}; "
              f"model in {self.out}" + (f" (the best evaluation: step {kept['step']})" if kept else ""), flush=True)
        if self.cfg.final_eval:
            try:  # the model is saved already; a failure here must not lose it
                from .evaluate import evaluate_dir

                evaluate_dir(self.out, list(self.cfg.text) or None, threads=self.cfg.threads,
                             compare=self.cfg.tokenizer if self.cfg.causal else None)
            except Exception as e:  # pragma: no cover
                print(f"final evaluation failed ({type(e).__name__}: {e}); run python -m llada_demo.evaluate {self.out}")
        return self.info


def train(cfg: TrainConfig, command: str | None = None) -> dict:
    """Train (or fine-tune, or resume) as `cfg` says; the model directory is written at every evaluation."""
    return Training(cfg, command).run()


def parse_args(argv=None) -> TrainConfig:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    defaults = TrainConfig()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if name == "text":
            p.add_argument(flag, nargs="+", default=(), metavar="FILE", help="UTF-8 text files (default: the Bible)")
        elif isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            kind = {"minutes": float, "steps": int, "stop_after": int, "n_kv_heads": int, "state": str,
                    "tokenizer": str, "init": str, "recite": str, "recite_len": int, "patience": int}.get(name, type(value))
            p.add_argument(flag, type=kind, default=value, help=f"default {value}")
    args = p.parse_args(argv)
    if args.patience is not None and (args.patience < 1 or not args.keep_best):
        p.error(f"--patience {args.patience}: give a number of evaluations (1 or more), with --keep-best")
    if not 0 <= args.recite_share <= 1:
        p.error(f"--recite-share {args.recite_share}: give the share of each batch's rows, from 0 to 1")
    return TrainConfig(**{k: (tuple(v) if k == "text" else v) for k, v in vars(args).items()})


REPOSITORY = Path(__file__).resolve().parent.parent


def repository_relative(arg: str) -> str:
    """An absolute path inside the repository as a path from its root (a model card's command must
    work on any clone); anything else as it is."""
    flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    path = Path(value)
    if path.is_absolute() and path.resolve().is_relative_to(REPOSITORY):
        value = str(path.resolve().relative_to(REPOSITORY))
    return flag + eq + value


def main(argv=None):
    cfg = parse_args(argv)
    env = "".join(f"{k}={os.environ[k]} " for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ)
    args = sys.argv[1:] if argv is None else argv
    command = env + "python -m llada_demo.train " + " ".join(shlex.quote(repository_relative(a)) for a in args)
    train(cfg, command)


if __name__ == "__main__":
    main()
