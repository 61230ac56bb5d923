"""The reverse process: generate() against an independent oracle, denoise() records, invariants, options."""

import numpy as np
import pytest
import torch

from llada_demo.testing import TINY_IDS, tiny_model
from llada_demo import denoise, generate, plan_schedule
from llada_demo.trace import Trajectory
from reference_loop import naive_generate

MASK, EOS, EOT = TINY_IDS["mask_id"], TINY_IDS["eos_id"], TINY_IDS["eot_id"]


@pytest.mark.parametrize("gen_length,block_length,steps,cfg_scale", [
    (16, 16, 16, 0.0), (16, 16, 5, 0.0), (16, 8, 8, 0.0), (16, 4, 8, 0.0), (24, 8, 6, 0.0), (16, 8, 4, 1.5),
])
def test_generate_matches_oracle(tiny, prompt, gen_length, block_length, steps, cfg_scale):
    ours = generate(tiny.model, prompt, steps=steps, gen_length=gen_length, block_length=block_length,
                    cfg_scale=cfg_scale, mask_id=MASK)
    expected = naive_generate(tiny.model, prompt, steps, gen_length, block_length, MASK, cfg_scale)
    assert torch.equal(ours, expected)
    assert not (ours == MASK).any()


def test_generate_batch_with_left_padding_matches_oracle(tiny):
    prompts = torch.tensor([[5, 17, 33, 8, 99], [EOS, EOS, 40, 41, 42], [EOS, 60, 61, 62, 63]])
    attention = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    ours = generate(tiny.model, prompts, attention, steps=8, gen_length=16, block_length=8, mask_id=MASK)
    expected = naive_generate(tiny.model, prompts, 8, 16, 8, MASK, attention_mask=attention)
    assert torch.equal(ours, expected)
    # and a padded row decodes as it would alone
    alone = generate(tiny.model, prompts[1:2, 2:], steps=8, gen_length=16, block_length=8, mask_id=MASK)
    assert torch.equal(ours[1, 5:], alone[0, 3:])


def run(model, prompt, **kwargs):
    """denoise() kept in a Trajectory: (trajectory, records)."""
    d = denoise(model, prompt, **kwargs)
    trajectory = Trajectory(d.canvas, d.settings)
    for record in d:
        trajectory.add(record)
    return trajectory, trajectory.records


def test_records_replay_to_generate_one_per_step(tiny, prompt):
    kwargs = dict(steps=12, gen_length=24, block_length=8, temperature=0.9, seed=3)
    trajectory, records = run(tiny, prompt, **kwargs)
    assert len(records) == 12 and [r.step for r in records] == list(range(1, 13))
    assert trajectory.canvas.steps == 12 and trajectory.canvas.blocks == 3
    assert np.array_equal(trajectory.final_tokens(), generate(tiny, prompt, **kwargs)[0, 7:].numpy())
    assert [r.block for r in records] == [0] * 4 + [1] * 4 + [2] * 4
    assert trajectory.canvas.block_spans == ((0, 8), (8, 16), (16, 24))
    assert np.array_equal(trajectory.canvas.prompt, prompt[0].numpy())
    assert [r.forward_passes for r in records] == list(range(1, 13))
    assert all(b.elapsed >= a.elapsed for a, b in zip(records, records[1:]))


def test_denoise_batch_gives_each_sequence_its_records(tiny):
    from llada_demo import SamplingSettings, denoise_batch
    prompts = torch.tensor([[5, 17, 33, 8, 99], [EOS, EOS, 40, 41, 42]])
    attention = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    settings = SamplingSettings(steps=8, gen_length=16, block_length=8)
    d = denoise_batch(tiny, prompts, attention, settings=settings)
    trajectories = [Trajectory(c, settings) for c in d.canvases]
    for records in d:
        for t, r in zip(trajectories, records):
            t.add(r)
    out = generate(tiny, prompts, attention, settings=settings)
    for row, t in enumerate(trajectories):
        assert np.array_equal(t.final_tokens(), out[row, 5:].numpy())
    with pytest.raises(ValueError, match="use denoise_batch"):
        denoise(tiny, prompts, steps=8, gen_length=16, block_length=8)


