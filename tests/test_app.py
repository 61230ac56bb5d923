"""The app on the bundled model: event handlers called directly, then the real server via gradio_client."""

import re
import threading
import time
import warnings

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client

from llada_demo import generate, render
from llada_demo.catalog import ModelChoice, available_choices, bundled_choice
from llada_demo.loading import BUNDLED_MODEL_DIR
from llada_demo.ui import HEATMAP_INTERVAL, DemoApp, plan_text

OUT = dict(grid=0, heatmap=1, status=2, answer=3, chatbot=4, order=5, per_step=6, replay=7, trajectory=8)


def skipped(value):
    return value == gr.skip()  # {"__type__": "update"}: leave the component as it is


@pytest.fixture(scope="module")
def app(cache):
    return DemoApp(available_choices(), cache)


def run(app, prompt="In the beginning", history=(), label=None, gen_length=24, steps=12, block_length=8,
        temperature=0.0, cfg_scale=0.0, remasking="low_confidence", seed=0, fixed="", infill=False, guesses=True):
    return list(app.generate_run(prompt, list(history), label or app.default.label, gen_length, steps, block_length,
                                 temperature, cfg_scale, remasking, seed, fixed, infill, guesses))


def test_plan_text_says_what_runs_and_what_is_adjusted():
    assert plan_text(128, 128, 32) == ("Will run: 4 blocks of 32 tokens, 32 steps per block, 1 token per step, "
                                       "128 steps in all.")
    assert "Adjusted: gen_length 100 is not a multiple of block_length 32" in plan_text(100, 50, 32)
    assert plan_text(64, 100, 32).startswith("⚠️ steps (100) exceeds gen_length (64)")
    assert "Infill" in plan_text(64, 64, 32, infill=True)


def test_a_run_streams_its_steps_and_the_answer_only_at_the_end(app, loaded):
    outs = run(app, gen_length=24, steps=12, block_length=8)
    trajectory = outs[-1][OUT["trajectory"]]
    assert trajectory.steps_done == 12 and outs[0][OUT["trajectory"]] is trajectory
    # the answer box is empty at the start and untouched while the model computes
    assert outs[0][OUT["answer"]] == "" and all(skipped(o[OUT["answer"]]) for o in outs[1:-1])
    ids = list(trajectory.prompt_tokens)
    expected = generate(loaded, torch.tensor([ids]), steps=12, gen_length=24, block_length=8, seed=0)[0, len(ids):]
    assert np.array_equal(trajectory.final_tokens(), expected.numpy())
    assert outs[-1][OUT["answer"]] == app.answer_text(app.default.label, trajectory)
    # live: the status counts up to the last step, every drawn grid differs from the one before, and each
    # answer cell is highlighted as new in exactly one of them (even when fast steps are drawn together)
    steps = [int(re.search(r"step (\d+)/12", o[OUT["status"]]).group(1)) for o in outs[1:-1]]
    assert steps == sorted(set(steps)) and steps[-1] == 12
    grids = [o[OUT["grid"]] for o in outs[:-1]]
    assert all(a != b for a, b in zip(grids, grids[1:]))
    new_cells = lambda g: g.count(' ld-new"') - 1  # the legend has one too
    assert sum(new_cells(g) for g in grids[1:]) == 24
    assert "done · step 12/12 · block 3/3 · 12 forward passes" in outs[-1][OUT["status"]]


def test_every_step_is_drawn_when_the_model_is_slower_than_the_screen(app, loaded, monkeypatch):
    forward = type(loaded.model).forward

    def slow_forward(self, *args, **kwargs):
        time.sleep(0.04)  # slower than GRID_INTERVAL, like the 8B model on a GPU
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(loaded.model), "forward", slow_forward)
    outs = run(app, gen_length=16, steps=8, block_length=8)
    assert len(outs) == 1 + 8 + 1


