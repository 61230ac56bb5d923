"""SamplingSettings: one frozen, validated object; bad values are refused with what to change."""

import math

import numpy as np
import pytest
import torch

from llada_demo import SamplingSettings, denoise, generate


def test_defaults_are_generate_py_defaults_and_settings_are_hashable():
    s = SamplingSettings()
    assert (s.gen_length, s.steps, s.block_length, s.temperature, s.remasking) == (128, 128, 128, 0.0, "low_confidence")
    assert hash(s) == hash(SamplingSettings()) and s == SamplingSettings()
    with pytest.raises(AttributeError):
        s.steps = 3  # frozen


def test_integral_floats_become_ints_and_constraints_a_sorted_tuple():
    s = SamplingSettings(gen_length=24.0, steps=np.int64(12), block_length=torch.tensor(8).item(), seed=3.0,
                         constraints={5: 7, 0: 3})
    assert (s.gen_length, s.steps, s.block_length, s.seed) == (24, 12, 8, 3)
    assert all(type(v) is int for v in (s.gen_length, s.steps, s.block_length, s.seed))
    assert s.constraints == ((0, 3), (5, 7))
    assert SamplingSettings.from_dict(s.as_dict()) == s


@pytest.mark.parametrize("kwargs,message", [
    (dict(gen_length=3.7), "gen_length must be a whole number, got 3.7"),
    (dict(seed=3.5), "seed must be a whole number, got 3.5"),
    (dict(steps=None), "steps must be a whole number, got None"),
    (dict(gen_length=True), "gen_length must be a whole number, got True"),
    (dict(gen_length="64"), "gen_length must be a whole number, got '64'"),
    (dict(temperature=math.nan), "temperature must be a finite number, got nan"),
    (dict(temperature=math.inf), "temperature must be a finite number, got inf"),
    (dict(cfg_scale=math.nan), "cfg_scale must be a finite number, got nan"),
    (dict(temperature=-0.5), "temperature must be >= 0, got -0.5"),
    (dict(temperature="hot"), "temperature must be a number, got 'hot'"),
    (dict(seed=-1), "seed must be a whole number from 0 to 2**63 - 1"),
    (dict(seed=2**63), "seed must be a whole number from 0 to 2**63 - 1"),
    (dict(remasking="sideways"), "unknown remasking strategy 'sideways'"),
    (dict(gen_length=0, infill=True, constraints={0: 5}), "fixed tokens are not used in infill mode"),
    (dict(gen_length=16, infill=True), "infill fills the masks inside the text: set gen_length to 0"),
    (dict(gen_length=0, infill=True, stop_at_eos=True), "stop at EOS ends an answer"),
    (dict(constraints=((1, 5), (1, 6))), "fixed tokens: position 1 is given twice"),
    (dict(gen_length=-5), "gen_length must be at least 1, got -5"),  # the same words as for 0
    (dict(gen_length=0), "gen_length must be at least 1, got 0"),
    (dict(stop_at_eos="false"), "stop_at_eos must be true or false, got 'false'"),  # not taken for True
    (dict(infill=1), "infill must be true or false, got 1"),
])
def test_bad_values_are_refused_with_a_message(kwargs, message):
    with pytest.raises(ValueError) as err:
        SamplingSettings(**kwargs)
    assert message in str(err.value)


def test_from_dict_refuses_unknown_keys():
    with pytest.raises(ValueError, match="unknown sampling settings: temprature"):
        SamplingSettings.from_dict({"temprature": 1.0})


def test_keywords_and_settings_run_the_same(tiny, prompt):
    kwargs = dict(steps=8, gen_length=16, block_length=8, temperature=0.8, seed=4)
    assert torch.equal(generate(tiny, prompt, **kwargs), generate(tiny, prompt, settings=SamplingSettings(**kwargs)))
    d = denoise(tiny, prompt, **kwargs)
    assert d.settings == SamplingSettings(**kwargs)
    with pytest.raises(ValueError, match="temperature must be a finite number"):
        denoise(tiny, prompt, temperature=float("inf"))