def test_committed_tokens_never_change_and_masks_follow_schedule(tiny, prompt):
    trajectory, records = run(tiny, prompt, steps=10, gen_length=20, block_length=10, temperature=1.0, seed=1)
    masks_left = 20
    for r in records:
        before, after = trajectory.view(r.step - 1), trajectory.view(r.step)
        kept = ~before.masked
        assert np.array_equal(after.tokens[kept], before.tokens[kept])  # never re-masked, never changed
        assert np.array_equal(np.flatnonzero(before.masked & ~after.masked), r.committed)
        assert len(r.committed) == 2  # 10 tokens per block over 5 steps: 2 per step
        masks_left -= 2
        assert after.masked.sum() == masks_left == len(r.guesses)
        assert np.array_equal(after.committed_now, np.isin(np.arange(20), r.committed))
        assert (after.commit_step[r.committed] == r.step).all()
        # confidences: probabilities at every answer position
        assert ((r.confidence > 0) & (r.confidence <= 1)).all()
    assert masks_left == 0 and (trajectory.view(10).commit_step > 0).all()


def test_uneven_settings_follow_the_documented_rule(tiny, prompt):
    # generate.py asserts on these; we run exactly the asked number of steps, last block shorter
    trajectory, records = run(tiny, prompt, steps=9, gen_length=10, block_length=4, mask_id=MASK)
    assert len(records) == 9 and trajectory.steps == 9
    assert trajectory.canvas.block_spans[-1] == (8, 10)
    assert any("last block" in n for n in trajectory.canvas.notes)
    assert not (trajectory.final_tokens() == MASK).any()
    sched = plan_schedule(10, 4, 9)
    assert sched.steps_per_block == (4, 3, 2) and sched.steps == 9
    # fewer steps than blocks: raised to one per block, and said so
    sched = plan_schedule(32, 8, 2)
    assert sched.steps == 4 and "running 4 steps" in " ".join(sched.notes)
    # accepted by generate.py: its plan exactly, no notes
    sched = plan_schedule(128, 32, 64)
    assert sched.steps_per_block == (16,) * 4 and sched.notes == ()


@pytest.mark.parametrize("kwargs,message", [
    (dict(steps=0), "steps must be at least 1"),
    (dict(block_length=40, gen_length=32), "block_length (40) is longer than gen_length (32)"),
    (dict(steps=40, gen_length=32, block_length=32), "use at most 32 steps"),
    (dict(gen_length=128, steps=8, block_length=8), "more than the model's maximum of 128"),
    (dict(remasking="sideways"), "unknown remasking strategy 'sideways'"),
    (dict(gen_length=0), "gen_length must be at least 1"),
])
def test_invalid_settings_say_what_to_change(tiny, prompt, kwargs, message):
    args = dict(steps=8, gen_length=16, block_length=16) | kwargs
    with pytest.raises(ValueError) as err:
        denoise(tiny, prompt, **args)  # raised at the call, not at the first frame
    assert message in str(err.value)


@pytest.mark.parametrize("remasking", ["low_confidence", "random", "margin", "entropy"])
def test_seed_makes_runs_reproducible(tiny, prompt, remasking):
    run = lambda seed: generate(tiny, prompt, steps=8, gen_length=16, block_length=8, temperature=1.0,
                                remasking=remasking, seed=seed)
    assert torch.equal(run(7), run(7))
    assert any(not torch.equal(run(7), run(s)) for s in (8, 9, 10))


def test_remasking_strategies_choose_differently(tiny, prompt):
    outs = {r: generate(tiny, prompt, steps=16, gen_length=16, block_length=16, remasking=r, seed=0)
            for r in ["low_confidence", "random", "margin", "entropy"]}
    assert len({tuple(o[0].tolist()) for o in outs.values()}) >= 3


def test_constraints_are_kept(tiny, prompt):
    constraints = {0: 42, 5: 43, 15: 44}
    trajectory, records = run(tiny, prompt, steps=13, gen_length=16, block_length=16, constraints=constraints)
    for r in records:
        assert [trajectory.view(r.step).tokens[p] for p in constraints] == [42, 43, 44]
    # three positions were given, so 13 masks in 13 steps, and they were never masked
    assert sum(len(r.committed) for r in records) == 13
    assert (trajectory.view(13).commit_step[[0, 5, 15]] == 0).all()
    with pytest.raises(ValueError, match="outside the answer"):
        generate(tiny, prompt, steps=4, gen_length=16, block_length=16, constraints={16: 3})
    with pytest.raises(ValueError, match="not a valid token"):
        generate(tiny, prompt, steps=4, gen_length=16, block_length=16, constraints={1: MASK})


