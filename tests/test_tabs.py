"""What a first-time visitor meets on each tab, through the tabs' handlers (the page itself: test_browser.py)."""

import html
import math
import os
import shutil
import warnings

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client

from helpers import make_app, messages, messages_of, run, settings, tab
from llada_demo.app import plan_text
from llada_demo.app.catalog import bundled_choice, shipped_choices
from llada_demo.app.controls import BY_FIELD, CONTROLS
from llada_demo.app.runs import answer_text
from llada_demo.app.tabs.likelihood import CANDIDATES, joined
from llada_demo.app.tabs.reversal import TALLIED
from llada_demo.sampling import SamplingSettings
from llada_demo.trace.wire import decode_run

KJV = pytest.mark.skipif(shutil.which("bible") is None and not os.environ.get("CI"), reason="Debian's bible-kjv is absent")
PSALM_23_2 = "He maketh me to lie down in green pastures: he leadeth me beside the still waters."


@pytest.fixture(scope="module")
def app(cache):
    return make_app(cache)


def label_of(app, name: str) -> str:
    return next(c.label for c in app.choices.values() if c.short == name)


def stop_after(gen, steps: int, app, request) -> list[dict]:
    """A run's values: `steps` of them, then the tab's Stop, then the rest."""
    outs = [next(gen) for _ in range(steps)]
    app.stop(request)
    return outs + list(gen)


# ---- 1. Stop stops everything a session started ------------------------------------------------------
def test_stop_ends_both_of_compares_runs(app):
    page = app.tabs.compare
    gen = page.run("In the beginning", "all the steps vs half of them", settings(gen_length=64, steps=64,
                                                                                  block_length=64), request=tab("cmp"))
    outs = stop_after(gen, 4, app, tab("cmp"))
    a, b = messages_of(outs, page.view_a), messages_of(outs, page.view_b)
    assert a[-1]["state"] == b[-1]["state"] == "stopped"
    assert len(a) < 1 + 64 + 1 and len(b) < 1 + 32 + 1  # within a step of the click
    assert outs[-1][page.answer_a].startswith("(stopped)") and outs[-1][page.answer_b].startswith("(stopped)")


@KJV
def test_stop_ends_the_reversals_runs(app):
    page = app.tabs.reversal
    outs = stop_after(page.run("Psalms 23:1 / 23:2", label_of(app, "bundled"), request=tab("rev")), 3, app,
                      tab("rev"))
    ends = [messages_of(outs, view)[-1] for view in (page.forward, page.backward, page.twin_forward,
                                                      page.twin_backward)]
    assert "stopped" in {e["state"] for e in ends} and "Stopped" in outs[-1][page.summary]


# ---- 2. a model's own settings come with it -----------------------------------------------------------
def test_the_recitation_model_brings_its_canvas_and_recalls_its_own_example(app):
    recite = label_of(app, "recitation")
    picked = app.tabs.generate.select_model(recite, app.default.label)
    shown = {f: (v["value"] if isinstance(v, dict) else v) for f, c in app.tabs.generate.panel.controls.items()
             for v in [picked[c]]}
    # answer and block of its training rows (96 tokens) less room for the prompt, greedy threshold decoding
    assert (shown["gen_length"], shown["block_length"], shown["decoding"], shown["stop_at_eos"]) == (64, 64,
                                                                                                       "threshold", True)
    assert picked[app.tabs.generate.panel.controls["threshold"]]["visible"] is True  # its rule's own slider
    example = app.choices[recite].examples[0]
    outs = list(app.tabs.generate.run(example, {**shown, "seed": 0}, model=recite))
    assert outs[-1][app.tabs.generate.answer] == PSALM_23_2


