"""The reverse process as a loop over the model: `denoise()` streams step records, `generate()` returns tokens.

`generate()` is a drop-in for `generate()` of LLaDA's generate.py (ML-GSAI/LLaDA): with temperature 0
and low_confidence remasking, with or without CFG, it returns exactly the same tokens. `denoise()` runs
the same loop and yields one `StepRecord` per reverse step; the object it returns also carries the run's
`Canvas`. Both take generate.py's keywords, or one `SamplingSettings` (`settings=`). The math of a step
lives in schedule.py; this module only feeds the model and keeps the state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Iterator, Mapping

import numpy as np
import torch

from ..loading import OFFICIAL_SPECIAL_IDS
from ..model import BlockCache, KVCache
from .record import Canvas, StepRecord
from .schedule import Schedule, predict_tokens, remasking_score, settled_at_eos, token_probability, transfer_counts
from .settings import SamplingSettings


AUTOREGRESSIVE_NOTE = ("an autoregressive model writes one token per step, left to right: as many steps as "
                       "answer tokens, in one block (steps, block length, remasking and decoding rules do not apply)")


def _first_id(*candidates):
    return next(c for c in candidates if c is not None)


def _unwrap(model):
    """Accept our LoadedModel as well as a bare module; return (module, special ids it knows)."""
    ids = {}
    if hasattr(model, "mask_id") and hasattr(model, "model"):
        ids = dict(mask_id=model.mask_id, eos_id=model.eos_id, eot_id=model.eot_id)
        model = model.model
    elif hasattr(model, "config") and hasattr(model.config, "mask_token_id"):
        ids = dict(mask_id=model.config.mask_token_id, eos_id=getattr(model.config, "eos_token_id", None))
    return model, ids


def _as_batch(prompt, device) -> torch.Tensor:
    if not isinstance(prompt, torch.Tensor):
        prompt = torch.tensor(prompt, dtype=torch.long)
    if prompt.dim() == 1:
        prompt = prompt[None]
    if prompt.dim() != 2:
        raise ValueError(f"prompt must be token ids of shape (B, L), got shape {tuple(prompt.shape)}")
    return prompt.to(device=device, dtype=torch.long)


@dataclass
class _Run:
    """Everything a run needs, checked and set up before the first forward pass."""

    model: torch.nn.Module
    settings: SamplingSettings
    schedule: Schedule
    x: torch.Tensor  # (B, T) the sequence being denoised
    slots: torch.Tensor  # positions the blocks are laid over, in reading order
    start: int  # absolute position of the canvas's first cell (the answer's, or 0 when infilling)
    attention_mask: torch.Tensor | None
    prompt_index: torch.Tensor  # (B, T) what CFG's unconditional pass masks out
    maskable: torch.Tensor  # (B, T) positions the reverse process fills
    mask_id: int
    eos_id: int | None
    eot_id: int | None
    generator: torch.Generator | None

    def canvases(self) -> tuple[Canvas, ...]:
        """One Canvas per sequence of the batch (they differ only in their prompts)."""
        s, slots = self.start, self.slots.tolist()
        spans = tuple((slots[a] - s, slots[b - 1] + 1 - s) for a, b in self.schedule.block_spans)
        x = self.x.cpu().numpy()
        return tuple(Canvas(prompt=row[:s].copy(), initial=row[s:].copy(), mask_id=self.mask_id, block_spans=spans,
                            steps_per_block=self.schedule.steps_per_block, notes=self.schedule.notes) for row in x)


def settings_of(settings: SamplingSettings | None, **keywords) -> SamplingSettings:
    """`settings` as given, or built from generate.py's keywords (one of the two)."""
    if settings is None:
        return SamplingSettings(**keywords)
    if not isinstance(settings, SamplingSettings):
        raise TypeError(f"settings must be a SamplingSettings, got {type(settings).__name__}")
    return settings


