"""The step record through the trajectory and the wire format: nothing changes meaning on the way."""

import json

import numpy as np
import pytest

from llada_demo import denoise
from llada_demo.prompts import prompt_ids
from llada_demo.trace import Trajectory
from llada_demo.trace.wire import Encoder, decode_run, dequantise, encode_run, quantise, run_document
from llada_demo.views import TokenText

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def bundled_run(loaded):
    d = denoise(loaded, [prompt_ids(loaded, "In the beginning")], steps=128, gen_length=128, block_length=32,
                temperature=0.7, remasking="random", seed=0)
    trajectory = Trajectory(d.canvas, d.settings, "bundled")
    for record in d:
        trajectory.add(record)
    return trajectory


def test_quantised_confidence_is_one_byte_a_position_and_no_prediction_is_its_own():
    c = np.array([0.0, 0.5, 1.0, np.nan, 0.123], np.float32)
    q = quantise(c)
    assert len(q) == 8  # base64 of 5 bytes
    back = dequantise(q)
    assert np.allclose(back, [0, 0.5, 1, np.nan, 0.123], atol=1 / 508, equal_nan=True)  # nan: no prediction
    assert np.allclose(dequantise(q, version=1)[:3], [0, 0.5 * 254 / 255, 254 / 255], atol=1 / 510)  # as v1 read it


def test_a_run_survives_the_round_trip(bundled_run, loaded):
    text = TokenText(loaded.tokenizer, loaded.mask_id)
    document = run_document(encode_run(bundled_run, text, stop_ids=(loaded.eos_id,), answer="x"))
    back, start, end = decode_run(json.dumps(document))
    assert end == {"type": "end", "state": "done", "answer": "x"}
    assert back.settings == bundled_run.settings and back.label == "bundled"
    for k in (0, 1, 37, 128):
        a, b = bundled_run.view(k), back.view(k)
        for field in ("tokens", "masked", "guesses", "committed_now", "commit_step"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), (k, field)
        assert np.allclose(a.confidence, b.confidence, atol=1 / 508, equal_nan=True)
    # every id the run names has its text, given once
    named = [int(i) for m in document["messages"] if "texts" in m for i in m["texts"]]
    assert len(named) == len(set(named))
    used = set(start["prompt"]) | {t for m in document["messages"] if m["type"] == "step"
                                   for t in m["tokens"] + m["guesses"]}
    assert used <= set(named)


def test_a_step_is_small_at_128_tokens(bundled_run, loaded):
    enc = Encoder(TokenText(loaded.tokenizer, loaded.mask_id))
    enc.start(bundled_run.canvas, bundled_run.settings)
    sizes = [len(json.dumps(enc.step(r), separators=(",", ":"))) for r in bundled_run.records]
    assert max(sizes) < 2000 and np.mean(sizes) < 1000, (max(sizes), np.mean(sizes))


def test_texts_go_as_plain_strings():
    enc = Encoder(lambda i: HOSTILE)
    from llada_demo import Canvas
    canvas = Canvas(np.array([1, 2]), np.array([9, 9]), 9, ((0, 2),), (1,))
    start = enc.start(canvas, None)
    assert start["texts"]["1"] == HOSTILE  # escaping is the drawer's job, not the data's


def test_other_files_are_refused():
    for bad, message in [({"format": "x"}, "not a llada-demo-run file"),
                         ({"format": "llada-demo-run", "version": 99}, "version 99"),
                         ({"format": "llada-demo-run", "version": 1, "messages": []}, "no start message")]:
        with pytest.raises(ValueError, match=message):
            decode_run(bad)