@KJV
@pytest.mark.parametrize("name", ["recitation", "recitation twin"])
def test_the_recitation_models_recall_each_of_their_examples_with_their_own_settings(app, name):
    import json

    from llada_demo.reversal import DEFAULT_PASSAGES, verse_pairs

    label = label_of(app, name)
    picked = app.tabs.generate.select_model(label, app.default.label)
    shown = {f: (v["value"] if isinstance(v, dict) else v) for f, c in app.tabs.generate.panel.controls.items()
             for v in [picked[c]]}
    next_verse = dict(verse_pairs(json.loads(DEFAULT_PASSAGES.read_text())["passages"]))
    for example in app.choices[label].examples:
        answer = list(app.tabs.generate.run(example, {**shown, "seed": 0}, model=label))[-1][app.tabs.generate.answer]
        if name == "recitation twin":  # (it writes on past the next verse: a newline does not stop it)
            answer = answer.split("\n")[0]
        assert answer == next_verse[example], example


# ---- 4. the twin's heatmap: no prediction is not 100% -------------------------------------------------
def test_a_step_says_where_it_predicted_nothing(app):
    msgs = messages(app, run(app, label=label_of(app, "twin"), prompt="And God said", gen_length=8))
    trajectory, start, _ = decode_run({"format": "llada-demo-run", "version": 2, "messages": msgs})
    third = trajectory.records[2].confidence
    assert not math.isnan(third[2]) and np.isnan(np.delete(third, 2)).all()  # it predicted position 2 only
    diffusion = decode_run({"format": "llada-demo-run", "version": 2, "messages": messages(app, run(app))})[0]
    assert not np.isnan(diffusion.records[0].confidence).any()  # the mask predictor predicts every position


# ---- 5. the Reversal tab runs a model that knows the verses ----------------------------------------------
@KJV
def test_the_reversal_tab_offers_the_models_with_a_twin_and_starts_on_the_recitation_model(app, loaded):
    page = app.tabs.reversal
    assert page.models() == [label_of(app, "bundled"), label_of(app, "recitation")]  # not the twins
    assert page.default_model() == label_of(app, "recitation") and page.model.value == page.default_model()
    assert "knows no verse by heart" in page.about_model(label_of(app, "bundled"))
    assert page.about_model(label_of(app, "recitation")) == ""
    outs = list(page.run("Psalms 23:1 / 23:2", page.default_model()))
    forward = messages_of(outs, page.forward)
    a = page.pairs()["Psalms 23:1 / 23:2"][0]
    prompt = len(loaded.tokenizer.encode(a, add_special_tokens=False)) + 2  # BOS, A, newline
    assert forward[0]["settings"]["gen_length"] == 96 - prompt  # the rows it was trained on
    assert outs[-1][page.answer_f] == PSALM_23_2 and "Forward (A, write B): **exact**" in outs[-1][page.summary]


@KJV
def test_the_scoreboard_counts_the_pairs_it_ran_and_replays_a_row(app):
    page, request = app.tabs.reversal, tab("board")
    gen = page.run_all(page.default_model(), request=request)
    outs = [next(gen) for _ in range(3)]  # the empty board, then two pairs
    app.stop(request)
    outs += list(gen)
    assert outs[0][page.tally].startswith("**Running: 0 of 46 pairs**")
    last, labels = outs[-1], list(page.pairs())
    rows = last[page.board]["value"]
    assert last[page.tally].startswith("**Stopped after 2 of 46 pairs**") and [r[0] for r in rows] == labels[:2]
    board = app.sessions.of(request).board
    for column, (key, name) in enumerate(TALLIED, start=2):  # the tally counts the rows' marks
        right = sum(r[column] == "✓" for r in rows)
        assert right == sum(p.right[key] for p in board) and f"{name} {right}/2" in last[page.tally]
    assert rows[0][1] == "yes" and "on the passages it learned as questions" in last[page.tally]  # Psalms 23
    assert not page.learned_questions(app.choices[label_of(app, "bundled")])  # (its rows would all say "no")
    chosen = page.choose_model(label_of(app, "bundled"))  # another model: the board is put away
    assert chosen[page.tally] == "" and chosen[page.board]["visible"] is False
    forward, b = board[0].runs[0], page.pairs()[labels[0]][1]
    tokens = len(app.model(forward.trajectory.label)[1].tokenizer.encode(b, add_special_tokens=False))
    assert forward.name == "forward" and forward.trajectory.steps_done < tokens  # decoded fast: B in fewer steps
    shown = page.replay(gr.SelectData(None, {"index": [1, 3], "value": "✓", "selected": True}), request=request)
    assert shown[page.pair] == labels[1] and f"B: {html.escape(page.pairs()[labels[1]][1])}" in shown[page.summary]
    for ran, view in zip(board[1].runs, (page.forward, page.backward, page.twin_forward, page.twin_backward)):
        msgs = messages_of([shown], view)
        assert msgs[-1] == {"type": "end", "state": "done", "answer": ran.answer}
        assert len(msgs) == 2 + ran.trajectory.steps_done  # start, its steps, end