def test_infill_fills_masks_in_place_and_leaves_the_rest(tiny):
    text = torch.tensor([[5, 6, MASK, MASK, 9, 10, MASK, 12, MASK, MASK, MASK, 16]])
    trajectory, records = run(tiny, text, steps=3, gen_length=0, block_length=8, infill=True)
    out = trajectory.final_tokens()
    keep = (text[0] != MASK).numpy()
    assert np.array_equal(out[keep], text[0].numpy()[keep])
    assert not (out == MASK).any() and out.shape == (12,)
    assert len(records) == 3 and sum(len(r.committed) for r in records) == 6
    assert trajectory.canvas.block_spans == ((2, 11),)  # blocks are laid over the masks
    assert np.array_equal(out, generate(tiny, text, steps=3, gen_length=0, block_length=8, infill=True)[0].numpy())
    with pytest.raises(ValueError, match="at least one mask"):
        generate(tiny, torch.tensor([[5, 6]]), steps=1, gen_length=0, infill=True)


def _eos_heavy_model():
    """A tiny model whose head often predicts EOS and EoT with high confidence."""
    model = tiny_model(seed=4)
    head = model.model.transformer.ff_out.weight
    g = torch.Generator().manual_seed(0)
    head[EOS] = torch.randn(head.shape[1], generator=g) * 3
    head[EOT] = torch.randn(head.shape[1], generator=g) * 3
    return model


def test_logits_eos_inf_never_predicts_eos(prompt):
    model = _eos_heavy_model()
    plain = generate(model, prompt, steps=16, gen_length=32, block_length=32)
    assert (plain[0, 7:] == EOS).sum() >= 3  # the model does like EOS
    trajectory, records = run(model, prompt, steps=16, gen_length=32, block_length=32, logits_eos_inf=True)
    assert not (trajectory.final_tokens() == EOS).any()
    assert not any((r.guesses == EOS).any() or (r.tokens == EOS).any() for r in records)


def test_confidence_eos_eot_inf_unmasks_eos_and_eot_last(prompt):
    model = _eos_heavy_model()
    kwargs = dict(steps=16, gen_length=32, block_length=16, eot_id=EOT)
    special = lambda t: (t == EOS) | (t == EOT)

    def premature(trajectory):
        """Steps that commit EOS/EoT while a masked position of the blocks so far guesses something else."""
        bad = []
        for r in trajectory.records:
            end = trajectory.canvas.block_spans[r.block][1]
            view = trajectory.view(r.step)
            waiting = view.guesses[:end][view.masked[:end]]
            if special(r.tokens).any() and not special(waiting).all():
                bad.append(r.step)
        return bad

    # without the option, EOS/EoT are unmasked while other candidates still wait
    assert premature(run(model, prompt, **kwargs)[0]), "the test model should commit EOS/EoT early without it"
    trajectory, _ = run(model, prompt, confidence_eos_eot_inf=True, **kwargs)
    assert premature(trajectory) == []
    assert special(trajectory.final_tokens()).sum() >= 2


def test_prompt_masks_are_filled_as_generate_py_fills_them(tiny):
    # masks inside the prompt compete with the block's masks for each step's budget (generate.py)
    prompt = torch.tensor([[5, MASK, 33, MASK, 99]])
    ours = generate(tiny.model, prompt, steps=8, gen_length=16, block_length=8, mask_id=MASK)
    assert torch.equal(ours, naive_generate(tiny.model, prompt, 8, 16, 8, MASK))


def test_a_predicted_mask_token_is_not_counted_as_committed(prompt):
    model = tiny_model(seed=5)
    head = model.model.transformer.ff_out.weight
    head[MASK] = torch.randn(head.shape[1], generator=torch.Generator().manual_seed(1)) * 3  # often predicted
    trajectory, records = run(model, prompt, steps=16, gen_length=16, block_length=16, mask_id=MASK)
    stuck = trajectory.final_tokens() == MASK
    assert stuck.any()  # as in generate.py, such positions stay masked ...
    assert (trajectory.view(16).commit_step[stuck] == -1).all()  # ... and are never reported as committed
    assert all(not (r.tokens == MASK).any() for r in records)


def test_entropy_scores_stay_finite_with_eos_suppressed(tiny, prompt):
    from llada_demo.sampling.schedule import remasking_score
    logits = tiny.model(prompt).logits
    logits[:, :, EOS] = -torch.inf
    score = remasking_score("entropy", logits, torch.zeros(1), None)
    assert torch.isfinite(score).all()