def _setup(model, prompt, settings: SamplingSettings, attention_mask=None, mask_id=None, eos_id=None,
           eot_id=None) -> _Run:
    model, known = _unwrap(model)
    if mask_id is None:
        mask_id = _first_id(known.get("mask_id"), OFFICIAL_SPECIAL_IDS["mask_id"])
    if eos_id is None:
        eos_id = _first_id(known.get("eos_id"), OFFICIAL_SPECIAL_IDS["eos_id"])
    if eot_id is None:  # a LoadedModel knows whether it has an EoT token; a bare module is taken for LLaDA-8B
        eot_id = known["eot_id"] if "eot_id" in known else OFFICIAL_SPECIAL_IDS["eot_id"]
    device = model.device
    prompt = _as_batch(prompt, device)
    B, L = prompt.shape
    gen_length = settings.gen_length
    config = getattr(model, "config", None)
    vocab = getattr(config, "padded_vocab_size", None)
    if settings.logits_eos_inf and vocab is not None and not 0 <= eos_id < vocab:
        raise ValueError(f"logits_eos_inf: EOS id {eos_id} is not in this model's vocabulary; pass eos_id")
    max_len = getattr(config, "max_sequence_length", None)
    if max_len is not None and L + gen_length > max_len:  # before planning: it is O(blocks)
        what = "the text" if settings.infill else f"prompt ({L} tokens) + answer ({gen_length})"
        raise ValueError(f"{what} = {L + gen_length} tokens is more than the model's maximum of {max_len}; "
                         f"shorten the {'text' if settings.infill else 'prompt or the answer'}")

    causal = bool(getattr(config, "causal", False))
    if causal:  # the autoregressive twin: one token per step, left to right, in one block
        if settings.infill:
            raise ValueError("an autoregressive model only continues a prompt: infilling needs a diffusion model")
        if settings.cfg_scale > 0:
            raise ValueError("classifier-free guidance is for diffusion models here: set cfg_scale to 0")
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError("an autoregressive model here takes prompts of one length (no padding)")
        if (settings.steps, settings.block_length) != (gen_length, gen_length):
            settings = replace(settings, steps=gen_length, block_length=gen_length)
        schedule = replace(settings.plan(), notes=(AUTOREGRESSIVE_NOTE,))
        slots = torch.arange(L, L + gen_length, device=device)
        start = L
    elif settings.infill:  # fill the prompt's own mask tokens in place; no answer is appended
        if B != 1:
            raise ValueError("infill takes one text at a time")
        slots = (prompt[0] == mask_id).nonzero().flatten()
        if len(slots) == 0:
            raise ValueError("infill needs at least one mask placeholder in the text")
        if settings.steps > len(slots):
            raise ValueError(f"steps ({settings.steps}) exceeds the number of masks to fill ({len(slots)}); "
                             f"use at most {len(slots)} steps")
        notes = ()
        if settings.block_length > len(slots):
            notes = (f"block_length {settings.block_length} is more than the {len(slots)} masks: one block",)
            settings = replace(settings, block_length=len(slots))
        schedule = settings.plan(len(slots))
        schedule = replace(schedule, notes=notes + schedule.notes)
        start = 0
    else:
        schedule = settings.plan()
        slots = torch.arange(L, L + gen_length, device=device)
        start = L

    x = torch.full((B, L + gen_length), mask_id, dtype=torch.long, device=device)
    x[:, :L] = prompt
    for pos, token in settings.constraints:
        if not 0 <= pos < gen_length:
            raise ValueError(f"constraint position {pos} is outside the answer (0..{gen_length - 1})")
        if token == mask_id or token < 0 or (vocab is not None and token >= vocab):
            raise ValueError(f"constraint token id {token} at position {pos} is not a valid token")
        x[:, L + pos] = token
    if attention_mask is not None:
        attention_mask = attention_mask.to(device)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((B, gen_length))], dim=-1)
    prompt_index = torch.zeros_like(x, dtype=torch.bool)
    prompt_index[:, :L] = x[:, :L] != mask_id
    seed = settings.seed
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    return _Run(model, settings, schedule, x, slots, start, attention_mask, prompt_index, x == mask_id, mask_id,
                eos_id, eot_id, generator)


