"""Parity with the official LLaDA code, when a copy of it is at hand (it is never committed here).

Set LLADA_OFFICIAL_CODE to a directory holding `generate.py` (ML-GSAI/LLaDA) and/or
`modeling_llada.py` + `configuration_llada.py` (the remote code of GSAI-ML/LLaDA-8B-Instruct), then
run `pytest tests/test_official_parity.py`. Without it these tests are skipped; the always-on tests
compare against tests/reference_loop.py instead.
"""

import importlib
import os
import sys
from pathlib import Path

import pytest
import torch

from llada_demo.testing import tiny_model
from llada_demo import LLaDAConfig, LLaDAModelLM, SamplingSettings, denoise_batch, generate

OFFICIAL = Path(os.environ.get("LLADA_OFFICIAL_CODE", "/nonexistent"))


def _official(module):
    if not (OFFICIAL / f"{module}.py").is_file():
        pytest.skip(f"set LLADA_OFFICIAL_CODE to a directory with the official {module}.py")
    sys.path.insert(0, str(OFFICIAL))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(OFFICIAL))


@pytest.mark.parametrize("n_kv_heads,weight_tying", [(4, False), (2, True)])
def test_logits_match_official_modeling(n_kv_heads, weight_tying):
    configuration = _official("configuration_llada")
    modeling = _official("modeling_llada")
    ours = LLaDAModelLM(LLaDAConfig(d_model=64, n_layers=3, n_heads=4, n_kv_heads=n_kv_heads, mlp_hidden_size=160,
                                    vocab_size=300, embedding_size=320, max_sequence_length=256,
                                    weight_tying=weight_tying, mask_token_id=299)).init_weights(1, std=0.2).eval()
    fields = ours.config.to_dict()
    for key in ("architectures", "model_type"):
        fields.pop(key)
    official_config = configuration.LLaDAConfig(**fields, init_device="cpu")
    official_config.use_cache = False  # transformers 5 no longer sets it
    official = modeling.LLaDAModelLM(official_config, init_params=True).eval()
    official.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        diff = (official.model(x).logits - ours(x).logits).abs().max().item()
    assert diff <= 1e-4


@pytest.mark.parametrize("gen_length,block_length,steps,cfg_scale", [
    (16, 16, 16, 0.0), (16, 16, 5, 0.0), (16, 8, 8, 0.0), (24, 8, 6, 0.0), (16, 8, 4, 1.5), (32, 8, 16, 0.5)])
def test_generate_matches_official_generate(gen_length, block_length, steps, cfg_scale):
    official = _official("generate")
    model = tiny_model(seed=2)
    g = torch.Generator().manual_seed(gen_length * 100 + steps)
    for _ in range(5):  # several prompts: rare paths (the model predicting the mask token) show up
        prompt = torch.randint(0, 250, (2, 9), generator=g)
        attention = torch.ones_like(prompt)
        attention[1, :3] = 0
        kwargs = dict(steps=steps, gen_length=gen_length, block_length=block_length, cfg_scale=cfg_scale,
                      mask_id=250)
        expected = official.generate(model, prompt, attention, **kwargs)
        assert torch.equal(generate(model, prompt, attention, **kwargs), expected)
        settings = SamplingSettings(**{k: v for k, v in kwargs.items() if k != "mask_id"})
        final = torch.full((2, gen_length), 250)
        for records in denoise_batch(model, prompt, attention, settings=settings, mask_id=250):  # a batch: one
            for row, record in enumerate(records):  # record per sequence and step
                final[row, torch.as_tensor(record.committed)] = torch.as_tensor(record.tokens)
        assert torch.equal(final, expected[:, -gen_length:])


@pytest.mark.parametrize("remasking", ["low_confidence", "random"])
def test_sampling_matches_official_under_the_same_seed(remasking):
    official = _official("generate")
    model = tiny_model(seed=2)
    prompt = torch.randint(0, 250, (1, 9), generator=torch.Generator().manual_seed(1))
    kwargs = dict(steps=8, gen_length=16, block_length=8, temperature=0.8, remasking=remasking, mask_id=250)
    torch.manual_seed(11)
    expected = official.generate(model, prompt, **kwargs)
    assert torch.equal(generate(model, prompt, seed=11, full_noise=True, **kwargs), expected)  # its random stream