# ---- 6. Likelihood candidates are joined to the prompt as a person writes ---------------------------------
def test_likelihood_candidates_follow_the_prompt_as_written(app):
    assert joined("the heaven and", "the earth.") == " the earth." and joined("and ", "the") == "the"
    assert joined("the heaven and", ", and") == ", and" and joined("the heaven and", " the") == " the"
    assert all(line == line.strip() and line.isprintable() for line in CANDIDATES.split("\n"))
    page = app.tabs.likelihood
    typed = list(page.score("In the beginning God created the heaven and", "the earth.", 32, 0.0, 0))[-1][page.view]
    spaced = list(page.score("In the beginning God created the heaven and", " the earth.", 32, 0.0, 0))[-1][page.view]
    assert typed["estimates"] == spaced["estimates"] and typed["scored"] == [" the earth."]
    assert typed["tokens"] == spaced["tokens"] and typed["prompt_tokens"] > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        view = list(page.score("In the beginning", "God\nGod\n  \nthe earth", 16, 0.0, 0))[-1][page.view]
    assert view["candidates"] == ["God", "the earth"] and any("more than once" in str(w.message) for w in caught)


# ---- 7. the plan line is true for every model and rule ----------------------------------------------------
def test_the_plan_line_is_true_for_every_model_and_rule():
    def plan(**fields):
        return plan_text({**dict(gen_length=64, steps=64, block_length=32, decoding="fixed"), **fields},
                         causal=fields.pop("causal", False))

    assert plan(causal=True).startswith("Will run: one token per step, left to right, in one block: 64 steps")
    threshold = plan(decoding="threshold")
    assert "written until no mask is left" in threshold and "at most 32 steps per block" in threshold
    assert "steps setting" not in threshold  # (the rule's note is the line itself)
    assert "1 step per block" in plan(gen_length=64, steps=8, block_length=8) and "/" not in plan(gen_length=64,
                                                                                                  steps=8,
                                                                                                  block_length=56)
    assert "1 to 7 steps per block" in plan(gen_length=64, steps=8, block_length=56)
    assert plan(gen_length=8, steps=8, block_length=8) == ("Will run: 1 block of 8 tokens, 8 steps per block, 1 token "
                                                           "per step, 8 steps in all.")


# ---- 8. partial answers do not glue words across masks ------------------------------------------------------
def test_a_partial_answer_marks_the_masks_left(app, loaded, app_server):
    outs = stop_after(app.tabs.generate.run("In the beginning", settings(gen_length=64, steps=64, block_length=64,
                                                                          remasking="random", temperature=0.7),
                                            request=tab("gap")), 12, app, tab("gap"))
    answer = outs[-1][app.tabs.generate.answer]
    trajectory = app.sessions.of(tab("gap")).trajectory
    assert answer == "(stopped) " + answer_text(loaded, trajectory) and " ... " in answer
    client = Client(app_server, verbose=False)
    frames = list(client.submit(prompt="In the beginning", gen_length=32, steps=32, block_length=32, temperature=0.7,
                                remasking="random", seed=0, api_name="/denoise"))
    assert " ... " in frames[5]["text"] and " ... " not in frames[-1]["text"]
    assert None in frames[0]["confidence"] or all(c is not None for c in frames[0]["confidence"])


