"""The per-step math of LLaDA's reverse process, as small pure functions of (logits, state).

Notation follows the LLaDA paper: x_t is the partially masked sequence at time t (t goes from 1 to 0
over the reverse process), p_theta(x_0 | x_t) the mask predictor. One reverse step from t to s < t:

  1. predict:  x0_hat = argmax of the logits (Gumbel-max sampling when temperature > 0);
  2. score:    a confidence for every predicted token (the remasking strategy);
  3. select:   keep the n_k best-scoring masked positions (n_k from the linear schedule, see
               `transfer_counts`); every other masked position stays masked, i.e. is re-masked;
  4. update:   write x0_hat at the kept positions.

`plan_schedule` turns the user's (gen_length, block_length, steps) into what really runs
(semi-autoregressive blocks and steps per block). The loop that calls the model is in sampler.py.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

REMASKING_STRATEGIES = ("low_confidence", "random", "margin", "entropy")


@dataclass(frozen=True)
class Schedule:
    """What will really run: block spans (relative to the answer start) and steps per block."""

    gen_length: int
    block_length: int
    block_spans: tuple[tuple[int, int], ...]
    steps_per_block: tuple[int, ...]
    requested_steps: int
    notes: tuple[str, ...] = ()  # each setting that was adjusted, and how

    @property
    def steps(self) -> int:
        return sum(self.steps_per_block)

    @property
    def num_blocks(self) -> int:
        return len(self.block_spans)

    def describe(self, dynamic: bool = False) -> str:
        """One line a person can read next to the sliders. `dynamic`: under a rule that writes a block
        until it has no masks left (rules.py), where the steps are only an upper bound."""
        sizes = [e - s for s, e in self.block_spans]
        blocks = f"{count(self.num_blocks, 'block')} of {count(max(sizes), 'token')}"
        if len(sizes) > 1 and sizes[-1] != max(sizes):
            blocks += f", the last of {sizes[-1]}"
        if dynamic:
            most = (f"{count(max(sizes), 'step')} per block, {self.steps} in all" if len(sizes) > 1
                    else count(self.steps, "step"))
            return (f"{blocks}, {'each ' if len(sizes) > 1 else ''}written until no mask is left, at least one "
                    f"token per step: at most {most}, fewer where the model is sure")
        lo, hi = min(self.steps_per_block), max(self.steps_per_block)
        steps = f"{count(hi, 'step')} per block" if lo == hi else f"{lo} to {hi} steps per block"
        rates = [size / n for size, n in zip(sizes, self.steps_per_block)]
        low, high = f"{min(rates):.3g}", f"{max(rates):.3g}"
        tokens = f"{low} {'token' if max(rates) == 1 else 'tokens'}" if low == high else f"{low} to {high} tokens"
        return f"{blocks}, {steps}, {tokens} per step, {count(self.steps, 'step')} in all"


def count(n: int, word: str) -> str:
    """'1 step', '4 steps'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _checked_lengths(gen_length, block_length, steps) -> tuple[int, int, int]:
    """The three as ints (of any kind: numpy, torch; not floats or bools), or what to change."""
    try:
        if any(isinstance(v, bool) for v in (gen_length, block_length, steps)):
            raise TypeError
        gen_length, block_length, steps = map(operator.index, (gen_length, block_length, steps))
    except TypeError:
        raise ValueError(f"gen_length, block_length and steps must be whole numbers, got "
                         f"{gen_length!r}, {block_length!r}, {steps!r}") from None
    for name, value in (("gen_length", gen_length), ("steps", steps), ("block_length", block_length)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if block_length > gen_length:
        raise ValueError(f"block_length ({block_length}) is longer than gen_length ({gen_length}); "
                         f"set block_length to at most {gen_length}")
    if steps > gen_length:
        raise ValueError(f"steps ({steps}) exceeds gen_length ({gen_length}): each step must unmask at least "
                         f"one token; use at most {gen_length} steps")
    return gen_length, block_length, steps


def plan_schedule(gen_length: int, block_length: int, steps: int) -> Schedule:
    """Split the answer into blocks and the steps among them.

    Where LLaDA's generate.py accepts the settings (gen_length a multiple of block_length, steps a
    multiple of the number of blocks) this is exactly its plan. Elsewhere, instead of an assertion:
    - gen_length not a multiple of block_length: the last block is shorter;
    - steps not a multiple of the number of blocks: steps are shared in proportion to block length
      (largest remainders first, earlier blocks win ties), so the total is exactly `steps`;
    - fewer steps than blocks: every block needs one step, so steps are raised to the number of blocks.
    Each adjustment is listed in `notes`.
    """
    gen_length, block_length, steps = _checked_lengths(gen_length, block_length, steps)
    notes = []
    spans = tuple((s, min(s + block_length, gen_length)) for s in range(0, gen_length, block_length))
    if gen_length % block_length:
        notes.append(f"gen_length {gen_length} is not a multiple of block_length {block_length}: "
                     f"the last block has {spans[-1][1] - spans[-1][0]} tokens")
    n = len(spans)
    total = steps
    if steps < n:
        total = n
        notes.append(f"{steps} steps cannot cover {n} blocks (each needs a step): running {n} steps")
    lengths = [e - s for s, e in spans]
    if total % n == 0 and gen_length % block_length == 0:
        per_block = [total // n] * n
    else:
        # shares in proportion to length, floors first, then one more for the largest remainders
        # (earlier blocks win ties); a floor is at most its block's length, and so is floor + 1
        # where the remainder is not 0, since total <= gen_length
        exact = [total * length / gen_length for length in lengths]
        per_block = [int(x) for x in exact]
        order = sorted(range(n), key=lambda i: (-(exact[i] - per_block[i]), i))
        for b in order[:total - sum(per_block)]:
            per_block[b] += 1
        # every block needs a step: take them from the blocks with the most (total >= n, so enough)
        for b in [i for i in range(n) if per_block[i] == 0]:
            donor = max(range(n), key=lambda j: (per_block[j], -j))
            per_block[donor] -= 1
            per_block[b] = 1
        if len(set(per_block)) > 1:
            notes.append(f"{total} steps do not divide into {n} blocks: steps per block are "
                         f"{', '.join(map(str, per_block))}")
    return Schedule(gen_length, block_length, spans, tuple(per_block), steps, tuple(notes))


def transfer_counts(num_masked: torch.Tensor, steps: int) -> torch.Tensor:
    """How many tokens each step of a block unmasks, (B,) -> (B, steps).

    LLaDA's schedule is linear in t, so the expected number unmasked per step is constant: every step
    gets num_masked // steps and the first num_masked % steps steps one more.
    """
    base = num_masked // steps
    extra = num_masked % steps
    step_index = torch.arange(steps, device=num_masked.device)
    return base[:, None] + (step_index[None, :] < extra[:, None]).to(base.dtype)


# Step 1: predict
def predict_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None,
                   where: torch.Tensor | None = None):
    """x0_hat (B, T): argmax, or a Gumbel-max sample at `temperature`.

    As in LLaDA's generate.py: exp(logits) / (-log u)^temperature in float64 (low-precision Gumbel
    noise hurts generation quality), u ~ U(0, 1) drawn with `generator` (the global RNG if None).
    where: bool (B, T), sample only there (the positions this step may commit) and take the argmax
    elsewhere. The noise over the whole vocabulary at every position cost as much as the model's
    forward pass (bench/bench_step_cost.py); None samples everywhere, generate.py's random stream.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    dtype = _wide_float(logits.device)
    if where is not None:
        x0 = logits.argmax(dim=-1)
        if bool(where.any()):
            wide = logits[where].to(dtype)  # (K, V)
            # in place: -log u, u ~ U(0, 1) (torch's exponential_ was slower than rand + log: docs/performance.md)
            noise = torch.rand(wide.shape, dtype=dtype, device=logits.device, generator=generator).log_().neg_()
            if temperature != 1:
                noise.pow_(temperature)
            x0[where] = wide.exp_().div_(noise).argmax(dim=-1)
        return x0
    wide = logits.to(dtype)
    u = torch.rand(wide.shape, dtype=dtype, device=logits.device, generator=generator)
    return (wide.exp() / (-torch.log(u)) ** temperature).argmax(dim=-1)


def _wide_float(device: torch.device) -> torch.dtype:
    """float64, except on Apple's MPS, which has none (generate.py once made the same exception)."""
    return torch.float32 if device.type == "mps" else torch.float64


def token_probability(logits: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """p_theta(x0_hat_i | x_t) for every position, (B, T), in the logits' dtype (as generate.py)."""
    return F.softmax(logits, dim=-1).gather(-1, x0[..., None]).squeeze(-1)


def check_remasking(strategy: str) -> None:
    if strategy not in REMASKING_STRATEGIES:
        raise ValueError(f"unknown remasking strategy {strategy!r}; choose one of {', '.join(REMASKING_STRATEGIES)}")


# Step 2: score
def remasking_score(strategy: str, logits: torch.Tensor, probability: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Confidence used to choose which predictions to keep, (B, T); higher is kept first.

    low_confidence: p(x0_hat) (LLaDA); random: U(0, 1) (LLaDA); margin: top-1 minus top-2
    probability; entropy: minus the entropy of the predicted distribution.
    """
    if strategy == "low_confidence":
        return probability
    if strategy == "random":
        return torch.rand(probability.shape, device=probability.device, generator=generator)
    if strategy == "margin":
        top2 = F.softmax(logits.float(), dim=-1).topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]
    if strategy == "entropy":
        logp = F.log_softmax(logits.float(), dim=-1)
        # tokens with probability 0 (EOS under logits_eos_inf) add 0, not 0 * -inf = nan
        return torch.where(logp > -torch.inf, logp.exp() * logp, 0.0).sum(-1)
    check_remasking(strategy)  # raises: the strategy is none of the above
    raise AssertionError(strategy)


# Step 3: select
def select_transfer(score: torch.Tensor, candidates: torch.Tensor, counts: torch.Tensor,
                    demote: torch.Tensor | None = None) -> torch.Tensor:
    """Bool (B, T): in each row the `counts[b]` candidates with the highest score.

    `demote` marks candidates to be chosen only after all others (EOS/EoT with
    confidence_eos_eot_inf): they rank below every other candidate but above non-candidates.
    """
    if demote is not None and bool((demote & candidates).any()):
        # scores lie within [-log V, 1]; an offset of -1e4 puts demoted ones below all others
        wide = score.to(_wide_float(score.device))
        score = torch.where(demote, wide - 1e4, wide)
    confidence = torch.where(candidates, score, torch.tensor(float("-inf"), dtype=score.dtype, device=score.device))
    transfer = torch.zeros_like(candidates)
    for b in range(score.shape[0]):
        k = int(counts[b])
        if k > 0:
            transfer[b, torch.topk(confidence[b], k=k).indices] = True
    return transfer


# After a step: can the run end here?
def settled_at_eos(tokens: torch.Tensor, mask_id: int, stop_ids: tuple[int, ...]) -> torch.Tensor:
    """(B,) bool: the answer `tokens` (B, N) holds a committed EOS/EoT and no mask before the first one.
    Then nothing the answer shows (its text up to that token) can change in later steps: they only fill
    positions after it. An exact early stop (`stop_at_eos`), not a heuristic."""
    stop = torch.zeros_like(tokens, dtype=torch.bool)
    for i in stop_ids:
        stop |= tokens == i
    has_stop = stop.any(dim=1)
    first = torch.where(has_stop, stop.int().argmax(dim=1), tokens.shape[1])  # (B,)
    before = torch.arange(tokens.shape[1], device=tokens.device)[None, :] < first[:, None]
    return has_stop & ~((tokens == mask_id) & before).any(dim=1)
