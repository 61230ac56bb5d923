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
from typing import Iterator

import numpy as np
import torch

from ..loading import OFFICIAL_SPECIAL_IDS
from ..model import BlockCache, KVCache
from .record import Canvas, Resume, StepRecord
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
        prompt = torch.as_tensor(np.asarray(prompt), dtype=torch.long)  # (a list of arrays: one copy, not many)
    if prompt.dim() == 1:
        prompt = prompt[None]
    if prompt.dim() != 2:
        raise ValueError(f"prompt must be token ids of shape (B, L), got shape {tuple(prompt.shape)}")
    return prompt.to(device=device, dtype=torch.long)


@dataclass
class _Run:
    """Everything a run needs, checked and set up before the first forward pass (built by keyword)."""

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
    resume: Resume | None = None  # a run that goes on from a step of another (or of itself, edited)

    def canvases(self) -> tuple[Canvas, ...]:
        """One Canvas per sequence of the batch (they differ only in their prompts)."""
        s, slots = self.start, self.slots.tolist()
        spans = tuple((slots[a] - s, slots[b - 1] + 1 - s) for a, b in self.schedule.block_spans)
        x = self.x.cpu().numpy()
        return tuple(Canvas(prompt=row[:s].copy(), initial=row[s:].copy(), mask_id=self.mask_id, block_spans=spans,
                            steps_per_block=self.schedule.steps_per_block, notes=self.schedule.notes) for row in x)

    @property
    def stop_ids(self) -> tuple[int, ...]:
        return tuple(i for i in (self.eos_id, self.eot_id) if i is not None)


def settings_of(settings: SamplingSettings | None, **keywords) -> SamplingSettings:
    """The run's settings, validated in one place: `settings` as given, or built from generate()'s
    keywords (one of the two)."""
    if settings is None:
        if keywords.get("constraints") is None:
            keywords["constraints"] = ()
        unknown = sorted(set(keywords) - set(SamplingSettings.__dataclass_fields__))
        if unknown:
            raise TypeError(f"unknown setting {', '.join(unknown)}; the settings are the fields of SamplingSettings")
        return SamplingSettings(**keywords)
    if not isinstance(settings, SamplingSettings):
        raise TypeError(f"settings must be a SamplingSettings, got {type(settings).__name__}")
    return settings


# ---- setting a run up: one plan per mode -------------------------------------------------------------
def _plan_autoregressive(settings: SamplingSettings, L: int, device, attention_mask):
    """The autoregressive twin: one token per step, left to right, in one block."""
    if settings.infill:
        raise ValueError("an autoregressive model only continues a prompt: infilling needs a diffusion model")
    if settings.cfg_scale > 0:
        raise ValueError("classifier-free guidance is for diffusion models here: set cfg_scale to 0")
    if attention_mask is not None and not bool(attention_mask.all()):
        raise ValueError("an autoregressive model here takes prompts of one length (no padding)")
    n = settings.gen_length
    if (settings.steps, settings.block_length) != (n, n):
        settings = replace(settings, steps=n, block_length=n)
    schedule = replace(settings.plan(), notes=(AUTOREGRESSIVE_NOTE,))
    return settings, schedule, torch.arange(L, L + n, device=device), L


def _plan_infill(settings: SamplingSettings, prompt: torch.Tensor, mask_id: int):
    """Fill the prompt's own mask tokens in place; no answer is appended."""
    if prompt.shape[0] != 1:
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
    return settings, replace(schedule, notes=notes + schedule.notes), slots, 0


def _plan_answer(settings: SamplingSettings, L: int, device):
    """An answer of gen_length masks after the prompt, in blocks (generate.py's plan)."""
    return settings, settings.plan(), torch.arange(L, L + settings.gen_length, device=device), L


def _check_lengths(model, settings: SamplingSettings, L: int) -> None:
    config = getattr(model, "config", None)
    max_len = getattr(config, "max_sequence_length", None)
    if max_len is not None and L + settings.gen_length > max_len:  # before planning: it is O(blocks)
        what = "the text" if settings.infill else f"prompt ({L} tokens) + answer ({settings.gen_length})"
        raise ValueError(f"{what} = {L + settings.gen_length} tokens is more than the model's maximum of {max_len}; "
                         f"shorten the {'text' if settings.infill else 'prompt or the answer'}")