def test_a_bare_module_without_an_eos_id(prompt):
    model = tiny_model(eos_token_id=None)
    # no EOS id in its config: LLaDA-8B's is assumed, which this vocabulary has not; said, not an IndexError
    with pytest.raises(ValueError, match="EOS id 126081 is not in this model's vocabulary; pass eos_id"):
        generate(model, prompt, steps=4, gen_length=8, block_length=8, logits_eos_inf=True)
    out = generate(model, prompt, steps=4, gen_length=8, block_length=8, logits_eos_inf=True, eos_id=EOS)
    assert not (out[0, 7:] == EOS).any() and not (out[0, 7:] == MASK).any()


def test_settings_of_any_int_type_and_huge_requests_fail_fast(tiny, prompt):
    import time

    import numpy as np
    records = list(denoise(tiny, prompt, steps=np.int64(4), gen_length=torch.tensor(8).item(), block_length=np.int32(8)))
    assert len(records) == 4
    start = time.perf_counter()
    with pytest.raises(ValueError, match="more than the model's maximum"):
        denoise(tiny, prompt, steps=3_000_000, gen_length=4_000_001, block_length=2)
    assert time.perf_counter() - start < 1


# ---- the autoregressive twin --------------------------------------------------------------------
def test_the_autoregressive_twin_writes_left_to_right_as_a_plain_greedy_loop():
    model = tiny_model(seed=4, causal=True)
    prompt = torch.tensor([[5, 17, 33, 8]])
    run = denoise(model, prompt, gen_length=10, steps=5, block_length=5, **TINY_IDS)
    records = list(run)
    assert run.canvas.steps_per_block == (10,) and "one token per step" in run.canvas.notes[0]
    assert [r.committed.tolist() for r in records] == [[i] for i in range(10)]
    assert [r.forward_passes for r in records] == list(range(1, 11))
    assert all(np.isnan(np.delete(r.confidence, i)).all() and 0 < r.confidence[i] <= 1
               for i, r in enumerate(records))
    assert [len(r.guesses) for r in records] == list(range(9, -1, -1))
    # the KV-cache loop writes what a loop of full passes writes
    seq = prompt.clone()
    for _ in range(10):
        seq = torch.cat([seq, model(seq).logits[:, -1, :TINY_IDS["mask_id"]].argmax(-1, keepdim=True)], dim=1)
    written = np.concatenate([r.tokens for r in records])
    assert written.tolist() == seq[0, 4:].tolist()
    assert generate(model, prompt, gen_length=10, steps=10, block_length=10, **TINY_IDS)[0, 4:].tolist() == \
        written.tolist()
    trajectory = Trajectory(run.canvas, run.settings)  # and the views read it like any run
    for r in records:
        trajectory.add(r)
    assert trajectory.final_tokens().tolist() == written.tolist() and trajectory.view(3).masked.sum() == 7


def test_the_twin_samples_with_a_seed_keeps_fixed_tokens_and_refuses_what_it_cannot_do():
    model = tiny_model(seed=4, causal=True)
    prompt = torch.tensor([[5, 17, 33, 8]])
    kw = dict(gen_length=8, steps=8, block_length=8, temperature=1.0, seed=3, constraints={2: 77}, **TINY_IDS)
    a, b = generate(model, prompt, **kw), generate(model, prompt, **kw)
    assert torch.equal(a, b) and int(a[0, 4 + 2]) == 77
    with pytest.raises(ValueError, match="only continues a prompt"):
        denoise(model, torch.tensor([[5, TINY_IDS["mask_id"], 8]]), gen_length=0, steps=1, infill=True, **TINY_IDS)
    with pytest.raises(ValueError, match="cfg_scale"):
        denoise(model, prompt, gen_length=8, steps=8, cfg_scale=1.0, **TINY_IDS)


# ---- stop at EOS --------------------------------------------------------------------------------
def final(run, records):
    trajectory = Trajectory(run.canvas, run.settings)
    for r in records:
        trajectory.add(r)
    return trajectory.final_tokens().tolist()


def answer_up_to_eos(tokens, stop_ids=(TINY_IDS["eos_id"], TINY_IDS["eot_id"])):
    tokens = list(tokens)
    end = next((i for i, t in enumerate(tokens) if t in stop_ids), len(tokens))
    return tokens[: end + 1]


