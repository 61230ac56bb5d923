"""Sampling settings as one frozen, validated object, shared by the sampler, the UI, the API and caches.

`SamplingSettings(...)` refuses what cannot run and says what to change: whole numbers that are not
whole (3.7 answer tokens), numbers that are not finite (temperature NaN), unknown remasking
strategies, fixed tokens in infill mode. Integral floats (24.0, as sliders send) become ints. It is
hashable, so it keys caches of finished runs. The schedule check (blocks, steps) is
`schedule.plan_schedule`, run by `plan()`; what depends on the model (context length, vocabulary) is
checked by the sampler.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields, replace

from .rules import make_rule
from .schedule import Schedule, check_remasking, plan_schedule

SEED_LIMIT = 2**63  # torch.Generator.manual_seed takes 0 .. 2**63 - 1
CACHES = (None, "prefix", "dual")


def whole_number(name: str, value, *, minimum: int | None = None) -> int:
    """`value` as an int, or a ValueError naming `name`: bools, fractions, NaN and text are refused."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        out = int(value)
    else:
        try:  # torch and numpy scalars that are not numbers.Integral subclasses
            out = value.__index__()
        except (AttributeError, TypeError):
            raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {out}")
    return out


def seed_number(value, *, name: str = "seed") -> int:
    """A seed as torch takes it (0 .. 2**63 - 1), or a ValueError: every seed field says the same."""
    seed = whole_number(name, value)
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{name} must be a whole number from 0 to 2**63 - 1, got {seed}")
    return seed


def flag(name: str, value) -> bool:
    """A yes/no setting: only a boolean (JSON true/false). The text "false" is not false, and 0/1 may be
    a mistyped number, so neither is guessed at."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # (numpy's bool)
        return bool(value)
    raise ValueError(f"{name} must be true or false, got {value!r}")


def finite_number(name: str, value, *, minimum: float = 0.0) -> float:
    """`value` as a float >= minimum, or a ValueError naming `name` (NaN and infinities are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if out < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {out:g}")
    return out


@dataclass(frozen=True)
class SamplingSettings:
    """What a run samples with. Field names are generate()'s keywords (LLaDA's generate.py plus ours).

    constraints: ((answer position, token id), ...) fixed before the run, sorted by position.
    infill: fill the mask tokens inside the prompt in place (gen_length is then 0).
    """

    gen_length: int = 128
    steps: int = 128
    block_length: int = 128
    temperature: float = 0.0
    cfg_scale: float = 0.0
    remasking: str = "low_confidence"
    seed: int | None = None
    constraints: tuple[tuple[int, int], ...] = ()
    infill: bool = False
    logits_eos_inf: bool = False
    confidence_eos_eot_inf: bool = False
    stop_at_eos: bool = False  # end once nothing the answer shows can change (schedule.settled_at_eos)
    decoding: str = "fixed"  # which positions a step commits: rules.RULES
    threshold: float = 0.9  # decoding="threshold": commit every masked position at least this confident
    factor: float = 1.0  # decoding="factor": Fast-dLLM's factor f
    full_noise: bool = False  # Gumbel noise at every position, as generate.py (its random stream; slower)
    cache: str | None = None  # Fast-dLLM's "prefix" or "dual" key/value cache (approximate), or None

    def __post_init__(self):
        fix = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        fix("gen_length", whole_number("gen_length", self.gen_length))  # (its range depends on infill: below)
        fix("steps", whole_number("steps", self.steps, minimum=1))
        fix("block_length", whole_number("block_length", self.block_length, minimum=1))
        fix("temperature", finite_number("temperature", self.temperature))
        fix("cfg_scale", finite_number("cfg_scale", self.cfg_scale))
        check_remasking(self.remasking)
        make_rule(self.decoding)  # an unknown rule fails here, with the names of the known ones
        if self.cache in ("", "none", "None"):
            fix("cache", None)
        if self.cache not in CACHES:
            raise ValueError(f"unknown cache {self.cache!r}; choose one of none, prefix, dual")
        fix("threshold", finite_number("threshold", self.threshold))
        if self.threshold > 1:
            raise ValueError(f"threshold is a probability, from 0 to 1; got {self.threshold:g}")
        fix("factor", finite_number("factor", self.factor))
        if self.factor <= 0:
            raise ValueError(f"factor must be more than 0, got {self.factor:g}")
        if self.seed is not None:
            fix("seed", seed_number(self.seed))
        for name in ("infill", "logits_eos_inf", "confidence_eos_eot_inf", "stop_at_eos", "full_noise"):
            fix(name, flag(name, getattr(self, name)))
        items = self.constraints.items() if isinstance(self.constraints, dict) else self.constraints
        pairs = sorted((whole_number("fixed token position", p), whole_number("fixed token id", t))
                       for p, t in items)
        positions = [p for p, _ in pairs]
        if len(set(positions)) != len(positions):
            raise ValueError(f"fixed tokens: position {_first_repeat(positions)} is given twice")
        fix("constraints", tuple(pairs))
        if self.infill:
            if self.gen_length:
                raise ValueError("infill fills the masks inside the text: set gen_length to 0")
            if self.constraints:
                raise ValueError("fixed tokens are not used in infill mode: write the fixed text into the prompt "
                                 "instead, or turn infill off")
            if self.stop_at_eos:
                raise ValueError("stop at EOS ends an answer; infill fills a text in place: turn one of them off")
        elif self.gen_length < 1:
            raise ValueError(f"gen_length must be at least 1, got {self.gen_length}")

    def plan(self, fill_length: int | None = None) -> Schedule:
        """The schedule that really runs over `fill_length` positions (default: the answer). Under a
        dynamic rule (threshold, factor) its steps are the most a block can take: one per token."""
        n = self.gen_length if fill_length is None else fill_length
        if not self.rule().dynamic:
            return plan_schedule(n, self.block_length, self.steps)
        plan = plan_schedule(n, self.block_length, n)
        note = (f"{self.decoding} decoding: each block runs until it has no masks left, at least one token "
                "per step (the steps setting does not apply)")
        return replace(plan, notes=(note,) + plan.notes)

    def rule(self):
        """The decoding rule object (rules.py)."""
        return make_rule(self.decoding, self.threshold, self.factor)

    def as_dict(self) -> dict:
        """Plain JSON-able fields (constraints as [[position, id], ...])."""
        out = asdict(self)
        out["constraints"] = [list(pair) for pair in self.constraints]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> SamplingSettings:
        """The inverse of `as_dict`; unknown keys are an error, missing ones take their defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown sampling settings: {', '.join(unknown)}")
        data = dict(data)
        if "constraints" in data:
            data["constraints"] = tuple(tuple(pair) for pair in data["constraints"])
        return cls(**data)


def _first_repeat(values):
    seen = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
