"""The app on the bundled model: the tabs' handlers called directly, then the real server via gradio_client."""

import html
import inspect
import json
import math
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
import warnings

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client

from helpers import document, make_app, messages, messages_of, run, settings, tab
from llada_demo import generate
from llada_demo.app import plan_text
from llada_demo.app.catalog import ModelChoice, available_choices, bundled_choice, shipped_choices
from llada_demo.app.demo import EXAMPLES
from llada_demo.loading import BUNDLED_MODEL_DIR
from llada_demo.prompts import prompt_ids
from llada_demo.trace.wire import decode_run


@pytest.fixture(scope="module")
def app(cache):
    return make_app(cache)


def plan(gen_length, steps, block_length, **more):
    return plan_text(dict(gen_length=gen_length, steps=steps, block_length=block_length, **more))


def test_plan_text_says_what_runs_and_what_is_adjusted():
    assert plan(128, 128, 32) == ("Will run: 4 blocks of 32 tokens, 32 steps per block, 1 token per step, "
                                  "128 steps in all.")
    assert "Adjusted: gen_length 100 is not a multiple of block_length 32" in plan(100, 50, 32)
    assert plan(64, 100, 32).startswith("⚠️ steps (100) exceeds gen_length (64)")
    assert plan(64.5, 64, 32) == "⚠️ gen_length must be a whole number, got 64.5"
    assert "Infill" in plan(64, 64, 32, infill=True)


def test_a_run_streams_its_records_and_the_answer_only_at_the_end(app, loaded):
    outs = run(app, gen_length=24, steps=12, block_length=8)
    p = app.tabs.generate
    msgs = messages(app, outs)
    assert [m["type"] for m in msgs] == ["start"] + ["step"] * 12 + ["end"]
    assert [m["step"] for m in msgs[1:-1]] == list(range(1, 13))
    # the answer box is cleared at the start and filled only at the end
    assert outs[0][p.answer] == "" and all(p.answer not in o for o in outs[1:-1])
    trajectory, start, end = decode_run(document(msgs))
    ids = prompt_ids(loaded, "In the beginning")
    assert start["prompt"] == ids and start["settings"]["seed"] == 0
    expected = generate(loaded, torch.tensor([ids]), steps=12, gen_length=24, block_length=8, seed=0)[0, len(ids):]
    assert np.array_equal(trajectory.final_tokens(), expected.numpy())
    assert end["state"] == "done" and outs[-1][p.answer] == end["answer"] != ""
    assert app.sessions.of(None).trajectory.steps_done == 12


def test_a_run_that_stops_at_eos_ends_done_early_with_the_same_answer(app, loaded, monkeypatch):
    # the bundled model rarely ends a text within a short answer: make it sure of an EOS at answer position 5
    at = len(prompt_ids(loaded, "In the beginning")) + 5
    forward = type(loaded.model).forward

    def eos_at_5(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        out.logits[:, at, loaded.eos_id] += 100.0
        return out

    monkeypatch.setattr(type(loaded.model), "forward", eos_at_5)
    kw = dict(gen_length=32, steps=32, block_length=8, temperature=0.7, remasking="random", seed=3)
    full, early = messages(app, run(app, **kw)), messages(app, run(app, stop_at_eos=True, **kw))
    assert early[0]["settings"]["stop_at_eos"] is True
    assert early[-1]["state"] == full[-1]["state"] == "done" and early[-1]["answer"] == full[-1]["answer"]
    assert len(early) < len(full) == 1 + 32 + 1


def test_every_step_goes_out_when_the_model_is_slower_than_the_screen(app, loaded, monkeypatch):
    forward = type(loaded.model).forward

    def slow_forward(self, *args, **kwargs):
        time.sleep(0.04)  # slower than a screen refresh, like the 8B model on a GPU
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(loaded.model), "forward", slow_forward)
    outs = run(app, gen_length=16, steps=8, block_length=8)
    assert len(outs) == 1 + 8 + 1 and len(messages(app, outs)) == 1 + 8 + 1


def test_a_page_that_missed_messages_gets_them_again(app):
    msgs = messages(app, outs := run(app, gen_length=16, steps=8, block_length=8))
    run_id = outs[0][app.tabs.generate.live]["run"]
    assert json.loads(app.resend([run_id, 0, 3])) == msgs[:3]
    assert json.loads(app.resend([run_id, 5, 10])) == msgs[5:10]
    assert app.resend(["no such run", 0, 3]) is None and app.resend("junk") is None