@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("remasking", ["low_confidence", "random", "margin", "entropy"])
@pytest.mark.parametrize("causal,decoding", [(False, "fixed"), (False, "threshold"), (False, "factor"),
                                             (True, "fixed")])
def test_stop_at_eos_ends_early_with_the_same_answer(temperature, remasking, causal, decoding):
    model = tiny_model(seed=5, causal=causal)
    prompt = torch.tensor([[5, 17, 33, 8]])
    # an EOS fixed at answer position 6: once positions 0-5 are written, the answer cannot change
    kw = dict(gen_length=24, steps=24, block_length=8, temperature=temperature, remasking=remasking, seed=11,
              constraints={6: TINY_IDS["eos_id"]}, decoding=decoding, threshold=0.5, **TINY_IDS)
    full = denoise(model, prompt, **kw)
    full_records = list(full)
    early = denoise(model, prompt, stop_at_eos=True, **kw)
    early_records = list(early)
    assert answer_up_to_eos(final(early, early_records)) == answer_up_to_eos(final(full, full_records))
    assert len(early_records) < len(full_records)
    assert [r.tokens.tolist() for r in early_records] == [r.tokens.tolist() for r in full_records[: len(early_records)]]
    out = generate(model, prompt, stop_at_eos=True, **kw)[0, 4:].tolist()
    assert answer_up_to_eos(out) == answer_up_to_eos(final(full, full_records))


def test_settled_at_eos_is_the_first_stop_with_nothing_masked_before_it():
    from llada_demo.sampling.schedule import settled_at_eos

    M, E = 250, 1
    tokens = torch.tensor([[3, 4, E, M], [3, M, E, 4], [3, 4, 5, M], [E, M, M, M], [3, E, M, 2]])
    assert settled_at_eos(tokens, M, (E, 2)).tolist() == [True, False, False, True, True]


def test_noise_is_drawn_only_where_a_step_may_commit():
    from llada_demo.sampling.schedule import predict_tokens

    logits = torch.randn(2, 6, 50, generator=torch.Generator().manual_seed(0))
    where = torch.tensor([[True, False, False, True, False, False], [False] * 5 + [True]])
    out = predict_tokens(logits, 1.0, torch.Generator().manual_seed(4), where)
    argmax = logits.argmax(-1)
    assert torch.equal(out[~where], argmax[~where])  # elsewhere: the argmax, no noise
    # there: a Gumbel-max draw, i.e. a sample of softmax(logits / temperature)
    row = torch.tensor([0.0, 1.0, 2.0, 0.5])
    many = predict_tokens(row.expand(1, 40_000, 4), 0.7, torch.Generator().manual_seed(5),
                          torch.ones(1, 40_000, dtype=torch.bool))
    share = torch.bincount(many[0], minlength=4) / 40_000
    assert torch.allclose(share, torch.softmax(row / 0.7, dim=0), atol=0.01), share
    # greedy runs do not depend on it (generate.py's stream itself: tests/test_official_parity.py)
    model, prompt = tiny_model(seed=8), torch.tensor([[5, 17, 33, 8]])
    kw = dict(gen_length=16, steps=8, block_length=8, **TINY_IDS)
    assert torch.equal(generate(model, prompt, **kw), generate(model, prompt, full_noise=True, **kw))
    hot = dict(kw, temperature=1.0, seed=2)  # with noise, each way is reproducible under its seed
    assert torch.equal(generate(model, prompt, **hot), generate(model, prompt, **hot))


def test_under_random_remasking_only_what_a_step_commits_is_sampled(tiny, prompt):
    # random remasking ranks positions without looking at the predictions, so the fixed rule knows
    # what a step commits before it samples: the noise goes there, and the guesses shown under the
    # masks left are the model's argmax of that step
    trajectory, records = run(tiny, prompt, steps=16, gen_length=16, block_length=16, temperature=1.0,
                              remasking="random", seed=4)
    L, sampled = prompt.shape[1], 0
    for r in records:
        before = torch.tensor(trajectory.view(r.step - 1).tokens)
        with torch.no_grad():
            argmax = tiny.model(torch.cat([prompt[0], before])[None]).logits[0, L:].argmax(-1).numpy()
        assert np.array_equal(r.guesses, argmax[trajectory.view(r.step).masked])
        sampled += int((r.tokens != argmax[r.committed]).sum())
    assert sampled > 0  # at temperature 1 some committed tokens are not the argmax: they were sampled
