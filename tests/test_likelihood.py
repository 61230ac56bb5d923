"""The forward process and LLaDA's Monte Carlo likelihood bound, against a brute-force expectation."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from llada_demo.likelihood import log_likelihood, log_likelihoods, stratified_mask_counts
from llada_demo.testing import TINY_IDS, tiny_model


def exact_bound(model, prompt, answer, mask_id):
    """E over l ~ U{1..L} and a uniform l-subset S of the answer of (L / l) sum_{j in S} log p(x_j | x_S masked)."""
    L, total = len(answer), 0.0
    for l in range(1, L + 1):
        subsets = list(itertools.combinations(range(L), l))
        for subset in subsets:
            seq = torch.tensor([prompt + answer])
            for j in subset:
                seq[0, len(prompt) + j] = mask_id
            logp = F.log_softmax(model(seq).logits[0, len(prompt):, : model.config.vocab_size].float(), dim=-1)
            total += (L / l) * sum(float(logp[j, answer[j]]) for j in subset) / len(subsets) / L
    return total


def test_the_estimate_converges_to_the_brute_force_bound():
    model = tiny_model(seed=12)
    prompt, answer = [5, 17, 33], [40, 41, 42, 43]
    exact = exact_bound(model, prompt, answer, TINY_IDS["mask_id"])
    estimate, error = log_likelihood(model, prompt, answer, mc_samples=4096, batch_size=64, seed=1)
    assert error > 0 and abs(estimate - exact) < 4 * error, (estimate, exact, error)
    assert error < 0.05 * abs(exact)
    again = log_likelihood(model, prompt, answer, mc_samples=64, seed=1)
    assert again == log_likelihood(model, prompt, answer, mc_samples=64, seed=1)  # seeded
    assert math.isfinite(again[0]) and again[0] < 0


def test_guidance_changes_the_estimate_and_bad_input_says_what_is_wrong():
    model = tiny_model(seed=12)
    plain = log_likelihood(model, [5, 17], [40, 41], mc_samples=32)[0]
    assert log_likelihood(model, [5, 17], [40, 41], mc_samples=32, cfg_scale=1.0)[0] != plain
    with pytest.raises(ValueError, match="answer is empty"):
        log_likelihood(model, [5], [])
    with pytest.raises(ValueError, match="for diffusion models"):
        log_likelihood(tiny_model(causal=True), [5], [6])


def test_answers_scored_together_score_as_each_alone():
    """log_likelihoods pads answers of different lengths into one pass and runs the output head only where a
    token is scored: each answer's number is the one it gets alone, for either kind of model."""
    prompt, answers = [5, 17, 33], [[40, 41, 42, 43], [7], [50, 51, 52, 53, 54, 55, 56], [40, 41]]
    diffusion = tiny_model(seed=12)
    together = log_likelihoods(diffusion, prompt, answers, mc_samples=6, seed=3)
    alone = [log_likelihood(diffusion, prompt, a, mc_samples=6, batch_size=6, seed=3)[0] for a in answers]
    assert together == pytest.approx(alone, rel=1e-5)
    assert log_likelihoods(diffusion, prompt, answers, mc_samples=6, seed=4) != together  # the draws follow the seed
    twin = tiny_model(seed=12, causal=True)  # exact: each token's log-probability given those before it
    exact = []
    for a in answers:
        x = torch.tensor([prompt + a])
        logp = F.log_softmax(twin(x).logits[0, :-1, : twin.config.vocab_size].float(), dim=-1)
        exact.append(sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(a)))
    assert log_likelihoods(twin, prompt, answers) == pytest.approx(exact, rel=1e-5)
    for bad in ([], [[40], []]):
        with pytest.raises(ValueError, match="none empty"):
            log_likelihoods(diffusion, prompt, bad)
    with pytest.raises(ValueError, match="mc_samples must be at least 1"):
        log_likelihoods(diffusion, prompt, answers, mc_samples=0)


def test_stratified_counts_cover_the_range_evenly():
    for seed in range(5):  # as many samples as answer tokens: each count once
        assert sorted(stratified_mask_counts(4, 4, torch.Generator().manual_seed(seed)).tolist()) == [1, 2, 3, 4]
    many = torch.cat([stratified_mask_counts(5, 7, torch.Generator().manual_seed(s)) for s in range(700)])
    assert many.min() == 1 and many.max() == 7
    assert torch.allclose(torch.bincount(many, minlength=8)[1:].double() / len(many), torch.full((7,), 1 / 7,
                          dtype=torch.double), atol=0.02)


def test_raising_t_only_adds_masks_and_one_pass_reconstructs():
    from llada_demo.likelihood import forward_curve, reconstruct, token_draws

    model, ids, mask = tiny_model(seed=12), [5, 17, 33, 40, 41, 42, 43, 7], TINY_IDS["mask_id"]
    draws = token_draws(len(ids), seed=3)
    assert torch.equal(draws, token_draws(len(ids), seed=3))
    previous = torch.zeros(len(ids), dtype=torch.bool)
    for t in (0.1, 0.3, 0.6, 1.0):
        masked = draws < t
        assert (masked | ~previous).all()  # what was masked stays masked
        previous = masked
    assert previous.all()  # at t = 1 everything is masked
    r = reconstruct(model, ids, draws < 0.5, mask)
    x = torch.tensor([ids])
    x[0, draws < 0.5] = mask
    assert torch.equal(r["prediction"], model(x).logits[0, :, :mask].argmax(-1))
    curve = forward_curve(model, ids, draws, mask, ts=(0.25, 0.5, 1.0))
    assert [c["masked"] for c in curve] == [int((draws < t).sum()) for t in (0.25, 0.5, 1.0)]
    assert curve[-1]["masked"] == len(ids) and all(c["loss"] >= 0 for c in curve)
    full = -torch.log_softmax(model(torch.full((1, len(ids)), mask)).logits[0, :, :mask].float(), -1)
    assert curve[-1]["loss"] == pytest.approx(float(full.gather(-1, torch.tensor(ids)[:, None]).mean()), rel=1e-5)