def _mask_predictor_logits(run: _Run, x: torch.Tensor, cache: BlockCache | None = None, start: int = 0,
                           end: int | None = None) -> torch.Tensor:
    """One forward pass; with CFG, the conditional and unconditional halves go in one batch. With a
    filled block cache, only positions [start, end) are computed (their logits are returned)."""
    cfg_scale = run.settings.cfg_scale
    part = slice(start, end)
    kw = {} if cache is None else dict(cache=cache, start=start)
    if cfg_scale > 0:
        unconditional = torch.where(run.prompt_index[:, part], run.mask_id, x[:, part])
        am = None if run.attention_mask is None else torch.cat([run.attention_mask, run.attention_mask])
        both = run.model(torch.cat([x[:, part], unconditional]), attention_mask=am, **kw).logits
        cond, uncond = both.chunk(2, dim=0)
        logits = uncond + (cfg_scale + 1) * (cond - uncond)
    else:
        logits = run.model(x[:, part], attention_mask=run.attention_mask, **kw).logits
    if run.settings.logits_eos_inf:
        logits[:, :, run.eos_id] = -torch.inf
    return logits


def _steps(run: _Run, records: bool = True) -> Iterator[tuple[StepRecord, ...] | None]:
    """The loop: yields a StepRecord per sequence and step (None if not `records`); the final x is `run.x`."""
    if getattr(run.model.config, "causal", False):
        yield from _autoregressive_steps(run, records)
        return
    x, mask_id, schedule, settings = run.x, run.mask_id, run.schedule, run.settings
    rule = settings.rule()
    # the positions a step commits do not depend on its predictions, which are sampled (see below)
    chosen_first = (settings.remasking == "random" and not rule.dynamic and not settings.confidence_eos_eot_inf
                    and not settings.full_noise and settings.temperature > 0)
    positions = torch.arange(x.shape[1], device=x.device)
    start_time, step = time.perf_counter(), 0
    for b, ((s, e), n_steps) in enumerate(zip(schedule.block_spans, schedule.steps_per_block)):
        block_end = int(run.slots[e - 1]) + 1
        # As in generate.py: the block's own masks at its start are spread over its steps, and every
        # mask before the block's end may be chosen (prompt masks too).
        in_reach = positions < block_end
        block_masks = x[:, run.slots[s:e]].eq(mask_id).sum(dim=1)  # (B,)
        counts = transfer_counts(block_masks, n_steps)  # (B, n_steps): the fixed rule's n_k
        cache = BlockCache() if settings.cache else None  # refreshed by the block's first pass
        recompute = (int(run.slots[s]), block_end if settings.cache == "dual" else x.shape[1])
        for i in range(n_steps):  # a dynamic rule's n_steps is one per token: the most it can need
            if rule.dynamic and not bool(x[:, run.slots[s:e]].eq(mask_id).any()):
                break  # the block is written
            mask_index = x == mask_id
            lo, hi = 0, x.shape[1]  # the positions whose predictions are (re)computed
            if cache is None or i == 0:
                logits = _mask_predictor_logits(run, x, cache)  # (B, T, V)
            else:  # only the block (dual) or the block and what follows (prefix); elsewhere the logits
                # of the block's first pass stand, and with them its predictions (the guesses shown there)
                logits[:, recompute[0] : recompute[1]] = _mask_predictor_logits(run, x, cache, *recompute)
                if not settings.full_noise:  # (whose noise is drawn over every position)
                    # from the first mask in reach (a prompt's masks come before the block)
                    before = mask_index[:, : recompute[0]].any(dim=0).nonzero()
                    lo, hi = (int(before[0, 0]) if len(before) else recompute[0]), recompute[1]
            candidates, transfer = mask_index & in_reach, None
            if chosen_first:
                # steps 2 and 3 first: random remasking ranks without looking at the predictions, so under
                # the fixed rule the positions this step commits are known before it samples, and only
                # they need noise (1 row at the app's defaults instead of up to a block's 32: the float64
                # noise was most of a step's cost beyond the forward pass, bench/bench_step_cost.py)
                score = torch.rand(x.shape, device=x.device, generator=run.generator)  # (remasking_score's)
                transfer = rule.select(score, None, candidates, counts[:, i])
            # step 1 (B, T): sampled where this step may commit, the argmax elsewhere (see predict_tokens);
            # row by row, so over [lo, hi) alone it gives the same predictions and draws the same noise
            # (the softmax and argmax over a 256-token canvas cost more than a dual-cache pass of 32)
            where = None if settings.full_noise else (candidates if transfer is None else transfer)
            part = predict_tokens(logits[:, lo:hi], settings.temperature, run.generator,
                                  None if where is None else where[:, lo:hi])
            if hi - lo == x.shape[1]:
                x0, probability = part, token_probability(logits, part)  # (B, T)
            else:
                x0, probability = x0.clone(), probability.clone()
                x0[:, lo:hi], probability[:, lo:hi] = part, token_probability(logits[:, lo:hi], part)
            if transfer is None:
                score = remasking_score(settings.remasking, logits, probability, run.generator)  # step 2
                demote = None
                if settings.confidence_eos_eot_inf:
                    demote = x0 == run.eos_id
                    if run.eot_id is not None:
                        demote |= x0 == run.eot_id
                transfer = rule.select(score, probability, candidates, counts[:, i], demote)  # step 3
            x = torch.where(transfer, x0, x)  # step 4
            run.x = x
            step += 1
            if not records:
                yield None
                if _settled(run):
                    return
                continue
            # a position where the model predicted the mask token itself stays masked (as in
            # generate.py), so it does not count as committed
            transfer &= x0 != mask_id
            yield _records(run, step, b, x, x0, transfer, probability, time.perf_counter() - start_time)
            if _settled(run):
                return