def _canvas_tensor(prompt, settings: SamplingSettings, mask_id: int, vocab: int | None) -> torch.Tensor:
    """(B, L + gen_length): the prompt, then masks, with the fixed tokens written in."""
    B, L = prompt.shape
    x = torch.full((B, L + settings.gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :L] = prompt
    for pos, token in settings.constraints:
        if not 0 <= pos < settings.gen_length:
            raise ValueError(f"constraint position {pos} is outside the answer (0..{settings.gen_length - 1})")
        if token == mask_id or token < 0 or (vocab is not None and token >= vocab):
            raise ValueError(f"constraint token id {token} at position {pos} is not a valid token")
        x[:, L + pos] = token
    return x


def _resumed(run: _Run, resume: Resume) -> None:
    """The canvas after `resume.step` written into the run: only where it fills (its given tokens stay);
    an autoregressive model cannot fill a position before the step it resumes after."""
    tokens = torch.as_tensor(np.asarray(resume.tokens), dtype=torch.long, device=run.x.device)
    canvas = run.x[:, run.start:]
    if tokens.shape != canvas.shape[1:]:
        raise ValueError(f"a resumed canvas has {tokens.shape[0]} positions; this run's has {canvas.shape[1]}")
    given = ~run.maskable[0, run.start:]
    if bool((tokens[given] != canvas[0, given]).any()):
        raise ValueError("a resumed canvas may change only the positions the run fills, not the given ones")
    if getattr(run.model.config, "causal", False) and bool((tokens[: resume.step] == run.mask_id).any()):
        raise ValueError("an autoregressive model writes left to right: it cannot fill a position before the step "
                         f"it goes on from ({resume.step})")
    run.x[:, run.start:] = tokens
    run.resume = resume
    if run.settings.seed is not None:  # a stream of its own, from the seed and the step (not the original's)
        run.generator = torch.Generator(device=run.x.device).manual_seed(
            (run.settings.seed * 1_000_003 + resume.step) % 2**63)


def _setup(model, prompt, settings: SamplingSettings, attention_mask=None, *, mask_id=None, eos_id=None,
           eot_id=None, resume: Resume | None = None) -> _Run:
    model, known = _unwrap(model)
    mask_id = _first_id(mask_id, known.get("mask_id"), OFFICIAL_SPECIAL_IDS["mask_id"])
    eos_id = _first_id(eos_id, known.get("eos_id"), OFFICIAL_SPECIAL_IDS["eos_id"])
    if eot_id is None:  # a LoadedModel knows whether it has an EoT token; a bare module is taken for LLaDA-8B
        eot_id = known["eot_id"] if "eot_id" in known else OFFICIAL_SPECIAL_IDS["eot_id"]
    prompt = _as_batch(prompt, model.device)
    B, L = prompt.shape
    config = getattr(model, "config", None)
    vocab = getattr(config, "padded_vocab_size", None)
    if settings.logits_eos_inf and vocab is not None and not 0 <= eos_id < vocab:
        raise ValueError(f"logits_eos_inf: EOS id {eos_id} is not in this model's vocabulary; pass eos_id")
    _check_lengths(model, settings, L)
    if getattr(config, "causal", False):
        settings, schedule, slots, start = _plan_autoregressive(settings, L, model.device, attention_mask)
    elif settings.infill:
        settings, schedule, slots, start = _plan_infill(settings, prompt, mask_id)
    else:
        settings, schedule, slots, start = _plan_answer(settings, L, model.device)
    x = _canvas_tensor(prompt, settings, mask_id, vocab)
    if attention_mask is not None:
        attention_mask = attention_mask.to(model.device)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((B, settings.gen_length))], dim=-1)
    prompt_index = torch.zeros_like(x, dtype=torch.bool)
    prompt_index[:, :L] = x[:, :L] != mask_id
    generator = None if settings.seed is None else torch.Generator(device=model.device).manual_seed(settings.seed)
    run = _Run(model=model, settings=settings, schedule=schedule, x=x, slots=slots, start=start,
               attention_mask=attention_mask, prompt_index=prompt_index, maskable=x == mask_id, mask_id=mask_id,
               eos_id=eos_id, eot_id=eot_id, generator=generator)
    if resume is not None:
        _resumed(run, resume)
    return run