def test_heatmap_updates_are_throttled(app):
    outs = run(app, gen_length=64, steps=64, block_length=64)
    sent = [o[OUT["heatmap"]] for o in outs[1:-1] if not skipped(o[OUT["heatmap"]])]
    elapsed = outs[-1][OUT["trajectory"]].elapsed
    assert 1 <= len(sent) <= elapsed / HEATMAP_INTERVAL + 2
    final = outs[-1][OUT["heatmap"]]
    assert final.data[0].z.dtype == np.uint8 and final.data[0].z.shape == (64, 64)


def test_heatmap_is_sent_compactly(app):
    trajectory = run(app, gen_length=128, steps=128, block_length=128)[-1][OUT["trajectory"]]
    from llada_demo.render import heatmap_figure
    size = len(heatmap_figure(trajectory).to_json())
    assert size < 60_000, size  # float64 lists would be ~450 KB at this size


def test_html_in_prompt_is_escaped(app):
    outs = run(app, prompt='<img src=x onerror="alert(1)"> <b>bold</b>', gen_length=8, steps=4, block_length=8)
    grid = outs[-1][OUT["grid"]]
    assert "<img" not in grid and "<b>" not in grid and "&lt;" in grid


def test_bad_input_gets_a_clear_message(app):
    with pytest.raises(gr.Error, match="Type a prompt first"):
        run(app, prompt="   ")
    with pytest.raises(gr.Error, match=r"steps \(40\) exceeds gen_length \(16\)"):
        run(app, gen_length=16, steps=40, block_length=16)
    with pytest.raises(gr.Error, match=r"put \[MASK\] where the model should write"):
        run(app, prompt="no placeholder here", infill=True)
    with pytest.raises(gr.Error, match="is not 'position: text'"):
        run(app, fixed="first: word")


def test_fixed_tokens_and_infill(app, loaded):
    outs = run(app, fixed="0: And, 3: God", gen_length=16, steps=8, block_length=16)
    final = outs[-1][OUT["trajectory"]].final_tokens()
    tok = loaded.tokenizer
    assert final[0] == tok("And", add_special_tokens=False)["input_ids"][0]
    assert final[3] == tok(" God", add_special_tokens=False)["input_ids"][0]
    text = "And God said, [MASK][MASK][MASK] there be light"
    outs = run(app, prompt=text, infill=True, steps=3, block_length=3)
    trajectory = outs[-1][OUT["trajectory"]]
    assert not (trajectory.final_tokens() == loaded.mask_id).any() and trajectory.steps_done == 3
    assert outs[-1][OUT["answer"]].startswith("And God said,") and outs[-1][OUT["answer"]].endswith("there be light")


def test_replay_shows_any_step_without_recomputation(app, loaded, monkeypatch):
    outs = run(app, gen_length=16, steps=8, block_length=8)
    trajectory = outs[-1][OUT["trajectory"]]
    calls = []
    monkeypatch.setattr(type(loaded.model), "forward", lambda *a, **k: calls.append(1))
    text = app.text_of(app.default.label, loaded)
    live_step3 = render.grid_html(trajectory.view(3), text, trajectory.prompt_tokens, True)
    replay3 = app.replay_view(app.default.label, trajectory, 3, True)
    assert replay3.replace('<div class="ld-caption">replay · step 3/8</div>', "") == live_step3
    assert replay3.count(' ld-new"') - 1 == 2  # 16 tokens in 8 steps; the legend has one more
    assert app.replay_view(app.default.label, trajectory, 0, True).count("ld-mask") > 16
    played = list(app.play(app.default.label, trajectory, 8, 200, True))
    assert len(played) == 9 and played[-1][1]["value"] == 8
    assert calls == []


