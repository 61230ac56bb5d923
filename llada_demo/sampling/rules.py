"""Decoding rules: which masked positions a reverse step commits (step 3 of schedule.py).

A rule is a small frozen object with one method, `select(score, confidence, candidates, count, demote)`
-> bool (B, T), the positions to commit:
- score: the remasking strategy's ranking (schedule.remasking_score), higher first;
- confidence: p(x0_hat) at every position;
- candidates: the masked positions this step may commit (those of the active block and before it);
- count: (B,) the linear schedule's n_k for this step (only `fixed` uses it);
- demote: positions to rank last (EOS/EoT under confidence_eos_eot_inf), or None.
A rule whose `dynamic` is True ignores the schedule: each block runs until it has no masks left, at
least one token per step. Adding a rule: a class here, its entry in RULES, and its test.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .schedule import select_transfer


@dataclass(frozen=True)
class Fixed:
    """LLaDA's rule (Nie et al. 2025; generate.py of ML-GSAI/LLaDA): the n_k candidates with the best
    remasking score, n_k from the linear schedule. Every run takes exactly `steps` forward passes."""

    dynamic = False

    def select(self, score, confidence, candidates, count, demote=None) -> torch.Tensor:
        return select_transfer(score, candidates, count, demote)


@dataclass(frozen=True)
class Threshold:
    """Confidence-aware parallel decoding (Wu et al. 2025, Fast-dLLM, its threshold rule): commit every
    candidate whose confidence p(x0_hat) >= tau, and always at least the most confident one."""

    tau: float = 0.9
    dynamic = True

    def select(self, score, confidence, candidates, count, demote=None) -> torch.Tensor:
        sure = candidates & (confidence >= self.tau)
        if demote is not None:
            sure &= ~demote
        return sure | _most_confident(confidence, candidates, demote)


@dataclass(frozen=True)
class Factor:
    """Fast-dLLM's factor rule (Wu et al. 2025): sort the candidates' confidences c_1 >= c_2 >= ...;
    commit the n most confident for the largest n with c_n >= 1 - f / (n + 1), at least one. (The
    condition holds for every smaller n too, so those n form a prefix.)"""

    f: float = 1.0
    dynamic = True

    def select(self, score, confidence, candidates, count, demote=None) -> torch.Tensor:
        ranked = torch.where(candidates, confidence.double(), -torch.inf)
        if demote is not None:
            ranked = torch.where(demote, -torch.inf, ranked)
        c = ranked.sort(dim=-1, descending=True).values  # (B, T)
        n = torch.arange(1, c.shape[-1] + 1, device=c.device)
        passes = (c >= 1 - self.f / (n + 1)) & (c > -torch.inf)
        counts = passes.sum(dim=-1)  # (B,)
        chosen = select_transfer(ranked, candidates & (ranked > -torch.inf), counts)
        return chosen | _most_confident(confidence, candidates, demote)


def _most_confident(confidence, candidates, demote) -> torch.Tensor:
    """The single most confident candidate of each row that has one (demoted ones last)."""
    ones = candidates.any(dim=-1).long()
    return select_transfer(confidence, candidates, ones, demote)


RULES = {"fixed": Fixed, "threshold": Threshold, "factor": Factor}
DECODING_RULES = tuple(RULES)


def make_rule(decoding: str, threshold: float = 0.9, factor: float = 1.0):
    if decoding == "fixed":
        return Fixed()
    if decoding == "threshold":
        return Threshold(threshold)
    if decoding == "factor":
        return Factor(factor)
    raise ValueError(f"unknown decoding rule {decoding!r}; choose one of {', '.join(DECODING_RULES)}")