# ---- one reverse step's pieces -------------------------------------------------------------------------
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


@dataclass
class _Block:
    """A block being written: its reach, the fixed rule's counts, and its key/value cache's window."""

    end: int  # absolute position after the block's last slot
    slots: torch.Tensor  # the slots whose masks the block writes (the block's; with a resume, all up to its end)
    first: int  # the block's first step here (0; more where a resumed run goes on inside the block)
    counts: torch.Tensor  # (B, n_steps - first): the fixed rule's n_k from the first step on
    cache: BlockCache | None  # refreshed by the block's first pass
    window: tuple[int, int]  # the positions a cached step recomputes: the block (dual) or it and after (prefix)


def _block(run: _Run, s: int, e: int, n_steps: int, first: int = 0) -> _Block:
    # As in generate.py: the block's own masks at its start are spread over its steps, and every mask
    # before the block's end may be chosen (prompt masks too). A resumed run spreads every mask up to
    # the block's end over the steps left (edits may have masked earlier blocks' positions again); with
    # no edit that is the original's own count for each step left.
    end = int(run.slots[e - 1]) + 1
    slots = run.slots[:e] if run.resume is not None else run.slots[s:e]
    block_masks = run.x[:, slots].eq(run.mask_id).sum(dim=1)  # (B,)
    cache = BlockCache() if run.settings.cache else None
    window = (int(run.slots[s]), end if run.settings.cache == "dual" else run.x.shape[1])
    return _Block(end=end, slots=slots, first=first, counts=transfer_counts(block_masks, n_steps - first),
                  cache=cache, window=window)


def _resume_point(run: _Run) -> tuple[int, int]:
    """(block, its steps already taken) where a resumed run goes on: the block of the step it resumes
    after, or the next one when that block is done (its steps spent under the fixed rule; no mask left
    in its reach under a dynamic one, whose steps per block are only an upper bound)."""
    r, spans = run.resume, run.schedule.block_spans
    b = min(r.block, len(spans) - 1)
    taken = 0 if run.settings.rule().dynamic else r.step - sum(run.schedule.steps_per_block[:b])
    masks_left = bool(run.x[:, run.slots[: spans[b][1]]].eq(run.mask_id).any())
    if taken >= run.schedule.steps_per_block[b] or (run.settings.rule().dynamic and not masks_left):
        return b + 1, 0
    return b, taken


def _step_logits(run: _Run, block: _Block, i: int, logits: torch.Tensor | None) -> tuple[torch.Tensor, int, int]:
    """This step's logits (B, T) and the positions [lo, hi) whose predictions it (re)computed: all of
    them without a cache or at a block's first step here; else the cache's window (the logits of the
    block's first pass stand elsewhere, and with them its predictions, the guesses shown there), from
    the first mask in reach (a prompt's masks come before the block) unless the noise goes everywhere."""
    x = run.x
    if block.cache is None or i == block.first:
        return _mask_predictor_logits(run, x, block.cache), 0, x.shape[1]
    lo, hi = block.window
    logits[:, lo:hi] = _mask_predictor_logits(run, x, block.cache, lo, hi)
    if run.settings.full_noise:  # (generate.py's random stream: noise over every position)
        return logits, 0, x.shape[1]
    before = (x[:, :lo] == run.mask_id).any(dim=0).nonzero()
    return logits, (int(before[0, 0]) if len(before) else lo), hi