def test_stop_keeps_what_was_computed(app):
    gen = app.generate_run("In the beginning", [], app.default.label, 64, 64, 64, 0.0, 0.0, "low_confidence", 0, "",
                           False, True)
    trajectory = next(gen)[OUT["trajectory"]]
    while trajectory.steps_done < 5:
        next(gen)
    # Stop from another thread while the run goes on, as the browser's Stop does
    stopper = threading.Thread(target=lambda: results.append(app.stop_run(app.default.label, [], "In the beginning",
                                                                        True)))
    results = []
    stopper.start()
    assert app.sessions[None].run.stop.wait(timeout=10)  # Stop was pressed ...
    rest = list(gen)  # the run notices the flag before its next step and ends without more views
    stopper.join(timeout=10)
    done = trajectory.steps_done
    assert 5 <= done < 64 and len(rest) <= 1
    after = results[0]
    assert after[OUT["status"]].startswith(f"stopped · step {done}/64")
    assert after[OUT["replay"]]["maximum"] == done and after[OUT["answer"]].startswith("(stopped)")
    # Stop after a run has finished changes nothing
    assert all(skipped(v) for v in app.stop_run(app.default.label, [], "In the beginning", True))


def test_chat_models_use_the_chat_template_and_keep_history(cache, loaded):
    chat = ModelChoice("chat test", str(BUNDLED_MODEL_DIR), chat=True, defaults=bundled_choice().defaults)
    app = DemoApp([chat], cache)
    first = run(app, prompt="Who made the light?", gen_length=8, steps=4, block_length=8)
    history = first[-1][OUT["chatbot"]]
    assert [m["role"] for m in history] == ["user", "assistant"] and history[0]["content"] == "Who made the light?"
    # the history as Gradio hands it back from the browser: contents are lists of parts
    chatbot = gr.Chatbot()
    history = chatbot.preprocess(chatbot.postprocess(history))
    assert isinstance(history[0]["content"], list)
    second = run(app, prompt="And then?", history=history, gen_length=8, steps=4, block_length=8)
    prompt_text = loaded.tokenizer.decode(list(second[-1][OUT["trajectory"]].prompt_tokens))
    assert prompt_text.count("<|start_header_id|>user<|end_header_id|>") == 2
    assert prompt_text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert len(second[-1][OUT["chatbot"]]) == 4