# ---- 9. the API can do what the page does ---------------------------------------------------------------
def test_the_api_takes_the_model_fixed_tokens_and_infill_with_the_models_own_defaults(app, app_server):
    client = Client(app_server, verbose=False)
    recite = label_of(app, "recitation")
    msgs = list(client.submit(prompt="The LORD is my shepherd; I shall not want.", model=recite, api_name="/run"))
    s = msgs[0]["settings"]
    assert msgs[0]["label"] == recite and (s["gen_length"], s["decoding"], s["stop_at_eos"]) == (64, "threshold", True)
    assert msgs[-1]["answer"] == PSALM_23_2
    fixed = list(client.submit(prompt="In the beginning", gen_length=16, steps=8, block_length=16, fixed="0: And",
                               api_name="/run"))
    assert fixed[0]["settings"]["constraints"][0][0] == 0
    frames = list(client.submit(prompt="And God said, [MASK][MASK] there be light", infill=True, steps=2,
                                block_length=2, api_name="/denoise"))
    assert frames[-1]["text"].startswith("And God said,") and frames[-1]["text"].endswith("there be light")
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/run"]["parameters"]
    model = next(p for p in info if p["parameter_name"] == "model")
    assert recite in str(model["type"])  # the API docs list the models
    assert [p["parameter_name"] for p in info] == ["prompt", *[c.field for c in CONTROLS], "model", "fixed"]


# ---- 10. Compare reads at a glance ---------------------------------------------------------------------
def test_compare_says_before_running_when_a_preset_cannot_show_a_difference(app):
    page = app.tabs.compare
    advice = page.preset_advice("fixed steps vs confidence threshold 0.9", label_of(app, "bundled"),
                                dict(gen_length=128))
    assert "rarely 90% sure" in advice and "recitation model" in advice
    assert page.preset_advice("fixed steps vs confidence threshold 0.9", label_of(app, "recitation"),
                              dict(gen_length=64)) == ""
    assert "one block either way" in page.preset_advice("one block vs blocks of 32", None, dict(gen_length=32))
    assert page.preset_advice("low-confidence vs random remasking", None, dict(gen_length=32)) == ""


# ---- 12. the smaller ones --------------------------------------------------------------------------------
def test_a_rules_own_parameter_shows_only_under_that_rule(app):
    panel = app.tabs.generate.panel
    shown = {c: u["visible"] for c, u in panel.show_rule("threshold").items()}
    assert shown == {panel.controls["threshold"]: True, panel.controls["factor"]: False}
    assert panel.controls["threshold"].visible is False  # the bundled model decodes with the fixed rule


def test_every_setting_has_one_control_and_reaches_the_api(app):
    fields = {f.name for f in SamplingSettings.__dataclass_fields__.values()}
    assert set(BY_FIELD) <= fields
    # what the page does not offer, it says why: internals of generate.py's interface and the fixed tokens' text
    assert fields - set(BY_FIELD) == {"constraints", "logits_eos_inf", "confidence_eos_eot_inf", "full_noise"}
    assert set(app.tabs.generate.panel.controls) == set(BY_FIELD)


def test_the_model_names_fit_the_menu():
    assert all(len(c.label) <= 46 for c in [bundled_choice(), *shipped_choices()])


def test_the_server_says_where_it_serves_in_our_words(cache, capsys):
    from llada_demo.app import launch
    from llada_demo.testing import free_port

    app = make_app(cache)
    launch(app.demo, app, block=False, server_name="127.0.0.1", server_port=free_port())
    try:
        printed = capsys.readouterr().out
        assert "llada-demo on http://127.0.0.1:" in printed and "python app.py --share" in printed
        assert "share=True" not in printed
    finally:
        app.demo.close()
