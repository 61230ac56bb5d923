"""Decoding rules (sampling/rules.py): their arithmetic on known confidences, then real runs."""

import pytest
import torch

from llada_demo import denoise, generate
from llada_demo.sampling import SamplingSettings
from llada_demo.sampling.rules import Factor, Fixed, Threshold, make_rule
from llada_demo.testing import TINY_IDS, tiny_model

CONF = torch.tensor([[0.95, 0.20, 0.91, 0.50, 0.99, 0.10]])
ALL = torch.ones_like(CONF, dtype=torch.bool)


def chosen(mask):
    return mask[0].nonzero().flatten().tolist()


def test_threshold_commits_every_sure_candidate_and_at_least_one():
    assert chosen(Threshold(0.9).select(CONF, CONF, ALL, None)) == [0, 2, 4]
    assert chosen(Threshold(0.999).select(CONF, CONF, ALL, None)) == [4]  # none sure: the most confident
    some = torch.tensor([[False, True, False, True, False, True]])
    assert chosen(Threshold(0.9).select(CONF, CONF, some, None)) == [3]  # only candidates count
    demote = torch.tensor([[False, False, False, False, True, False]])
    assert chosen(Threshold(0.9).select(CONF, CONF, ALL, None, demote)) == [0, 2]
    assert not Threshold(0.5).select(CONF, CONF, torch.zeros_like(ALL), None).any()  # nothing to commit


def test_factor_commits_the_longest_prefix_that_passes():
    # sorted: 0.99, 0.95, 0.91, 0.50, ... ; c_n >= 1 - f/(n+1) with f = 1: n=1 0.5, n=2 0.667, n=3 0.75, n=4 0.8
    assert chosen(Factor(1.0).select(CONF, CONF, ALL, None)) == [0, 2, 4]
    # f = 0.1: n=1 needs 0.95 (0.99 ok), n=2 needs 0.967 (0.95 fails)
    assert chosen(Factor(0.1).select(CONF, CONF, ALL, None)) == [4]
    assert chosen(Factor(0.001).select(CONF, CONF, ALL, None)) == [4]  # at least one
    assert len(chosen(Factor(10.0).select(CONF, CONF, ALL, None))) == 6


def test_fixed_takes_the_schedules_count_by_the_remasking_score():
    score = torch.tensor([[0.1, 0.9, 0.2, 0.8, 0.3, 0.7]])
    assert chosen(Fixed().select(score, CONF, ALL, torch.tensor([2]))) == [1, 3]


def test_settings_name_and_check_the_rule():
    assert isinstance(SamplingSettings(decoding="threshold", threshold=0.7).rule(), Threshold)
    with pytest.raises(ValueError, match="unknown decoding rule 'fast'; choose one of fixed, threshold, factor"):
        SamplingSettings(decoding="fast")
    with pytest.raises(ValueError, match="threshold is a probability"):
        SamplingSettings(threshold=1.5)
    with pytest.raises(ValueError, match="factor must be more than 0"):
        SamplingSettings(factor=0)
    assert make_rule("factor", factor=2.0) == Factor(2.0)
    plan = SamplingSettings(gen_length=32, steps=4, block_length=16, decoding="threshold").plan()
    assert plan.steps_per_block == (16, 16) and "steps setting does not apply" in plan.notes[0]


@pytest.mark.parametrize("decoding", ["threshold", "factor"])
def test_a_dynamic_rule_fills_each_block_in_fewer_passes_and_records_them(decoding):
    model = tiny_model(seed=6)
    prompt = torch.tensor([[5, 17, 33, 8]])
    kw = dict(gen_length=16, steps=16, block_length=8, decoding=decoding, threshold=0.3, factor=2.0, **TINY_IDS)
    run = denoise(model, prompt, **kw)
    records = list(run)
    committed = [len(r.committed) for r in records]
    assert sum(committed) == 16 and all(c >= 1 for c in committed) and len(records) < 16
    assert [r.forward_passes for r in records] == list(range(1, len(records) + 1))
    assert [r.block for r in records] == sorted(r.block for r in records)  # block by block
    assert "no masks left" in run.canvas.notes[0]
    out = generate(model, prompt, **kw)[0, 4:]
    assert (out != TINY_IDS["mask_id"]).all()


def test_threshold_one_commits_one_token_per_step_and_zero_a_block_per_step():
    model = tiny_model(seed=6)
    prompt = torch.tensor([[5, 17, 33, 8]])
    kw = dict(gen_length=16, steps=16, block_length=8, decoding="threshold", **TINY_IDS)
    assert [len(r.committed) for r in denoise(model, prompt, threshold=1.0, **kw)] == [1] * 16
    assert [len(r.committed) for r in denoise(model, prompt, threshold=0.0, **kw)] == [8, 8]


@pytest.mark.parametrize("cache", ["prefix", "dual"])
@pytest.mark.parametrize("decoding,temperature", [("fixed", 0.0), ("threshold", 0.0), ("fixed", 0.9)])
def test_a_cached_run_is_the_uncached_run_where_the_cache_is_exact(cache, decoding, temperature):
    # one layer: the cached positions' keys and values depend on their own tokens only, which do not
    # change within a block; so the block's logits, and every commit, are the uncached run's
    model, prompt = tiny_model(seed=10, n_layers=1), torch.tensor([[5, 17, 33, 8]])
    kw = dict(gen_length=24, steps=12, block_length=8, decoding=decoding, threshold=0.4, temperature=temperature,
              seed=1, **TINY_IDS)
    plain, cached = list(denoise(model, prompt, **kw)), list(denoise(model, prompt, cache=cache, **kw))
    assert [r.committed.tolist() for r in cached] == [r.committed.tolist() for r in plain]
    assert [r.tokens.tolist() for r in cached] == [r.tokens.tolist() for r in plain]
    # deeper models: approximate, but every run fills its answer
    deep = generate(tiny_model(seed=10), prompt, cache=cache, **kw)
    assert (deep[0, 4:] != TINY_IDS["mask_id"]).all()


def test_the_cache_setting_is_checked():
    assert SamplingSettings(cache="none").cache is None
    with pytest.raises(ValueError, match="unknown cache 'triple'; choose one of none, prefix, dual"):
        SamplingSettings(cache="triple")