def _autoregressive_steps(run: _Run, records: bool = True) -> Iterator[tuple[StepRecord, ...] | None]:
    """The autoregressive twin's loop: it reads the prompt once (a KV cache keeps its keys and values),
    then writes the answer left to right, one token per forward pass, sampled as the diffusion model
    samples (Gumbel-max at the temperature; greedy at 0). Fixed tokens are written, not sampled. Its
    records say the same things: one position committed per step, the confidence p(token) there (it
    predicts nothing else), and no guesses under the masks left (mask_id)."""
    x, settings, L = run.x, run.settings, run.start
    cache, start_time = KVCache(), time.perf_counter()
    logits = run.model(x[:, :L], cache=cache).logits[:, -1:]  # (B, 1, V): the first answer position
    for i in range(x.shape[1] - L):
        if settings.logits_eos_inf:
            logits[:, :, run.eos_id] = -torch.inf
        fixed = x[:, L + i : L + i + 1] != run.mask_id  # (B, 1)
        token = torch.where(fixed, x[:, L + i : L + i + 1], predict_tokens(logits, settings.temperature,
                                                                           run.generator))  # (B, 1)
        probability = token_probability(logits, token)  # (B, 1)
        x[:, L + i] = token[:, 0]
        if i + 1 < x.shape[1] - L:
            logits = run.model(token, cache=cache).logits  # (B, 1, V)
        if not records:
            yield None
            if _settled(run):
                return
            continue
        elapsed, n = time.perf_counter() - start_time, x.shape[1] - L
        out = []
        for row in range(x.shape[0]):
            confidence = np.full(n, np.nan, dtype=np.float32)
            confidence[i] = float(probability[row, 0])
            out.append(StepRecord(step=i + 1, block=0, forward_passes=i + 1, elapsed=elapsed,
                                  committed=np.array([i], dtype=np.int32), tokens=token[row].cpu().numpy(),
                                  confidence=confidence,
                                  guesses=np.full(n - i - 1, run.mask_id, dtype=np.int64)))
        yield tuple(out)
        if _settled(run):
            return


