"""Our LLaDA model and its loader: round trips, batch independence, and every error message."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from llada_demo.testing import tiny_config, tiny_model
from llada_demo import LLaDAModelLM, ModelLoadError, load_model, save_checkpoint
from llada_demo.loading import BUNDLED_MODEL_DIR


def test_single_file_round_trip(tiny_dir):
    loaded = load_model(tiny_dir, device="cpu")
    original = tiny_model()
    x = torch.randint(0, 250, (2, 19))
    out = loaded.model(x)
    assert out.logits.shape == (2, 19, 256) and out.logits.dtype == torch.float32
    assert torch.equal(out.logits, original(x).logits)
    assert loaded.model.device == torch.device("cpu") and loaded.tokenizer is None
    assert (loaded.mask_id, loaded.eos_id) == (250, 1)
    assert json.loads((tiny_dir / "config.json").read_text())["model_type"] == "llada"


def test_sharded_round_trip_with_tied_weights(tiny_sharded_dir):
    index = json.loads((tiny_sharded_dir / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    loaded = load_model(tiny_sharded_dir, device="cpu")
    original = tiny_model(seed=1, weight_tying=True, n_kv_heads=4)
    x = torch.randint(0, 250, (1, 11))
    assert torch.equal(loaded.model(x).logits, original(x).logits)
    assert "model.transformer.ff_out.weight" not in index["weight_map"]


def test_official_weight_names():
    names = set(tiny_model().state_dict())
    assert {"model.transformer.wte.weight", "model.transformer.ln_f.weight", "model.transformer.ff_out.weight",
            "model.transformer.blocks.1.attn_norm.weight", "model.transformer.blocks.1.ff_norm.weight",
            "model.transformer.blocks.0.q_proj.weight", "model.transformer.blocks.0.k_proj.weight",
            "model.transformer.blocks.0.v_proj.weight", "model.transformer.blocks.0.attn_out.weight",
            "model.transformer.blocks.0.ff_proj.weight", "model.transformer.blocks.0.up_proj.weight",
            "model.transformer.blocks.0.ff_out.weight"} <= names
    assert len(names) == 3 + 2 * 9


def test_dtype_choice(tiny_dir):
    loaded = load_model(tiny_dir, device="cpu", dtype="bfloat16")
    assert loaded.model.dtype == torch.bfloat16
    assert loaded.model(torch.tensor([[3, 4, 5]])).logits.dtype == torch.bfloat16


def test_weights_are_allocated_once(tiny_dir, monkeypatch):
    # the module is built on the meta device: its init functions touch no real memory, and the
    # checkpoint tensors become the parameters
    devices = []
    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", lambda t, *a, **k: devices.append(t.device.type) or t)
    monkeypatch.setattr(LLaDAModelLM, "init_weights", lambda self, *a, **k: devices.append("init_weights"))
    loaded = load_model(tiny_dir, device="cpu")
    assert devices and set(devices) == {"meta"}
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())


def test_logits_do_not_depend_on_batch_composition(tiny):
    model = tiny.model
    a = torch.tensor([[5, 6, 7, 8, 9, 10]])
    b = torch.tensor([[20, 21, 22]])
    alone_a, alone_b = model(a).logits, model(b).logits
    # b left-padded to a's length, next to a, with an attention mask
    batch = torch.tensor([[5, 6, 7, 8, 9, 10], [1, 1, 1, 20, 21, 22]])
    mask = torch.tensor([[1] * 6, [0, 0, 0, 1, 1, 1]])
    both = model(batch, attention_mask=mask).logits
    assert torch.allclose(both[0], alone_a[0], atol=1e-5)
    assert torch.allclose(both[1, 3:], alone_b[0], atol=1e-5)
    # and a sequence's logits do not change with its batch neighbours
    pair = model(torch.cat([a, a.flip(1)])).logits
    assert torch.allclose(pair[0], alone_a[0], atol=1e-5)


def test_attention_is_bidirectional(tiny):
    x = torch.tensor([[5, 6, 7, 8, 9]])
    y = x.clone()
    y[0, 4] = 100  # a later token changes the first position's logits: no causal mask
    assert not torch.allclose(tiny.model(x).logits[0, 0], tiny.model(y).logits[0, 0])


def test_the_causal_twin_sees_only_the_past_and_loads_as_causal(tmp_path):
    model = tiny_model(seed=2, causal=True)
    x = torch.tensor([[5, 6, 7, 8, 9, 10]])
    y = x.clone()
    y[0, 4:] = torch.tensor([100, 101])  # later tokens change: positions 0-3 do not notice
    lx, ly = model(x).logits[0], model(y).logits[0]
    assert torch.equal(lx[:4], ly[:4]) and not torch.allclose(lx[4], ly[4])
    # left padding with an attention mask: the real tokens' logits are the unpadded ones, and no NaN
    padded = model(torch.tensor([[1, 1, 7, 8, 9]]), attention_mask=torch.tensor([[0, 0, 1, 1, 1]])).logits[0]
    assert not padded.isnan().any() and torch.allclose(padded[2:], model(torch.tensor([[7, 8, 9]])).logits[0],
                                                        atol=1e-5)
    save_checkpoint(model, tmp_path / "twin")
    assert json.loads((tmp_path / "twin" / "config.json").read_text())["causal"] is True
    loaded = load_model(tmp_path / "twin", device="cpu", dtype="float32")
    assert loaded.model.config.causal and torch.equal(loaded.model(x).logits, model(x).logits)
    assert not tiny_model().config.causal  # LLaDA's own configs have no such field: bidirectional


def test_the_twins_kv_cache_gives_the_full_passes_logits():
    from llada_demo.model import KVCache

    model = tiny_model(seed=3, causal=True, n_kv_heads=2)
    x = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12]])
    full = model(x).logits
    cache = KVCache()
    parts = [model(x[:, :3], cache=cache).logits]  # the prompt, read once
    parts += [model(x[:, i : i + 1], cache=cache).logits for i in (3, 4)]  # one token per pass
    parts.append(model(x[:, 5:], cache=cache).logits)  # several after a cache
    assert cache.length == 8 and torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)
    with pytest.raises(ValueError, match="causal"):
        tiny_model().forward(x, cache=KVCache())


def test_block_cache_partial_passes_match_full_passes_where_they_should():
    from llada_demo.model import BlockCache

    x = torch.tensor([[5, 6, 7, 250, 250, 250, 250, 12, 13, 250]])
    for layers in (1, 2):
        model = tiny_model(seed=9, n_layers=layers)
        cache = BlockCache()
        assert torch.equal(model(x, cache=cache).logits, model(x).logits)  # the refresh is a plain full pass
        full = model(x).logits
        # nothing changed since the refresh: dual (the block only) and prefix (the block and after) are exact
        assert torch.allclose(model(x[:, 3:7], cache=cache, start=3).logits, full[:, 3:7], atol=1e-5)
        assert torch.allclose(model(x[:, 3:], cache=cache, start=3).logits, full[:, 3:], atol=1e-5)
        # the block's tokens change: with one layer, the others' keys and values do not depend on them
        y = x.clone()
        y[0, 4] = 40
        partial = model(y[:, 3:7], cache=cache, start=3).logits
        exact = torch.allclose(partial, model(y).logits[:, 3:7], atol=1e-5)
        assert exact == (layers == 1)  # deeper, the cached positions would have changed: approximate
    with pytest.raises(ValueError, match="outside the cached"):
        model(x[:, 8:], cache=cache, start=9)


def test_block_cache_respects_the_attention_mask():
    from llada_demo.model import BlockCache

    model = tiny_model(seed=9)
    batch = torch.tensor([[5, 6, 7, 8, 9, 10], [1, 1, 20, 21, 22, 23]])
    mask = torch.tensor([[1] * 6, [0, 0, 1, 1, 1, 1]])
    cache = BlockCache()
    model(batch, attention_mask=mask, cache=cache)
    partial = model(batch[:, 3:5], attention_mask=mask, cache=cache, start=3).logits
    alone = model(torch.tensor([[20, 21, 22, 23]])).logits
    assert torch.allclose(partial[1], alone[0, 1:3], atol=1e-5)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_error_no_config(tmp_path, tiny_dir):
    d = _copy(tiny_dir, tmp_path / "m")
    (d / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_model(d)


def test_error_other_architecture(tmp_path, tiny_dir):
    d = _copy(tiny_dir, tmp_path / "m")
    (d / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(ModelLoadError, match="holds a 'llama' model, not LLaDA"):
        load_model(d)


def test_error_missing_and_unexpected_weights_are_named(tmp_path, tiny_dir):
    d = _copy(tiny_dir, tmp_path / "m")
    state = load_file(str(d / "model.safetensors"))
    state.pop("model.transformer.blocks.1.up_proj.weight")
    state["model.transformer.blocks.1.extra.weight"] = torch.zeros(2)
    save_file(state, str(d / "model.safetensors"))
    with pytest.raises(ModelLoadError) as err:
        load_model(d)
    assert "missing weights: model.transformer.blocks.1.up_proj.weight" in str(err.value)
    assert "unexpected weights: model.transformer.blocks.1.extra.weight" in str(err.value)


def test_error_wrong_shape(tmp_path, tiny_dir):
    d = _copy(tiny_dir, tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    cfg["mlp_hidden_size"] = 48
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match=r"weight model.transformer.blocks.0.\w+.weight has shape"):
        load_model(d)


def test_error_missing_weights_file(tmp_path, tiny_dir):
    d = _copy(tiny_dir, tmp_path / "m")
    (d / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="no model.safetensors"):
        load_model(d)


def test_error_missing_shard(tmp_path, tiny_sharded_dir):
    d = _copy(tiny_sharded_dir, tmp_path / "m")
    (d / "model-00002-of-{:05d}.safetensors".format(len(list(d.glob("model-*"))))).unlink()
    with pytest.raises(ModelLoadError, match="shards listed in the index are missing: model-00002"):
        load_model(d)


def test_error_paths(tmp_path, tiny_dir):
    with pytest.raises(ModelLoadError, match="no directory"):
        load_model(str(tmp_path / "nowhere"))
    with pytest.raises(ModelLoadError, match="is a file"):
        load_model(tiny_dir / "config.json")


def test_error_hub_id_without_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what a machine without network sees, without waiting
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as err:
        load_model("GSAI-ML/LLaDA-8B-Instruct-not-cached")
    assert "needs network access" in str(err.value) and "local directory" in str(err.value)


def test_bundled_model_default_or_clear_message():
    if (BUNDLED_MODEL_DIR / "config.json").is_file():
        loaded = load_model()
        assert loaded.tokenizer is not None and loaded.name.startswith("bundled")
    else:
        with pytest.raises(ModelLoadError, match="bundled model is not in"):
            load_model()


def test_hub_download_fetches_only_needed_files(monkeypatch, tmp_path, tiny_dir):
    seen = {}

    def fake_snapshot_download(repo_id, allow_patterns):
        seen.update(repo_id=repo_id, patterns=allow_patterns)
        return str(tiny_dir)

    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    loaded = load_model("someone/tiny-llada", device="cpu")
    assert seen["repo_id"] == "someone/tiny-llada" and loaded.model(torch.tensor([[1, 2]])).logits.shape[-1] == 256
    assert "*.safetensors" in seen["patterns"] and "*.bin" not in seen["patterns"]