def _predict(run: _Run, logits, lo: int, hi: int, where, previous) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 1 over [lo, hi), row by row: x0_hat sampled where the step may commit (`where`; everywhere if
    None), the argmax elsewhere, and its probability, each (B, T); outside [lo, hi) the previous step's
    stand. Row by row, so the same predictions and the same noise as over the whole canvas."""
    part = predict_tokens(logits[:, lo:hi], run.settings.temperature, run.generator,
                          None if where is None else where[:, lo:hi])
    if hi - lo == run.x.shape[1]:
        return part, token_probability(logits, part)
    x0, probability = previous[0].clone(), previous[1].clone()
    x0[:, lo:hi], probability[:, lo:hi] = part, token_probability(logits[:, lo:hi], part)
    return x0, probability


def _select(run: _Run, rule, logits, prediction, candidates, count) -> torch.Tensor:
    """Steps 2 and 3: rank the candidates by the remasking strategy, keep what the rule commits."""
    x0, probability = prediction
    score = remasking_score(run.settings.remasking, logits, probability, run.generator)
    demote = None
    if run.settings.confidence_eos_eot_inf:
        demote = x0 == run.eos_id
        if run.eot_id is not None:
            demote |= x0 == run.eot_id
    return rule.select(score, probability, candidates, count, demote)


def _chooses_first(settings: SamplingSettings, rule) -> bool:
    """Whether a step's positions are known before its predictions: random remasking ranks without
    looking at them, so under the fixed rule only the positions it commits need noise (the float64 noise
    over a whole block was most of a step's cost beyond the forward pass: docs/performance.md)."""
    return (settings.remasking == "random" and not rule.dynamic and not settings.confidence_eos_eot_inf
            and not settings.full_noise and settings.temperature > 0)


def _steps(run: _Run, records: bool = True) -> Iterator[tuple[StepRecord, ...] | None]:
    """The loop: yields a StepRecord per sequence and step (None if not `records`); the final x is `run.x`."""
    if getattr(run.model.config, "causal", False):
        yield from _autoregressive_steps(run, records)
        return
    settings, rule = run.settings, run.settings.rule()
    chosen_first = _chooses_first(settings, rule)
    positions = torch.arange(run.x.shape[1], device=run.x.device)
    start_time, step, passes, logits, prediction = time.perf_counter(), 0, 0, None, None
    start_block, first = 0, 0
    if run.resume is not None:
        (start_block, first), step, passes = _resume_point(run), run.resume.step, run.resume.forward_passes
    for b, ((s, e), n_steps) in enumerate(zip(run.schedule.block_spans, run.schedule.steps_per_block)):
        if b < start_block:
            continue
        block = _block(run, s, e, n_steps, first if b == start_block else 0)
        for i in range(block.first, n_steps):  # a dynamic rule's n_steps is one per token: the most it can need
            if rule.dynamic and not bool(run.x[:, block.slots].eq(run.mask_id).any()):
                break  # the block is written
            candidates = (run.x == run.mask_id) & (positions < block.end)
            count = block.counts[:, i - block.first]
            logits, lo, hi = _step_logits(run, block, i, logits)
            transfer = None
            if chosen_first:  # steps 2 and 3 before step 1 (the rule's scores are the remasking's random ones)
                score = torch.rand(run.x.shape, device=run.x.device, generator=run.generator)
                transfer = rule.select(score, None, candidates, count)
            where = None if settings.full_noise else (candidates if transfer is None else transfer)
            prediction = _predict(run, logits, lo, hi, where, prediction)  # step 1
            x0, probability = prediction
            if transfer is None:
                transfer = _select(run, rule, logits, prediction, candidates, count)
            run.x = torch.where(transfer, x0, run.x)  # step 4
            step, passes = step + 1, passes + 1
            if records:
                # a position where the model predicted the mask token itself stays masked (as in
                # generate.py), so it does not count as committed
                yield _records(run, step=step, block=b, x0=x0, transfer=transfer & (x0 != run.mask_id),
                               probability=probability, elapsed=time.perf_counter() - start_time, passes=passes)
            else:
                yield None
            if _settled(run):
                return


def _autoregressive_steps(run: _Run, records: bool = True) -> Iterator[tuple[StepRecord, ...] | None]:
    """The autoregressive twin's loop: it reads the prompt once (a KV cache keeps its keys and values),
    then writes the answer left to right, one token per forward pass, sampled as the diffusion model
    samples (Gumbel-max at the temperature; greedy at 0). Fixed tokens are written, not sampled. Its
    records say the same things: one position committed per step, the confidence p(token) there (it
    predicts nothing else), and no guesses under the masks left (mask_id). A resumed run reads the prompt
    and the answer written so far, and writes on from the position after them."""
    x, settings, L = run.x, run.settings, run.start
    cache, start_time = KVCache(), time.perf_counter()
    done, passes = (run.resume.step, run.resume.forward_passes) if run.resume is not None else (0, 0)
    n = x.shape[1] - L
    if done >= n:
        return
    logits = run.model(x[:, : L + done], cache=cache).logits[:, -1:]  # (B, 1, V): the next answer position
    for i in range(done, n):
        if settings.logits_eos_inf:
            logits[:, :, run.eos_id] = -torch.inf
        fixed = x[:, L + i : L + i + 1] != run.mask_id  # (B, 1)
        token = torch.where(fixed, x[:, L + i : L + i + 1], predict_tokens(logits, settings.temperature,
                                                                           run.generator))  # (B, 1)
        probability = token_probability(logits, token)  # (B, 1)
        x[:, L + i] = token[:, 0]
        if i + 1 < n:
            logits = run.model(token, cache=cache).logits  # (B, 1, V)
        if not records:
            yield None
        else:
            elapsed, out = time.perf_counter() - start_time, []
            for row in range(x.shape[0]):
                confidence = np.full(n, np.nan, dtype=np.float32)
                confidence[i] = float(probability[row, 0])
                out.append(StepRecord(step=i + 1, block=0, forward_passes=passes + i + 1 - done, elapsed=elapsed,
                                      committed=np.array([i], dtype=np.int32), tokens=token[row].cpu().numpy(),
                                      confidence=confidence, guesses=np.full(n - i - 1, run.mask_id, dtype=np.int64)))
            yield tuple(out)
        if _settled(run):
            return


def _settled(run: _Run) -> bool:
    """With stop_at_eos: has every sequence's answer settled (schedule.settled_at_eos)?"""
    if not run.settings.stop_at_eos:
        return False
    return bool(settled_at_eos(run.x[:, run.start:], run.mask_id, run.stop_ids).all())


def _records(run: _Run, *, step: int, block: int, x0, transfer, probability, elapsed,
             passes: int) -> tuple[StepRecord, ...]:
    s, x = run.start, run.x
    ints = torch.stack([x0[:, s:], transfer[:, s:].long(), x[:, s:].eq(run.mask_id).long()]).cpu().numpy()  # one copy
    confidence = probability[:, s:].float().masked_fill(~run.maskable[:, s:], float("nan")).cpu().numpy()
    out = []
    for row in range(ints.shape[1]):
        prediction, committed, masked = ints[0, row], ints[1, row].astype(bool), ints[2, row].astype(bool)
        where = np.flatnonzero(committed).astype(np.int32)
        out.append(StepRecord(step=step, block=block, forward_passes=passes, elapsed=elapsed, committed=where,
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


def denoise(model, prompt, attention_mask=None, *, settings: SamplingSettings | None = None, mask_id=None,
            eos_id=None, eot_id=None, resume: Resume | None = None, **keywords) -> Denoising:
    """Run the reverse process on one sequence and yield one StepRecord per step, before the next
    forward pass starts. The settings: `settings`, or generate()'s keywords; the result's `.canvas`
    tells what is filled. Applying every record's commits to the canvas gives generate()'s output.

    resume: go on from a step of a run of the same prompt and settings, from its canvas after that step
    (edited or not): the steps the plan has left, numbered on (record.Resume). With no edit and greedy
    settings without a key/value cache, the continuation is the original's remaining steps token for
    token (a cache's first pass here is a full one, where the original's step used its block's cache);
    under sampling it draws its own noise, from the seed and the step."""
    settings = settings_of(settings, **keywords)
    prompt = torch.as_tensor(np.asarray(prompt)) if not isinstance(prompt, torch.Tensor) else prompt
    if prompt.dim() == 2 and prompt.shape[0] != 1:
        raise ValueError(f"denoise() streams one sequence, got a batch of {prompt.shape[0]}; use denoise_batch()")
    run = _setup(model, prompt, settings, attention_mask, mask_id=mask_id, eos_id=eos_id, eot_id=eot_id,
                 resume=resume)
    return Denoising(run, batch=False)  # (bad settings failed above, before the first step)


@torch.no_grad()
def candidates_at(model, prompt, tokens, position: int, *, settings: SamplingSettings, top: int = 5,
                  mask_id=None, eos_id=None, eot_id=None) -> tuple[list[int], list[float]]:
    """The model's `top` candidates at canvas `position`, given the canvas `tokens` (mask_id where
    masked): the one forward pass a step would run there (CFG and logits_eos_inf as in `settings`; no
    key/value cache, and before any sampling), as (token ids, probabilities), most likely first. For an
    autoregressive model, its prediction for `position` from the tokens before it."""
    run = _setup(model, prompt, replace(settings, cache=None), mask_id=mask_id, eos_id=eos_id, eot_id=eot_id,
                 resume=Resume(tokens=tokens, step=0, block=0, forward_passes=0))
    if not 0 <= position < run.x.shape[1] - run.start:
        raise ValueError(f"position {position} is outside the canvas (0..{run.x.shape[1] - run.start - 1})")
    at = run.start + position
    if getattr(run.model.config, "causal", False):
        logits = run.model(run.x[:, :at]).logits[0, -1]
    else:
        logits = _mask_predictor_logits(run, run.x)[0, at]
    p = torch.softmax(logits.float(), dim=-1)
    best = p.topk(min(top, p.shape[-1]))
    return best.indices.tolist(), best.values.tolist()


def denoise_batch(model, prompt, attention_mask=None, *, settings: SamplingSettings, mask_id=None, eos_id=None,
                  eot_id=None) -> Denoising:
    """As `denoise()` for a batch (B, L): yields a tuple of B StepRecords per step."""
    return Denoising(_setup(model, prompt, settings, attention_mask, mask_id=mask_id, eos_id=eos_id, eot_id=eot_id),
                     batch=True)


@torch.no_grad()
def generate(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.,
             cfg_scale=0., remasking="low_confidence", mask_id=None, logits_eos_inf=False,
             confidence_eos_eot_inf=False, *, settings: SamplingSettings | None = None, eos_id=None, eot_id=None,
             **keywords) -> torch.Tensor:
    """LLaDA's reverse process; returns the token ids (B, L + gen_length).

    model: the mask predictor (our LLaDAModelLM or LoadedModel, or any module whose
      forward(input_ids, attention_mask=None) returns `.logits` and which has `.device`).
    prompt: token ids (B, L); attention_mask: (B, L) with 0 at (left) padding.
    The positional arguments are generate.py's: steps, gen_length, block_length (see
      schedule.plan_schedule for settings it rejects), temperature (Gumbel-max sampling; 0: greedy),
      cfg_scale (unsupervised classifier-free guidance), remasking ('low_confidence', 'random',
      'margin', 'entropy'), mask_id, logits_eos_inf (never predict EOS), confidence_eos_eot_inf
      (predicted EOS/EoT tokens are unmasked only after every other candidate of the block).
    mask_id, eos_id, eot_id: special ids; by default the model's own (LoadedModel or config), else
      LLaDA-8B's.
    keywords: the other fields of SamplingSettings (sampling/settings.py says what each does): seed,
      constraints ({answer position: token id}), infill, stop_at_eos, decoding ('fixed', 'threshold',
      'factor'), threshold, factor, full_noise (generate.py's random stream), cache ('prefix', 'dual').
    settings: all of them as one SamplingSettings, instead of the keywords.
    """
    if settings is None:
        keywords.update(steps=steps, gen_length=gen_length, block_length=block_length, temperature=temperature,
                        cfg_scale=cfg_scale, remasking=remasking, logits_eos_inf=logits_eos_inf,
                        confidence_eos_eot_inf=confidence_eos_eot_inf)
    run = _setup(model, prompt, settings_of(settings, **keywords), attention_mask, mask_id=mask_id, eos_id=eos_id,
                 eot_id=eot_id)
    for _ in _steps(run, records=False):
        pass
    return run.x
