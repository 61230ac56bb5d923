"""Shared fixtures: tiny random LLaDA checkpoints written in the official layout."""

import pytest
import torch

from llada_demo import load_model, save_checkpoint
from llada_demo.testing import serve, tiny_model

# Tiny test models gain nothing from threads, and spinning OpenMP threads slow them down by orders of
# magnitude when anything else (a training run, a second test) holds the other core.
torch.set_num_threads(1)


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
    from llada_demo.app.catalog import ModelCache

    return ModelCache()


@pytest.fixture(scope="session")
def loaded(cache):
    from llada_demo.app.catalog import bundled_choice

    return cache.get(bundled_choice())


@pytest.fixture(scope="session")
def served(cache):
    """The real Gradio server on the bundled model, as app.py serves it, on a free local port:
    (its address, the DemoApp behind it)."""
    from llada_demo.app import DemoApp
    from llada_demo.app.catalog import available_choices

    app = DemoApp(available_choices(), cache)
    url, demo = serve(app)
    yield url, app
    demo.close()


@pytest.fixture(scope="session")
def app_server(served):
    return served[0]
