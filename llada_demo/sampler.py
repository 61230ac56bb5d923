"""The reverse process as a loop over the model: `denoise()` streams frames, `generate()` returns tokens.

`generate()` is a drop-in for `generate()` of LLaDA's generate.py (ML-GSAI/LLaDA): with temperature 0
and low_confidence remasking, with or without CFG, it returns exactly the same tokens. `denoise()` runs
the same loop and yields one light `Frame` per reverse step for visualisation. The math of a step lives
in schedule.py; this module only feeds the model and keeps the state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np
import torch

from .loading import OFFICIAL_SPECIAL_IDS
from .schedule import (Schedule, check_remasking, plan_schedule, predict_tokens, remasking_score,
                       select_transfer, token_probability, transfer_counts)



def _first_id(*candidates):
    return next(c for c in candidates if c is not None)


@dataclass
class Frame:
    """The state after one reverse step. Arrays are (B, T) over the whole sequence, on the CPU."""

    step: int  # 1-based index of the step just done
    steps: int  # steps that really run (see `notes` when that differs from what was asked)
    block: int  # 0-based index of the active block
    blocks: int
    block_span: tuple[int, int]  # absolute positions [start, end) of the active block
    block_starts: tuple[int, ...]  # absolute position of every block's first position
    prompt_length: int
    tokens: np.ndarray  # int64, the sequence after this step (mask id where still masked)
    masked: np.ndarray  # bool, still masked after this step
    prediction: np.ndarray  # int64, the model's x0_hat at this step, also under the masks
    confidence: np.ndarray  # float32, p(x0_hat) at this step; nan where nothing was ever masked
    committed: np.ndarray  # bool, unmasked at this step
    commit_step: np.ndarray  # int16, the step at which a position was unmasked (0: never masked, -1: not yet)
    forward_passes: int
    elapsed: float  # seconds since the start of the run
    notes: tuple[str, ...] = ()


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
    schedule: Schedule
    x: torch.Tensor  # (B, T) the sequence being denoised
    slots: torch.Tensor  # positions the blocks are laid over, in reading order
    attention_mask: torch.Tensor | None
    prompt_index: torch.Tensor  # (B, T) what CFG's unconditional pass masks out
    maskable: torch.Tensor  # (B, T) positions the reverse process fills
    prompt_length: int
    mask_id: int
    eos_id: int | None
    eot_id: int | None
    temperature: float
    cfg_scale: float
    remasking: str
    logits_eos_inf: bool
    confidence_eos_eot_inf: bool
    generator: torch.Generator | None


def _setup(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.,
           cfg_scale=0., remasking="low_confidence", mask_id=None, logits_eos_inf=False,
           confidence_eos_eot_inf=False, *, eos_id=None, eot_id=None, seed=None, constraints=None,
           infill=False) -> _Run:
    model, known = _unwrap(model)
    if mask_id is None:
        mask_id = _first_id(known.get("mask_id"), OFFICIAL_SPECIAL_IDS["mask_id"])
    if eos_id is None:
        eos_id = _first_id(known.get("eos_id"), OFFICIAL_SPECIAL_IDS["eos_id"])
    if eot_id is None:  # a LoadedModel knows whether it has an EoT token; a bare module is taken for LLaDA-8B
        eot_id = known["eot_id"] if "eot_id" in known else OFFICIAL_SPECIAL_IDS["eot_id"]
    check_remasking(remasking)
    if temperature < 0 or cfg_scale < 0:
        raise ValueError("temperature and cfg_scale must be >= 0")
    if seed is not None and not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed}")
    device = model.device
    prompt = _as_batch(prompt, device)
    B, L = prompt.shape
    config = getattr(model, "config", None)
    vocab = getattr(config, "padded_vocab_size", None)
    if logits_eos_inf and vocab is not None and not 0 <= eos_id < vocab:
        raise ValueError(f"logits_eos_inf: EOS id {eos_id} is not in this model's vocabulary; pass eos_id")
    max_len = getattr(config, "max_sequence_length", None)
    if max_len is not None and not infill and L + int(gen_length) > max_len:  # before planning: it is O(blocks)
        raise ValueError(f"prompt ({L} tokens) + answer ({gen_length}) = {L + int(gen_length)} tokens is more than "
                         f"the model's maximum of {max_len}; shorten the prompt or the answer")

    if infill:  # fill the prompt's own mask tokens in place; no answer is appended
        if gen_length:
            raise ValueError("infill fills the masks inside the text: set gen_length to 0")
        if B != 1:
            raise ValueError("infill takes one text at a time")
        slots = (prompt[0] == mask_id).nonzero().flatten()
        if len(slots) == 0:
            raise ValueError("infill needs at least one mask placeholder in the text")
        if steps > len(slots):
            raise ValueError(f"steps ({steps}) exceeds the number of masks to fill ({len(slots)}); "
                             f"use at most {len(slots)} steps")
        notes = ()
        if block_length > len(slots):
            notes = (f"block_length {block_length} is more than the {len(slots)} masks: one block",)
            block_length = len(slots)
        schedule = plan_schedule(len(slots), block_length, steps)
        schedule = Schedule(**{**schedule.__dict__, "notes": notes + schedule.notes})
        gen_length = 0
    else:
        schedule = plan_schedule(gen_length, block_length, steps)
        slots = torch.arange(L, L + gen_length, device=device)
    T = L + gen_length
    if max_len is not None and T > max_len:  # infill: the text alone
        raise ValueError(f"the text ({T} tokens) is longer than the model's maximum of {max_len}")

    x = torch.full((B, T), mask_id, dtype=torch.long, device=device)
    x[:, :L] = prompt
    for pos, token in dict(constraints or {}).items():
        pos, token = int(pos), int(token)
        if infill or not 0 <= pos < gen_length:
            raise ValueError(f"constraint position {pos} is outside the answer (0..{gen_length - 1})")
        if token == mask_id or token < 0 or (vocab is not None and token >= vocab):
            raise ValueError(f"constraint token id {token} at position {pos} is not a valid token")
        x[:, L + pos] = token
    if attention_mask is not None:
        attention_mask = attention_mask.to(device)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((B, gen_length))], dim=-1)
    prompt_index = torch.zeros_like(x, dtype=torch.bool)
    prompt_index[:, :L] = x[:, :L] != mask_id
    generator = torch.Generator(device=device).manual_seed(int(seed)) if seed is not None else None
    return _Run(model, schedule, x, slots, attention_mask, prompt_index, x == mask_id, L, mask_id, eos_id, eot_id,
                float(temperature), float(cfg_scale), remasking, bool(logits_eos_inf), bool(confidence_eos_eot_inf),
                generator)


def _mask_predictor_logits(run: _Run, x: torch.Tensor) -> torch.Tensor:
    """One forward pass; with CFG, the conditional and unconditional halves go in one batch."""
    if run.cfg_scale > 0:
        unconditional = torch.where(run.prompt_index, run.mask_id, x)
        am = None if run.attention_mask is None else torch.cat([run.attention_mask, run.attention_mask])
        cond, uncond = run.model(torch.cat([x, unconditional]), attention_mask=am).logits.chunk(2, dim=0)
        logits = uncond + (run.cfg_scale + 1) * (cond - uncond)
    else:
        logits = run.model(x, attention_mask=run.attention_mask).logits
    if run.logits_eos_inf:
        logits[:, :, run.eos_id] = -torch.inf
    return logits


def _steps(run: _Run, frames: bool = True):
    """The loop: yields a Frame per step (None if not `frames`); the final x is `run.x`."""
    x, mask_id, schedule = run.x, run.mask_id, run.schedule
    T = x.shape[1]
    commit_step = torch.where(run.maskable, -1, 0).to(torch.int16)
    positions = torch.arange(T, device=x.device)
    block_starts = tuple(int(run.slots[s]) for s, _ in schedule.block_spans)
    start_time, step = time.perf_counter(), 0
    for b, ((s, e), n_steps) in enumerate(zip(schedule.block_spans, schedule.steps_per_block)):
        block_start, block_end = int(run.slots[s]), int(run.slots[e - 1]) + 1
        # As in generate.py: the block's own masks at its start are spread over its steps, and every
        # mask before the block's end may be chosen (prompt masks too).
        in_reach = positions < block_end
        counts = transfer_counts(x[:, run.slots[s:e]].eq(mask_id).sum(dim=1), n_steps)  # (B, n_steps)
        for i in range(n_steps):
            mask_index = x == mask_id
            logits = _mask_predictor_logits(run, x)  # (B, T, V)
            x0 = predict_tokens(logits, run.temperature, run.generator)  # step 1 (B, T)
            probability = token_probability(logits, x0)  # (B, T)
            score = remasking_score(run.remasking, logits, probability, run.generator)  # step 2
            demote = None
            if run.confidence_eos_eot_inf:
                demote = x0 == run.eos_id
                if run.eot_id is not None:
                    demote |= x0 == run.eot_id
            transfer = select_transfer(score, mask_index & in_reach, counts[:, i], demote)  # step 3
            x = torch.where(transfer, x0, x)  # step 4
            run.x = x
            step += 1
            # a position where the model predicted the mask token itself stays masked (as in
            # generate.py), so it does not count as committed
            transfer &= x0 != mask_id
            commit_step[transfer] = step
            if not frames:
                yield None
                continue
            ints = torch.stack([x, x0, transfer.long(), x.eq(mask_id).long()]).cpu().numpy()  # one copy
            confidence = probability.float().masked_fill(~run.maskable, float("nan")).cpu().numpy()
            yield Frame(step=step, steps=schedule.steps, block=b, blocks=schedule.num_blocks,
                        block_span=(block_start, block_end), block_starts=block_starts,
                        prompt_length=run.prompt_length, tokens=ints[0],
                        masked=ints[3].astype(bool), prediction=ints[1], confidence=confidence,
                        committed=ints[2].astype(bool), commit_step=commit_step.cpu().numpy(),
                        forward_passes=step, elapsed=time.perf_counter() - start_time, notes=schedule.notes)


def denoise(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.,
            cfg_scale=0., remasking="low_confidence", mask_id=None, logits_eos_inf=False,
            confidence_eos_eot_inf=False, *, eos_id=None, eot_id=None, seed=None,
            constraints: Mapping[int, int] | None = None, infill=False) -> Iterator[Frame]:
    """Run the reverse process and yield one Frame per step, before the next forward pass starts.

    Arguments as `generate()`. The last frame's tokens equal generate()'s output.
    """
    run = _setup(model, prompt, attention_mask, steps, gen_length, block_length, temperature, cfg_scale,
                 remasking, mask_id, logits_eos_inf, confidence_eos_eot_inf, eos_id=eos_id, eot_id=eot_id,
                 seed=seed, constraints=constraints, infill=infill)  # bad settings fail here, not at next()
    return _no_grad(_steps(run, frames=True))


def _no_grad(frames: Iterator[Frame]) -> Iterator[Frame]:
    """Run each step under no_grad even when the consumer iterates outside of it."""
    while True:
        with torch.no_grad():
            frame = next(frames, None)
        if frame is None:
            return
        yield frame


@torch.no_grad()
def generate(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.,
             cfg_scale=0., remasking="low_confidence", mask_id=None, logits_eos_inf=False,
             confidence_eos_eot_inf=False, *, eos_id=None, eot_id=None, seed=None,
             constraints: Mapping[int, int] | None = None, infill=False) -> torch.Tensor:
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
    constraints: {answer position: token id} fixed before the run (positions count from the
      answer's first token). infill: fill the mask tokens inside `prompt` in place (gen_length 0).
    """
    run = _setup(model, prompt, attention_mask, steps, gen_length, block_length, temperature, cfg_scale,
                 remasking, mask_id, logits_eos_inf, confidence_eos_eot_inf, eos_id=eos_id, eot_id=eot_id,
                 seed=seed, constraints=constraints, infill=infill)
    for _ in _steps(run, frames=False):
        pass
    return run.x
