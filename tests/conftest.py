"""Shared fixtures: tiny random LLaDA checkpoints written in the official layout."""

import socket

import pytest
import torch

from llada_demo import LLaDAConfig, LLaDAModelLM, load_model, save_checkpoint

# Tiny test models gain nothing from threads, and spinning OpenMP threads slow them down by orders of
# magnitude when anything else (a training run, a second test) holds the other core.
torch.set_num_threads(1)

# A tiny model with its own special ids (the official ones would need a 126k-row embedding).
TINY_IDS = dict(mask_id=250, eos_id=1, eot_id=2)


def tiny_config(**overrides) -> LLaDAConfig:
    base = dict(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, mlp_hidden_size=64, vocab_size=251,
                embedding_size=256, max_sequence_length=128, weight_tying=False, rope_theta=10000.0,
                mask_token_id=TINY_IDS["mask_id"], eos_token_id=TINY_IDS["eos_id"], pad_token_id=TINY_IDS["eos_id"])
    base.update(overrides)
    return LLaDAConfig(**base)


def tiny_model(seed=0, std=0.5, **overrides) -> LLaDAModelLM:
    # std 0.5 gives peaked, varied predictions, so sampler orderings are not decided by ties
    return LLaDAModelLM(tiny_config(**overrides)).init_weights(seed, std=std).eval().requires_grad_(False)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-single")
    save_checkpoint(tiny_model(), path)
    return path


@pytest.fixture(scope="session")
def tiny_sharded_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-sharded")
    save_checkpoint(tiny_model(seed=1, weight_tying=True, n_kv_heads=4), path, shard_size=40_000)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_dir):
    return load_model(tiny_dir, device="cpu")


@pytest.fixture
def prompt():
    return torch.tensor([[5, 17, 33, 8, 99, 12, 7]])


# ---- the bundled model and the app served on it ----------------------------------------------------
@pytest.fixture(scope="session")
def cache():
    from llada_demo.catalog import ModelCache

    return ModelCache()


@pytest.fixture(scope="session")
def loaded(cache):
    from llada_demo.catalog import bundled_choice

    return cache.get(bundled_choice())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(cache):
    """The real Gradio server on the bundled model, as app.py serves it, on a free local port."""
    from llada_demo.catalog import available_choices
    from llada_demo.ui import DemoApp, build_demo, launch_options

    demo = build_demo(DemoApp(available_choices(), cache))
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()