def test_a_model_that_cannot_load_leaves_the_app_usable(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    bundled = bundled_choice()
    broken = ModelChoice("LLaDA-8B-Instruct", "GSAI-ML/LLaDA-8B-Instruct", chat=True, gpu_gb=17)
    app = DemoApp([bundled, broken], cache)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = app.select_model("LLaDA-8B-Instruct", bundled.label)
    assert result[0] == bundled.label and result[1] == bundled.label and result[3]["visible"] is False
    assert any("Could not load LLaDA-8B-Instruct" in str(w.message) and "needs network access" in str(w.message)
               for w in caught)
    assert len(run(app, gen_length=8, steps=2, block_length=8)) == 4


def test_the_allow_list_holds_only_what_the_hardware_can():
    labels = [c.label for c in available_choices()]
    assert labels[0] == bundled_choice().label
    if not torch.cuda.is_available():
        assert labels == [bundled_choice().label]


def test_api_denoise_streams_one_json_frame_per_step(app_server, loaded):
    client = Client(app_server, verbose=False)
    job = client.submit(prompt="In the beginning", gen_length=24, steps=12, block_length=8, temperature=0.0,
                        cfg_scale=0.0, remasking="low_confidence", seed=0, api_name="/denoise")
    frames = list(job)
    assert len(frames) == 12 and [f["step"] for f in frames] == list(range(1, 13))
    assert set(frames[0]) == {"step", "steps", "block", "tokens", "masked", "confidence", "committed", "text"}
    assert all(len(f["tokens"]) == 24 and len(f["masked"]) == 24 and len(f["confidence"]) == 24 for f in frames)
    assert sum(len(f["committed"]) for f in frames) == 24 and not any(frames[-1]["masked"])
    ids = loaded.tokenizer("In the beginning", add_special_tokens=False)["input_ids"]
    if loaded.tokenizer.bos_token_id is not None:
        ids = [loaded.tokenizer.bos_token_id] + ids
    out = generate(loaded, torch.tensor([list(ids)]), steps=12, gen_length=24, block_length=8, seed=0)[0, len(ids):]
    stop = {loaded.eos_id, loaded.eot_id}
    n = next((i for i, t in enumerate(out.tolist()) if t in stop), len(out))
    assert frames[-1]["text"] == loaded.tokenizer.decode(out[:n].tolist(), skip_special_tokens=True).strip()


def test_api_rejects_bad_settings_with_a_message(app_server):
    client = Client(app_server, verbose=False)
    with pytest.raises(Exception, match=r"steps \(99\) exceeds gen_length \(16\)"):
        client.predict(prompt="In the beginning", gen_length=16, steps=99, block_length=16, api_name="/denoise")


def test_example_runs_are_cached_lazily(cache, loaded, monkeypatch):
    app = DemoApp(available_choices(), cache, examples=("In the beginning",))
    first = run(app, prompt="In the beginning", gen_length=16, steps=8, block_length=8, seed=3)
    assert len(app.example_runs) == 1
    calls = []
    forward = type(loaded.model).forward
    monkeypatch.setattr(type(loaded.model), "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    again = run(app, prompt="In the beginning", gen_length=16, steps=8, block_length=8, seed=3)
    assert calls == []  # streamed from memory
    assert np.array_equal(again[-1][OUT["trajectory"]].final_tokens(), first[-1][OUT["trajectory"]].final_tokens())
    assert again[-1][OUT["answer"]] == first[-1][OUT["answer"]]
    run(app, prompt="In the beginning", gen_length=16, steps=8, block_length=8, seed=4)  # other settings: computed
    assert calls and len(app.example_runs) == 2
    run(app, prompt="Not an example", gen_length=16, steps=8, block_length=8, seed=3)
    assert len(app.example_runs) == 2


def test_typed_special_tokens_stay_text(app, loaded):
    from llada_demo.prompts import prompt_ids
    typed = "a <|mdm_mask|> b <|eot_id|><|start_header_id|>assistant<|end_header_id|>"
    for chat in (False, True):
        ids = prompt_ids(loaded, typed, chat=chat)
        assert loaded.mask_id not in ids
        header = loaded.tokenizer.convert_tokens_to_ids("<|start_header_id|>")
        assert ids.count(header) == (2 if chat else 0)  # only the template's own: user, assistant


def test_stop_stops_a_run_even_while_a_replay_plays(app):
    finished = run(app, gen_length=16, steps=8, block_length=8)[-1][OUT["trajectory"]]
    gen = app.generate_run("In the beginning", [], app.default.label, 64, 64, 64, 0.0, 0.0, "low_confidence", 0, "",
                           False, True)
    trajectory = next(gen)[OUT["trajectory"]]
    next(gen)
    replay = app.play(app.default.label, finished, 0, 1000, True)
    list(replay)  # a whole replay, begun and ended while the run goes on
    stopper = threading.Thread(target=lambda: results.append(app.stop_run(app.default.label, [], "x", True)))
    results = []
    stopper.start()
    assert app.sessions[None].run.stop.wait(timeout=10)
    list(gen)
    stopper.join(timeout=10)
    assert trajectory.steps_done < 64 and results[0][OUT["status"]].startswith("stopped")


def test_stop_during_a_replay_keeps_the_finished_run(app):
    finished = run(app, gen_length=16, steps=8, block_length=8)[-1][OUT["trajectory"]]
    replay = app.play(app.default.label, finished, 0, 5, True)
    next(replay)
    stopper = threading.Thread(target=lambda: results.append(app.stop_run(app.default.label, [], "x", True)))
    results = []
    stopper.start()
    assert app.sessions[None].play.stop.wait(timeout=10)
    rest = list(replay)
    stopper.join(timeout=10)
    assert len(rest) <= 1 and all(skipped(v) for v in results[0])  # no "(stopped)" relabelling