def sse_events(url, into: list, headers=None):
    """Read a Server-Sent Events stream to its end, appending each event's data (parsed JSON) and id."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        event = {}
        for line in response:
            line = line.decode().rstrip("\n")
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and event:
                into.append(event)
                event = {}


def test_a_followed_run_streams_its_steps_on_the_page_stream_not_through_gradio(served):
    url, app = served
    gen = app.tabs.generate.run("In the beginning", settings())
    first = next(gen)[app.tabs.generate.live]
    run_id = first["run"]
    events = []
    reader = threading.Thread(target=sse_events, args=(f"{url}llada-demo/runs/{run_id}?from=1", events))
    reader.start()
    deadline = time.monotonic() + 30
    while not app.outboxes[run_id].followers and time.monotonic() < deadline:
        time.sleep(0.01)
    rest = [o[app.tabs.generate.live] for o in gen if app.tabs.generate.live in o]
    reader.join(60)
    log = app.outboxes[run_id].log
    # the stream carried every message after the start, in order, ids counting them
    streamed = [m for e in events for m in e["data"]["messages"]]
    assert [e["data"]["first"] for e in events] == [1] + [e["id"] for e in events[:-1]]
    assert streamed == log[1:] and [m["type"] for m in log] == ["start"] + ["step"] * 12 + ["end"]
    # Gradio's value carried the start, then only the end
    assert json.loads(first["messages"]) == log[:1]
    assert len(rest) == 1 and rest[0]["first"] == len(log) - 1 and json.loads(rest[0]["messages"]) == log[-1:]
    assert app.outboxes[run_id].followers == 0  # the stream ended with the run
    # a page that reconnects resumes where it was; a finished, fully read run or an unknown one: 204
    again = []
    sse_events(f"{url}llada-demo/runs/{run_id}?from=1", again, headers={"Last-Event-ID": "10"})
    assert again[0]["data"]["first"] == 10 and [m for e in again for m in e["data"]["messages"]] == log[10:]
    for path in (f"{run_id}?from={len(log)}", "nosuchrun?from=0"):
        with urllib.request.urlopen(f"{url}llada-demo/runs/{path}", timeout=30) as response:
            assert response.status == 204
    with pytest.raises(urllib.error.HTTPError, match="400"):
        urllib.request.urlopen(f"{url}llada-demo/runs/{run_id}?from=-3", timeout=30)
    app.close_session(None)  # the browser tests share this server and look for their own tab's session


def test_steps_faster_than_the_screen_go_together(app, monkeypatch):
    # a send interval well above a step's time on any machine (a step here takes 10-25 ms)
    from llada_demo.app import runs

    monkeypatch.setattr(runs, "SEND_INTERVAL", 0.2)
    outs = run(app, gen_length=64, steps=64, block_length=64)
    assert len(messages(app, outs)) == 1 + 64 + 1
    assert len(outs) < 1 + 64 + 1  # several steps per payload


@pytest.mark.parametrize("kwargs,message", [
    (dict(prompt="   "), "Type a prompt first"),
    (dict(prompt=42), "The prompt must be text, got int 42"),
    (dict(prompt="In the \ud800 beginning"), "The prompt holds U+D800, which is not a character"),
    (dict(gen_length=16, steps=40, block_length=16), r"steps (40) exceeds gen_length (16)"),
    (dict(gen_length=None), "gen_length must be a whole number, got None"),
    (dict(gen_length=3.7), "gen_length must be a whole number, got 3.7"),
    (dict(seed=3.5), "seed must be a whole number, got 3.5"),
    (dict(temperature=math.nan), "temperature must be a finite number, got nan"),
    (dict(temperature=math.inf), "temperature must be a finite number, got inf"),
    (dict(cfg_scale=math.nan), "cfg_scale must be a finite number, got nan"),
    (dict(temperature=-1), "temperature must be >= 0, got -1"),
    (dict(prompt="no placeholder here", infill=True), "put [MASK] where the model should write"),
    (dict(fixed="first: word"), "is not 'position: text'"),
    (dict(fixed="0: And God said, 1: unto"), "needs position 1, which an earlier entry already fixes"),
    (dict(prompt="In [MASK] beginning", infill=True, fixed="0: And"), "fixed tokens are not used in infill mode"),
])
def test_bad_input_gets_a_clear_message(app, kwargs, message):
    with pytest.raises(gr.Error) as err:
        run(app, **kwargs)
    assert html.escape(message, quote=False) in err.value.message  # for the page's toasts, which render HTML
    denoise = app.demo.api_functions["denoise"]
    if set(kwargs) <= set(inspect.signature(denoise).parameters) and None not in kwargs.values():  # (None: the
        # model's own setting, in the API)
        with pytest.raises(gr.Error) as err:  # the API says it as it is
            list(denoise(**{"prompt": "In the beginning", **kwargs}))
        assert message in err.value.message


def test_fixed_tokens_and_infill(app, loaded):
    outs = run(app, fixed="0: And, 3: God", gen_length=16, steps=8, block_length=16)
    final = app.sessions.of(None).trajectory.final_tokens()
    tok = loaded.tokenizer
    assert final[0] == tok("And", add_special_tokens=False)["input_ids"][0]
    assert final[3] == tok(" God", add_special_tokens=False)["input_ids"][0]
    assert messages(app, outs)[0]["settings"]["constraints"][0][0] == 0
    text = "And God said, [MASK][MASK][MASK] there be light"
    outs = run(app, prompt=text, infill=True, steps=3, block_length=3)
    trajectory = app.sessions.of(None).trajectory
    assert not (trajectory.final_tokens() == loaded.mask_id).any() and trajectory.steps_done == 3
    answer = outs[-1][app.tabs.generate.answer]
    assert answer.startswith("And God said,") and answer.endswith("there be light")


def test_stop_ends_the_run_and_keeps_what_was_computed(app):
    gen = app.tabs.generate.run("In the beginning", settings(gen_length=64, steps=64, block_length=64))
    outs = [next(gen)]
    session = app.sessions.of(None)
    while session.trajectory.steps_done < 5:
        outs.append(next(gen))
    stopper = threading.Thread(target=app.stop)  # from another thread, as the browser's Stop
    stopper.start()
    stopper.join(timeout=10)
    outs += list(gen)  # the run notices the flag before its next step and ends
    done = session.trajectory.steps_done
    msgs = messages(app, outs)
    assert 5 <= done < 64 and msgs[-1]["type"] == "end" and msgs[-1]["state"] == "stopped"
    assert sum(m["type"] == "step" for m in msgs) == done
    assert outs[-1][app.tabs.generate.answer].startswith("(stopped)")
    assert session.state == "stopped"
    app.stop()  # after the run: nothing to stop, nothing fails


def test_export_writes_the_run_and_a_standalone_replay(app, loaded):
    with pytest.raises(gr.Error, match="Run the model first"):
        make_app(app.cache).tabs.generate.export()
    run(app, prompt='<img src=x onerror="alert(1)">', gen_length=16, steps=8, block_length=8)
    update = app.tabs.generate.export()[app.tabs.generate.exports]
    json_path, html_path = update["value"]
    trajectory, start, end = decode_run(open(json_path, encoding="utf-8").read())
    assert np.array_equal(trajectory.final_tokens(), app.sessions.of(None).trajectory.final_tokens())
    assert end["state"] == "done" and start["settings"]["steps"] == 8
    page = open(html_path, encoding="utf-8").read()
    assert "<img src=x" not in page and "LladaView.standalone" in page and "https://" not in page.split("</title>")[0]


def test_chat_models_use_the_chat_template_and_keep_history(cache, loaded):
    chat = ModelChoice("chat test", str(BUNDLED_MODEL_DIR), chat=True, defaults=bundled_choice().defaults)
    app = make_app(cache, [chat])
    first = run(app, prompt="Who made the light?", gen_length=8, steps=4, block_length=8)
    history = first[-1][app.tabs.generate.chatbot]
    assert [m["role"] for m in history] == ["user", "assistant"] and history[0]["content"] == "Who made the light?"
    # the history as Gradio hands it back from the browser: contents are lists of parts
    chatbot = gr.Chatbot()
    history = chatbot.preprocess(chatbot.postprocess(history))
    assert isinstance(history[0]["content"], list)
    second = run(app, prompt="And then?", history=history, gen_length=8, steps=4, block_length=8)
    prompt_text = loaded.tokenizer.decode(messages(app, second)[0]["prompt"])
    assert prompt_text.count("<|start_header_id|>user<|end_header_id|>") == 2
    assert prompt_text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert len(second[-1][app.tabs.generate.chatbot]) == 4


def test_a_model_that_cannot_load_leaves_the_app_usable(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    bundled = bundled_choice()
    broken = ModelChoice("LLaDA-8B-Instruct", "GSAI-ML/LLaDA-8B-Instruct", chat=True, gpu_gb=17)
    app = make_app(cache, [bundled, broken])
    p = app.tabs.generate
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = app.tabs.generate.select_model("LLaDA-8B-Instruct", bundled.label)
    assert result[p.model] == bundled.label and result[app.current] == bundled.label
    assert result[p.chatbot]["visible"] is False
    assert any("Could not load LLaDA-8B-Instruct" in str(w.message) and "needs network access" in str(w.message)
               for w in caught)
    assert app.tabs.generate.select_model(bundled.label, bundled.label) == {}  # set back: the user's settings stay
    assert len(messages(app, run(app, gen_length=8, steps=2, block_length=8))) == 4


def test_the_allow_list_holds_only_what_the_hardware_can():
    labels = [c.label for c in available_choices()]
    assert labels[0] == bundled_choice().label
    if not torch.cuda.is_available():
        assert labels == [bundled_choice().label] + [c.label for c in shipped_choices()]


def test_the_shipped_models_are_offered_and_each_streams_a_run(cache):
    shipped = shipped_choices()
    assert [c.source.rsplit("/", 1)[-1] for c in shipped] == ["llada-kjv-ar", "llada-recite", "llada-recite-ar"]
    app = make_app(cache, [bundled_choice(), *shipped])
    for choice in shipped:
        msgs = messages(app, run(app, prompt=choice.examples[0] if choice.examples else "And God said",
                                 label=choice.label, gen_length=16, steps=16, block_length=16))
        assert msgs[-1]["state"] == "done" and sum(len(m["committed"]) for m in msgs[1:-1]) == 16
        if choice.examples:  # the recitation models come with their passages' first verses
            assert "The LORD is my shepherd; I shall not want." in choice.examples


def shown(app, out: dict) -> dict:
    """{field: value} a handler's answer sets the Generate tab's settings panel to."""
    value = lambda v: v["value"] if isinstance(v, dict) else v  # noqa: E731 (gr.update or a value)
    return {f: value(out[c]) for f, c in app.tabs.generate.panel.controls.items() if c in out}


def test_a_shipped_model_brings_its_settings_and_example_prompts(cache, tmp_path):
    recite = tmp_path / "assets" / "llada-recite"
    shutil.copytree(BUNDLED_MODEL_DIR, recite)  # the bundled weights, with what train.py --recite writes
    generation = json.loads((recite / "generation_config.json").read_text())
    generation["demo_defaults"] |= dict(temperature=0.0, decoding="threshold", threshold=0.8, stop_at_eos=True)
    generation["demo_examples"] = ["The LORD is my shepherd; I shall not want."]
    (recite / "generation_config.json").write_text(json.dumps(generation))
    shutil.copytree(BUNDLED_MODEL_DIR.parent / "llada-kjv-ar", tmp_path / "assets" / "llada-recite-ar")
    choice, twin = shipped_choices(tmp_path / "assets")
    assert choice.label.startswith("Recitation") and choice.examples == tuple(generation["demo_examples"])
    bundled = bundled_choice()
    app = make_app(cache, [bundled, choice, twin])
    assert app.twin_of(choice) == twin and app.twin_of(bundled) is None  # a twin is its model's directory + -ar
    assert app.examples == EXAMPLES and choice.examples[0] in app.example_prompts  # its runs are cached too
    picked = shown(app, app.tabs.generate.select_model(choice.label, bundled.label))
    assert (picked["decoding"], picked["threshold"], picked["stop_at_eos"], picked["temperature"]) == (
        "threshold", 0.8, True, 0.0)
    back = shown(app, app.tabs.generate.select_model(bundled.label, choice.label))
    assert (back["decoding"], back["stop_at_eos"]) == ("fixed", False)
    examples = [b for b in app.demo.blocks.values() if isinstance(b, gr.Dataset)]
    assert [len(d.samples) for d in examples] == [len(EXAMPLES), 1]
    assert examples[1].samples[0] == [choice.examples[0], choice.label]  # a click also picks the model


def test_a_shipped_autoregressive_twin_is_offered_and_writes_left_to_right(cache, tmp_path):
    from llada_demo.train import TrainConfig, train

    text = tmp_path / "text.txt"
    text.write_text("And God said, Let there be light: and there was light.\n" * 200, encoding="utf-8")
    assets = tmp_path / "assets"
    train(TrainConfig(out=str(assets / "llada-kjv-ar"), text=(str(text),), steps=3, vocab_size=300, d_model=32,
                      n_layers=2, n_heads=4, mlp_hidden_size=64, seq_len=64, batch_size=4, eval_every=10,
                      eval_windows=2, threads=1, final_eval=False, causal=True, save_dtype="float32",
                      tokenizer=str(BUNDLED_MODEL_DIR)))  # a twin reads the bundled model's tokens
    (twin,) = shipped_choices(assets)
    assert twin.label.startswith("Twin: ") and shipped_choices(tmp_path / "nothing") == []
    app = make_app(cache, choices=[bundled_choice(), twin])
    msgs = messages(app, run(app, prompt="And God said", label=twin.label, gen_length=12, steps=4, block_length=4))
    assert "one token per step, left to right" in msgs[0]["notes"][0]
    assert [m["committed"] for m in msgs[1:-1]] == [[i] for i in range(12)] and msgs[-1]["state"] == "done"
    # Compare offers it next to the diffusion model, with the same settings
    from llada_demo.app.tabs.compare import TWIN_PRESET

    assert app.tabs.compare.presets()[-1] == TWIN_PRESET
    assert TWIN_PRESET not in make_app(cache, [bundled_choice()]).tabs.compare.presets()
    outs = list(app.tabs.compare.run("And God said", TWIN_PRESET, settings(gen_length=12, steps=6, block_length=12)))
    a, b = messages_of(outs, app.tabs.compare.view_a), messages_of(outs, app.tabs.compare.view_b)
    assert (a[0]["label"], b[0]["label"]) == (bundled_choice().label, twin.label)
    assert len(a) == 1 + 6 + 1 and len(b) == 1 + 12 + 1  # the twin: one pass per token
    assert "B (twin): 12 forward passes" in outs[-1][app.tabs.compare.summary]
    # the Likelihood tab: the twin's exact numbers beside the bound, and both cards' held-out perplexities
    from llada_demo.evaluate import evaluate_dir

    view = list(app.tabs.likelihood.score("And God said", " Let there be light.\n unto Moses.", 32, 0.0, 0))[-1][
        app.tabs.likelihood.view]
    assert view["twin"] == twin.label and len(view["exact"]) == 2 and view["cards"] is None  # no twin card yet
    evaluate_dir(assets / "llada-kjv-ar", text_files=[text], windows=2, draws=1, threads=1)
    view = list(app.tabs.likelihood.score("And God said", " Let there be light.", 32, 0.0, 0))[-1][app.tabs.likelihood.view]
    assert "at most 42.5" in view["cards"] and "(exact)" in view["cards"] and " wins here" in view["cards"]
    # what only a diffusion model can do is refused for the twin, with the reason
    with pytest.raises(gr.Error, match="is autoregressive: the forward process is a diffusion model's training"):
        app.tabs.forward.mask("And God said", 0.5, 0, twin.label)
    with pytest.raises(gr.Error, match="is autoregressive: choose a diffusion model"):
        list(app.tabs.likelihood.score("And God said", " light", 32, 0.0, 0, twin.label))


def test_example_runs_are_cached_lazily(cache, loaded, monkeypatch):
    app = make_app(cache, examples=("In the beginning",))
    first = run(app, prompt="In the beginning", gen_length=16, steps=8, block_length=8, seed=3)
    assert len(app.tabs.generate.example_runs) == 1
    calls = []
    forward = type(loaded.model).forward
    monkeypatch.setattr(type(loaded.model), "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    again = run(app, prompt="In the beginning", gen_length=16, steps=8, block_length=8, seed=3.0)  # same settings
    assert calls == []  # streamed from memory
    strip = lambda ms: [{k: v for k, v in m.items() if k != "elapsed"} for m in ms]
    assert strip(messages(app, again)) == strip(messages(app, first))
    run(app, prompt="In the beginning", gen_length=16, steps=8, block_length=8, seed=4)  # other settings: computed
    assert calls and len(app.tabs.generate.example_runs) == 2
    run(app, prompt="Not an example", gen_length=16, steps=8, block_length=8, seed=3)
    assert len(app.tabs.generate.example_runs) == 2


def test_typed_special_tokens_stay_text(loaded):
    typed = "a <|mdm_mask|> b <|eot_id|><|start_header_id|>assistant<|end_header_id|>"
    for chat in (False, True):
        ids = prompt_ids(loaded, typed, chat=chat)
        assert loaded.mask_id not in ids
        header = loaded.tokenizer.convert_tokens_to_ids("<|start_header_id|>")
        assert ids.count(header) == (2 if chat else 0)  # only the template's own: user, assistant


# ---- the real server ------------------------------------------------------------------------------
def test_api_denoise_streams_one_json_frame_per_step(app_server, loaded):
    client = Client(app_server, verbose=False)
    job = client.submit(prompt="In the beginning", gen_length=24, steps=12, block_length=8, temperature=0.0,
                        cfg_scale=0.0, remasking="low_confidence", seed=0, api_name="/denoise")
    frames = list(job)
    assert len(frames) == 12 and [f["step"] for f in frames] == list(range(1, 13))
    assert set(frames[0]) >= {"step", "steps", "block", "tokens", "masked", "confidence", "committed", "text"}
    assert [f["forward_passes"] for f in frames] == list(range(1, 13))
    assert all(len(f["tokens"]) == 24 and len(f["masked"]) == 24 and len(f["confidence"]) == 24 for f in frames)
    assert sum(len(f["committed"]) for f in frames) == 24 and not any(frames[-1]["masked"])
    ids = prompt_ids(loaded, "In the beginning")
    out = generate(loaded, torch.tensor([ids]), steps=12, gen_length=24, block_length=8, seed=0)[0, len(ids):]
    stop = {loaded.eos_id, loaded.eot_id}
    n = next((i for i, t in enumerate(out.tolist()) if t in stop), len(out))
    assert frames[-1]["text"] == loaded.tokenizer.decode(out[:n].tolist(), skip_special_tokens=True).strip()


def test_api_run_streams_the_wire_format(app_server):
    client = Client(app_server, verbose=False)
    msgs = list(client.submit(prompt="In the beginning", gen_length=128, steps=128, block_length=32, temperature=0.7,
                              remasking="random", seed=1, api_name="/run"))
    assert [m["type"] for m in msgs] == ["start"] + ["step"] * 128 + ["end"]
    trajectory, _, end = decode_run(document(msgs))
    assert trajectory.finished and end["state"] == "done"
    assert max(len(json.dumps(m, separators=(",", ":"))) for m in msgs[1:-1]) < 2000


def test_a_threshold_run_commits_as_many_as_the_model_is_sure_of(app, app_server):
    # in the handler
    msgs = messages(app, run(app, gen_length=32, steps=32, block_length=32, decoding="threshold", threshold=0.3))
    steps = [m for m in msgs if m["type"] == "step"]
    per_step = [len(m["committed"]) for m in steps]
    assert sum(per_step) == 32 and len(set(per_step)) > 1 and len(steps) < 32
    assert msgs[-1]["state"] == "done" and "no masks left" in msgs[0]["notes"][0]
    assert [m["forward_passes"] for m in steps] == list(range(1, len(steps) + 1))
    # and through the real server
    client = Client(app_server, verbose=False)
    api = list(client.submit(prompt="In the beginning", gen_length=32, steps=32, block_length=32, decoding="threshold",
                             threshold=0.3, temperature=0.0, remasking="low_confidence", seed=0, api_name="/run"))
    assert [len(m["committed"]) for m in api if m["type"] == "step"] == per_step
    with pytest.raises(Exception, match="unknown decoding rule"):
        client.predict(prompt="In the beginning", decoding="fast", api_name="/run")
    cached = list(client.submit(prompt="In the beginning", gen_length=32, steps=32, block_length=16, cache="dual",
                                api_name="/run"))
    assert cached[0]["settings"]["cache"] == "dual" and cached[-1]["state"] == "done"


def test_api_rejects_bad_settings_with_a_plain_message(app_server):
    client = Client(app_server, verbose=False)
    with pytest.raises(Exception, match=r"steps \(99\) exceeds gen_length \(16\)"):
        client.predict(prompt="In the beginning", gen_length=16, steps=99, block_length=16, api_name="/denoise")
    with pytest.raises(Exception) as err:
        client.predict(prompt="In the beginning", temperature=-1, api_name="/denoise")
    assert "temperature must be >= 0" in str(err.value) and "&gt;" not in str(err.value)
    with pytest.raises(Exception, match="The prompt must be text"):
        client.predict(prompt=5, api_name="/denoise")



def test_api_says_what_is_wrong_with_a_lone_surrogate(app_server):
    # a JSON text may hold "\ud800"; gradio_client cannot send it, so this goes over plain HTTP
    import httpx
    body = '{"data": ["In the \\ud800 beginning", 16, 8, 8, 0.0, 0.0, "low_confidence", 0]}'
    with httpx.Client(base_url=app_server, timeout=30) as http:
        event = http.post("gradio_api/call/denoise", content=body, headers={"content-type": "application/json"})
        stream = http.get(f"gradio_api/call/denoise/{event.json()['event_id']}").text
    assert "event: error" in stream and "The prompt holds U+D800, which is not a character" in stream, stream


@pytest.mark.parametrize("args,message", [
    (["--port", "99999"], "--port must be from 1 to 65535, got 99999"),
    (["--host", "203.0.113.7"], "cannot listen on 203.0.113.7:"),  # an address this machine does not have
    (["--threads", "0"], "--threads must be 1 or more, got 0"),
])
def test_bad_command_line_arguments_fail_before_the_model_loads(args, message):
    import subprocess
    import sys
    from pathlib import Path

    app_py = Path(__file__).resolve().parent.parent / "app.py"
    done = subprocess.run([sys.executable, str(app_py), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_the_model_leaves_one_core_to_the_browser_unless_told(monkeypatch):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("app_main", Path(__file__).resolve().parent.parent / "app.py")
    app_main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app_main)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(app_main.os, "cpu_count", lambda: 8)
    assert app_main.cpu_threads(None) == 7 and app_main.cpu_threads(3) == 3
    monkeypatch.setattr(app_main.os, "cpu_count", lambda: 1)
    assert app_main.cpu_threads(None) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert app_main.cpu_threads(None) == 2


def test_the_forward_process_masks_more_as_t_rises_and_reconstructs_in_one_pass(app, loaded):
    text = "In the beginning God created the heaven and the earth."
    views = [app.tabs.forward.mask(text, t, 0)[app.tabs.forward.view] for t in (0.0, 0.3, 0.7, 1.0)]
    masked = [sum(v["masked"]) for v in views]
    assert masked[0] == 0 and masked[-1] == len(views[0]["tokens"]) and masked == sorted(masked)
    for before, after in zip(views, views[1:]):  # raising t only adds masks
        assert all(a or not b for b, a in zip(before["masked"], after["masked"]))
    v = views[1]
    assert "".join(v["tokens"]) == text and len(v["curve"]) == 20
    assert all(0 <= p <= 1 for p in v["confidence"] + v["true_probability"])
    assert v["curve"][-1]["masked"] == len(v["tokens"]) and v["curve"][-1]["accuracy"] is not None
    for bad, message in [("", "Type a text first"), ("x" * 2000, "this model reads at most")]:
        with pytest.raises(gr.Error, match=message):
            app.tabs.forward.mask(bad, 0.5, 0)
    with pytest.raises(gr.Error, match="t is a probability"):
        app.tabs.forward.mask(text, 1.5, 0)
    with pytest.raises(gr.Error, match=r"seed must be a whole number from 0 to 2\*\*63 - 1, got -1"):
        app.tabs.forward.mask(text, 0.5, -1)


def test_the_likelihood_tab_streams_estimates_and_ranks_the_verse_first(app):
    outs = list(app.tabs.likelihood.score("In the beginning God created the heaven and",
                                          " the earth.\n the sea.\n a great city.", 64, 0.0, 0))
    views = [o[app.tabs.likelihood.view] for o in outs]
    assert [v["samples"] for v in views] == [16, 32, 48, 64] and views[-1]["done"] and not views[0]["done"]
    last = views[-1]
    assert all(e < 0 for e in last["estimates"]) and all(e > 0 for e in last["errors"])
    assert last["estimates"][0] > last["estimates"][1] > last["estimates"][2]  # Genesis 1:1 is the KJV's own
    assert len(last["exact"]) == 3  # the shipped twin's exact numbers beside the bound
    for args, message in [(("", " x", 32, 0, 0), "Type a prompt and at least one candidate"),
                          (("A", "\n".join("abcdefghi"), 32, 0, 0), "At most 8 candidates"),
                          (("A", " b", 1, 0, 0), "Monte Carlo samples must be at least 2"),
                          (("A", " b", 32, float("nan"), 0), "CFG scale must be a finite number")]:
        with pytest.raises(gr.Error, match=message):
            list(app.tabs.likelihood.score(*args))


def test_the_likelihood_tab_draws_both_kinds_training_curves_and_compares_them_at_their_best(app):
    from llada_demo.card import RERUN, learning_curve

    tab = app.tabs.likelihood
    v = tab.learning_curves(None)[tab.curves]
    # the bundled model, its recipe run again with the loss logged, its twin as shipped, the twin trained on
    diffusion, rerun, kept, longer = v["runs"]
    assert [r["kind"] for r in v["runs"]] == ["diffusion", "diffusion", "autoregressive", "autoregressive"]
    assert rerun == dict(label=app.default.label + ", its recipe run again (loss logged)",
                         **learning_curve(BUNDLED_MODEL_DIR / RERUN))
    assert all(p["loss"] is None for p in diffusion["points"])  # the bundled run logged accuracy only
    assert all(p["loss"] is not None for p in rerun["points"]) and len(rerun["points"]) > 10
    assert rerun["points"][-1]["epochs"] == pytest.approx(diffusion["final"]["epochs"], abs=0.1)  # as long
    assert "recipe run again with the bound logged" in v["note"] and "accuracy only" not in v["note"]
    info = json.loads((BUNDLED_MODEL_DIR.parent / "llada-kjv-ar" / "training_info.json").read_text())
    assert kept["kept_epochs"] == info["kept"]["epochs"] == kept["final"]["epochs"]  # it ships its best
    assert min(p["loss"] for p in kept["points"]) == info["kept"]["loss"]
    assert longer["final"]["epochs"] > 3 * kept["final"]["epochs"] and longer["final"]["ppl"] > kept["final"]["ppl"]
    assert diffusion == dict(label=app.default.label, **learning_curve(BUNDLED_MODEL_DIR))
    # what the note says follows from the numbers, whichever wins
    d, t = diffusion["final"]["ppl"], kept["final"]["ppl"]
    assert v["note"].startswith("Each at its best, the " + ("twin" if t <= d else "diffusion model") + " wins")
    assert f"{d:.1f}" in v["note"] and f"{t:.1f}" in v["note"] and f"{longer['final']['ppl']:.1f}" in v["note"]
    card = (BUNDLED_MODEL_DIR.parent / "llada-kjv-ar" / "README.md").read_text()  # the twin's card tells both runs
    assert f"| {t:.1f} |" in card and "without early stopping" in card and f"| {longer['final']['ppl']:.1f} |" in card
    card = (BUNDLED_MODEL_DIR / "README.md").read_text()  # the bundled model's card tells its rerun
    assert "run again with the bound logged at each evaluation (6665 steps" in card
    assert f"| {rerun['final']['ppl']:.1f} |" in card
    twin = app.twin_of(app.default)
    alone = tab.learning_curves(twin.label)[tab.curves]  # the twin chosen: its own curve, and what to do
    assert [r["kind"] for r in alone["runs"]] == ["autoregressive"] and "Choose a diffusion model" in alone["note"]


def test_the_curves_of_a_diffusion_model_whose_log_has_accuracy_only_say_so(cache, tmp_path):
    from llada_demo.card import RERUN

    # the bundled model as it shipped before its recipe's rerun, beside a twin: no loss logged, none rerun
    shutil.copytree(BUNDLED_MODEL_DIR, tmp_path / "assets" / "llada-recite", ignore=shutil.ignore_patterns(RERUN))
    shutil.copytree(BUNDLED_MODEL_DIR.parent / "llada-kjv-ar", tmp_path / "assets" / "llada-recite-ar")
    choice, twin = shipped_choices(tmp_path / "assets")
    app = make_app(cache, [bundled_choice(), choice, twin])
    tab = app.tabs.likelihood
    v = tab.learning_curves(choice.label)[tab.curves]
    assert [r["kind"] for r in v["runs"]] == ["diffusion", "autoregressive", "autoregressive"]
    assert v["note"].startswith("Each at its best") and "run again" not in v["note"]
    assert v["note"].endswith("Its training logged accuracy only: its loss is one point, the star of its final "
                              "evaluation.")


def test_the_forward_tab_takes_an_example_or_the_last_answer(cache):
    app = make_app(cache, [bundled_choice()])  # a session of its own: no answer yet
    f = app.tabs.forward
    assert f.use_example("The LORD is my shepherd; I shall not want.", "typed") == {
        f.text: "The LORD is my shepherd; I shall not want."}
    assert f.use_example(None, "typed") == {f.text: "typed"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # nothing generated in this session yet: a warning, and the text stays (it was replaced by {})
        assert f.last_answer("what I typed") == {f.text: "what I typed"}
    assert any("Generate an answer first" in str(w.message) for w in caught)
    outs = run(app, gen_length=8, steps=8, block_length=8)
    answer = outs[-1][app.tabs.generate.answer]
    assert answer and f.last_answer("what I typed") == {f.text: answer}


def test_compare_runs_a_and_b_together_and_says_where_they_differ(app):
    p = app.tabs.compare
    outs = list(p.run("In the beginning", "LLaDA's order vs left to right (B: blocks of 1 token)",
                      settings(gen_length=16, steps=8, block_length=8)))
    a = messages_of(outs, p.view_a)
    b = messages_of(outs, p.view_b)
    assert a[0]["settings"]["block_length"] == 8 and b[0]["settings"]["block_length"] == 1
    assert [m["type"] for m in a] == ["start"] + ["step"] * 8 + ["end"]
    assert [m["type"] for m in b] == ["start"] + ["step"] * 16 + ["end"]  # left to right: one step per token
    assert all(len(m["committed"]) == 1 and m["committed"][0] == i for i, m in enumerate(b[1:-1]))
    last = outs[-1]
    assert last[p.answer_a] == a[-1]["answer"] and last[p.answer_b] == b[-1]["answer"]
    assert re.search(r"A \(bundled\): 8 forward passes \(2\.00 tokens per pass, [\d.]+ s\) · "
                     r"B \(bundled\): 16 forward passes \(1\.00 tokens per pass", last[p.summary])
    with pytest.raises(gr.Error, match="not a preset"):
        list(p.run("x", "no such preset", settings(gen_length=16, steps=8, block_length=8)))
    # B with its own settings: answer 24 in blocks of 24, 6 steps, random remasking at temperature 1
    from llada_demo.app.tabs.compare import CUSTOM_PRESET

    outs = list(p.run("In the beginning", CUSTOM_PRESET, settings(gen_length=16, steps=8, block_length=8),
                      dict(gen_length=24, steps=6, block_length=24, temperature=1.0, remasking="random",
                           decoding="fixed", threshold=0.9)))
    a, b = messages_of(outs, p.view_a), messages_of(outs, p.view_b)
    assert a[0]["settings"]["gen_length"] == 16 and a[0]["settings"]["remasking"] == "low_confidence"
    assert {k: b[0]["settings"][k] for k in ("gen_length", "steps", "block_length", "temperature", "remasking")} == (
        dict(gen_length=24, steps=6, block_length=24, temperature=1.0, remasking="random"))
    assert len(b) == 1 + 6 + 1 and CUSTOM_PRESET in p.presets()


@pytest.mark.skipif(shutil.which("bible") is None and not os.environ.get("CI"), reason="Debian's bible-kjv is absent")
def test_reversal_writes_b_after_a_and_fills_a_before_b(app, loaded):
    p = app.tabs.reversal
    pairs = p.pairs()
    assert len(pairs) == 46
    outs = list(p.run("Psalms 23:1 / 23:2", app.default.label))
    f, b = messages_of(outs, p.forward), messages_of(outs, p.backward)
    a_text, b_text = pairs["Psalms 23:1 / 23:2"]
    n_a, n_b = (len(loaded.tokenizer.encode(t, add_special_tokens=False)) for t in (a_text, b_text))
    # the diffusion model writes on a canvas as long as its training rows, until its first end-of-text
    assert f[0]["settings"]["gen_length"] == 256 - (n_a + 2) and f[0]["settings"]["stop_at_eos"] is True
    assert b[0]["settings"]["infill"] is True and len(b[0]["initial"]) == 256  # B, then end-of-text padding
    assert 0 < len([m for m in f if m["type"] == "step"]) <= 256 - (n_a + 2)
    assert len([m for m in b if m["type"] == "step"]) == n_a
    # its twin: B after A, and A when asked for the verse before B, one token per step
    tf, tr = messages_of(outs, p.twin_forward), messages_of(outs, p.twin_backward)
    assert tf[0]["label"] == tr[0]["label"] == app.twin_of(app.default).label
    asked = loaded.tokenizer.decode(tr[0]["prompt"], skip_special_tokens=True)
    assert asked == "The verse before: " + b_text + "\n"
    assert len([m for m in tf if m["type"] == "step"]) == n_b and len([m for m in tr if m["type"] == "step"]) == n_a
    summary = outs[-1][p.summary]
    assert "Forward (A, write B)" in summary and "| assets/llada-kjv | diffusion | 46 | 0% | 0% |" in summary
    assert "Twin: forward **" in summary and outs[-1][p.twin_answer_f] != ""
    with pytest.raises(gr.Error, match="not one of the verse pairs"):
        list(p.run("Psalms 99:1 / 99:2", app.default.label))


def test_a_model_that_cannot_load_gives_a_message_not_a_traceback(cache, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    choice = ModelChoice("Broken <b>model</b>", str(broken), chat=False, defaults=bundled_choice().defaults)
    app = make_app(cache, choices=[bundled_choice(), choice])
    with pytest.raises(gr.Error, match="Could not load Broken &lt;b&gt;model&lt;/b&gt;"):
        run(app, label=choice.label)