def _settled(run: _Run) -> bool:
    """With stop_at_eos: has every sequence's answer settled (schedule.settled_at_eos)?"""
    if not run.settings.stop_at_eos:
        return False
    stop_ids = tuple(i for i in (run.eos_id, run.eot_id) if i is not None)
    return bool(settled_at_eos(run.x[:, run.start:], run.mask_id, stop_ids).all())


def _records(run: _Run, step: int, block: int, x, x0, transfer, probability, elapsed) -> tuple[StepRecord, ...]:
    s = run.start
    ints = torch.stack([x0[:, s:], transfer[:, s:].long(), x[:, s:].eq(run.mask_id).long()]).cpu().numpy()  # one copy
    confidence = probability[:, s:].float().masked_fill(~run.maskable[:, s:], float("nan")).cpu().numpy()
    out = []
    for row in range(ints.shape[1]):
        prediction, committed, masked = ints[0, row], ints[1, row].astype(bool), ints[2, row].astype(bool)
        where = np.flatnonzero(committed).astype(np.int32)
        out.append(StepRecord(step=step, block=block, forward_passes=step, elapsed=elapsed, committed=where,
                              tokens=prediction[where], confidence=confidence[row], guesses=prediction[masked]))
    return tuple(out)


class Denoising:
    """The records of a run as they are computed: iterate for one StepRecord per step (`denoise`) or a
    tuple of them, one per sequence (`denoise_batch`); `canvas` / `canvases` tell what is filled."""

    def __init__(self, run: _Run, batch: bool):
        self.canvases = run.canvases()
        self.canvas = self.canvases[0]
        self.settings = run.settings  # as it runs (infill: block_length capped at the number of masks)
        self._steps, self._batch = _steps(run, records=True), batch

    def __iter__(self):
        return self

    def __next__(self):
        with torch.no_grad():  # each step, even when the consumer iterates outside of no_grad
            records = next(self._steps)
        return records if self._batch else records[0]


def denoise(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.,
            cfg_scale=0., remasking="low_confidence", mask_id=None, logits_eos_inf=False,
            confidence_eos_eot_inf=False, *, eos_id=None, eot_id=None, seed=None,
            constraints: Mapping[int, int] | None = None, infill=False, stop_at_eos=False, decoding="fixed",
            threshold=0.9, factor=1.0, full_noise=False, cache=None, settings: SamplingSettings | None = None) -> Denoising:
    """Run the reverse process on one sequence and yield one StepRecord per step, before the next
    forward pass starts. Arguments as `generate()`; the result's `.canvas` tells what is filled.
    Applying every record's commits to the canvas gives generate()'s output."""
    settings = settings_of(settings, steps=steps, gen_length=gen_length, block_length=block_length,
                           temperature=temperature, cfg_scale=cfg_scale, remasking=remasking, seed=seed,
                           constraints=constraints or (), infill=infill, logits_eos_inf=logits_eos_inf,
                           confidence_eos_eot_inf=confidence_eos_eot_inf, stop_at_eos=stop_at_eos,
                           decoding=decoding, threshold=threshold, factor=factor,
                           full_noise=full_noise, cache=cache)
    prompt = torch.as_tensor(prompt) if not isinstance(prompt, torch.Tensor) else prompt
    if prompt.dim() == 2 and prompt.shape[0] != 1:
        raise ValueError(f"denoise() streams one sequence, got a batch of {prompt.shape[0]}; use denoise_batch()")
    run = _setup(model, prompt, settings, attention_mask, mask_id, eos_id, eot_id)  # bad settings fail here
    return Denoising(run, batch=False)


def denoise_batch(model, prompt, attention_mask=None, *, settings: SamplingSettings, mask_id=None, eos_id=None,
                  eot_id=None) -> Denoising:
    """As `denoise()` for a batch (B, L): yields a tuple of B StepRecords per step."""
    return Denoising(_setup(model, prompt, settings, attention_mask, mask_id, eos_id, eot_id), batch=True)


@torch.no_grad()
def generate(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.,
             cfg_scale=0., remasking="low_confidence", mask_id=None, logits_eos_inf=False,
             confidence_eos_eot_inf=False, *, eos_id=None, eot_id=None, seed=None,
             constraints: Mapping[int, int] | None = None, infill=False, stop_at_eos=False, decoding="fixed",
             threshold=0.9, factor=1.0, full_noise=False, cache=None, settings: SamplingSettings | None = None) -> torch.Tensor:
    """LLaDA's reverse process; returns the token ids (B, L + gen_length).

    model: the mask predictor (our LLaDAModelLM or LoadedModel, or any module whose
      forward(input_ids, attention_mask=None) returns `.logits` and which has `.device`).
    prompt: token ids (B, L); attention_mask: (B, L) with 0 at (left) padding.
    steps, gen_length, block_length: as in generate.py; see schedule.plan_schedule for settings
      it rejects. temperature: Gumbel-max sampling temperature (0: greedy). cfg_scale:
      unsupervised classifier-free guidance. remasking: 'low_confidence', 'random', 'margin', 'entropy'.
    mask_id, eos_id, eot_id: special ids; by default the model's own (LoadedModel or config), else
      LLaDA-8B's. logits_eos_inf: never predict EOS. confidence_eos_eot_inf: predicted EOS/EoT
      tokens are unmasked only after every other candidate of the block.
    seed: makes sampling reproducible (None: torch's global RNG, as generate.py).
    decoding: which masked positions a step commits (sampling/rules.py): 'fixed' (LLaDA, the default),
      'threshold' (every one with confidence >= `threshold`, at least one) or 'factor' (Fast-dLLM's
      rule with `factor`); under the last two a block runs until it is written.
    full_noise: Gumbel noise at every position, as generate.py (its exact random stream); by default
      only where the step may commit, and with random remasking under the fixed rule only where it
      commits (the same distribution for what is committed, at a fraction of the cost; the guesses
      shown under other masks are then the argmax).
    cache: None, or Fast-dLLM's 'prefix' or 'dual' cache (model.BlockCache): a full pass at each block
      start, then each step recomputes only the block and what follows it ('prefix') or only the
      block ('dual'), reading the other positions' keys and values from that pass (approximate).
    stop_at_eos: end the run once an EOS/EoT is committed with nothing masked before it (every
      sequence, in a batch): the answer up to it is then what more steps would give; positions
      after it stay masked (schedule.settled_at_eos).
    constraints: {answer position: token id} fixed before the run (positions count from the
      answer's first token). infill: fill the mask tokens inside `prompt` in place (gen_length 0).
    settings: all of the sampling keywords above as one SamplingSettings, instead of the keywords.
    """
    settings = settings_of(settings, steps=steps, gen_length=gen_length, block_length=block_length,
                           temperature=temperature, cfg_scale=cfg_scale, remasking=remasking, seed=seed,
                           constraints=constraints or (), infill=infill, logits_eos_inf=logits_eos_inf,
                           confidence_eos_eot_inf=confidence_eos_eot_inf, stop_at_eos=stop_at_eos,
                           decoding=decoding, threshold=threshold, factor=factor,
                           full_noise=full_noise, cache=cache)
    run = _setup(model, prompt, settings, attention_mask, mask_id, eos_id, eot_id)
    for _ in _steps(run, records=False):
        pass
    return run.x
