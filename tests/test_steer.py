"""Inspect and steer: a run continued from a step (sampler.denoise(resume=)), the branch it makes
(Trajectory.branch, the wire's edit message), the model's candidates at a cell (candidates_at), and the
app's handlers and API for them (app/steer.py)."""

import json

import numpy as np
import pytest

from llada_demo import SamplingSettings, denoise
from llada_demo.sampling import Resume, candidates_at
from llada_demo.testing import TINY_IDS
from llada_demo.trace import Trajectory
from llada_demo.trace.trajectory import Edit
from llada_demo.trace.wire import RunFileError, decode_run, encode_run, run_document

MASK = TINY_IDS["mask_id"]


def trajectory_of(model, prompt, settings, resume=None, parent=None):
    """A run kept in a Trajectory (a new one, or `parent`, the branch a resumed run continues)."""
    d = denoise(model, prompt, settings=settings, mask_id=MASK, resume=resume)
    t = parent if parent is not None else Trajectory(d.canvas, d.settings)
    for record in d:
        t.add(record)
    return t


def continuation(model, prompt, settings, resume):
    """The records of a run resumed with no edit."""
    return list(denoise(model, prompt, settings=settings, mask_id=MASK, resume=resume))


def resume_at(t: Trajectory, k: int) -> Resume:
    view = t.view(k)
    return Resume(tokens=view.tokens, step=k, block=view.block, forward_passes=t.records[k - 1].forward_passes if k else 0)


def same_records(a, b):
    assert [r.step for r in a] == [r.step for r in b]
    for x, y in zip(a, b):
        assert x.block == y.block and x.forward_passes == y.forward_passes, x.step
        assert np.array_equal(x.committed, y.committed) and np.array_equal(x.tokens, y.tokens), x.step
        assert np.array_equal(x.guesses, y.guesses), x.step
        assert np.allclose(x.confidence, y.confidence, equal_nan=True, atol=1e-5), x.step


@pytest.mark.parametrize("changes", [
    dict(), dict(block_length=8, steps=12), dict(remasking="margin"), dict(decoding="threshold", threshold=0.3),
    dict(decoding="factor"), dict(cfg_scale=1.5),
])
def test_continuing_with_no_edit_reproduces_the_remaining_steps(tiny, prompt, changes):
    settings = SamplingSettings(**(dict(gen_length=24, steps=12, block_length=24, temperature=0.0) | changes))
    original = trajectory_of(tiny, prompt, settings)
    for k in sorted({0, 1, original.steps_done // 2, original.steps_done - 1}):
        same_records(continuation(tiny, prompt, settings, resume_at(original, k)), original.records[k:])


def test_continuing_a_sampled_run_draws_its_own_noise_from_the_seed_and_the_step(tiny, prompt):
    settings = SamplingSettings(gen_length=24, steps=12, block_length=8, temperature=1.0, seed=3)
    original = trajectory_of(tiny, prompt, settings)
    a = continuation(tiny, prompt, settings, resume_at(original, 4))
    b = continuation(tiny, prompt, settings, resume_at(original, 4))
    same_records(a, b)  # the same seed and step: the same continuation
    assert [r.step for r in a] == list(range(5, 13))


def test_an_edited_token_is_kept_and_a_remasked_one_is_written_again(tiny, prompt):
    settings = SamplingSettings(gen_length=24, steps=12, block_length=8, temperature=0.0)
    original = trajectory_of(tiny, prompt, settings)
    k = 5  # in the second block: position 2 (first block) masked again, 20 (third block) set by hand
    view = original.view(k)
    assert not view.masked[2] and view.masked[20]
    branch = original.branch(Edit(step=k, set=((20, 40), (14, 41)) if view.masked[14] else ((20, 40),), remask=(2,)))
    start = branch.view(k)
    assert start.tokens[20] == 40 and start.masked[2] and start.commit_step[20] == k
    t = trajectory_of(tiny, prompt, settings, resume_at(branch, k), parent=branch)
    assert t.finished and t.steps_done == 12
    final = t.final_tokens()
    assert final[20] == 40 and not (final == MASK).any()
    assert all(20 not in r.committed for r in t.records[k:])  # never written again
    assert any(2 in r.committed for r in t.records[k:])  # the remasked cell is written again
    # the branch's steps before k are the original's, and its view there is the original's
    assert np.array_equal(t.view(k - 1).tokens, original.view(k - 1).tokens)


def test_an_edit_of_a_branch_at_its_own_step_keeps_the_first_edit(tiny, prompt):
    settings = SamplingSettings(gen_length=24, steps=12, block_length=8, temperature=0.0)
    original = trajectory_of(tiny, prompt, settings)
    first = original.branch(Edit(step=4, set=((20, 40),)))
    t = trajectory_of(tiny, prompt, settings, resume_at(first, 4), parent=first)
    second = t.branch(Edit(step=4, set=((21, 42),), remask=()))
    assert len(second.edits) == 1 and set(second.edits[0].set) == {(20, 40), (21, 42)}
    assert second.view(4).tokens[20] == 40 and second.view(4).tokens[21] == 42
    third = t.branch(Edit(step=4, set=((20, 43),)))  # the new edit's cell wins
    assert third.edits[0].set == ((20, 43),)


def test_a_branch_round_trips_through_the_run_file(tiny, prompt):
    settings = SamplingSettings(gen_length=24, steps=12, block_length=8, temperature=0.0)
    original = trajectory_of(tiny, prompt, settings)
    branch = original.branch(Edit(step=6, set=((20, 40),), remask=(1,)))
    t = trajectory_of(tiny, prompt, settings, resume_at(branch, 6), parent=branch)
    messages = encode_run(t, lambda i: f"<{i}>", answer="x")
    assert [m["type"] for m in messages].count("edit") == 1 and messages[7]["type"] == "edit"
    back, _, _ = decode_run(run_document(messages))
    assert back.edits == t.edits and back.branched_at == 6
    for k in (0, 5, 6, 7, 12):
        a, b = back.view(k), t.view(k)
        assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.masked, b.masked), k
        assert np.array_equal(a.commit_step, b.commit_step), k
    # a bad edit is refused with what is wrong; a version 2 file has no edits
    bad = json.loads(json.dumps(messages))
    bad[7]["remask"] = [23]  # masked still at step 6
    with pytest.raises(RunFileError, match="'remask' must list committed positions"):
        decode_run(run_document(bad))
    old = run_document(messages) | {"version": 2}
    with pytest.raises(RunFileError, match="type 'edit'"):
        decode_run(old)


def test_candidates_top_one_is_the_records_prediction(tiny, prompt):
    for changes in (dict(), dict(cfg_scale=1.5), dict(remasking="margin")):
        settings = SamplingSettings(**(dict(gen_length=24, steps=12, block_length=8, temperature=0.0) | changes))
        t = trajectory_of(tiny, prompt, settings)
        for k in (0, 3, 7):
            record, before = t.records[k], t.view(k)  # step k + 1 runs on the canvas after step k
            after = t.view(k + 1)
            for p in np.flatnonzero(before.masked)[:6]:
                ids, ps = candidates_at(tiny, prompt, before.tokens, int(p), settings=settings, mask_id=MASK)
                shown = after.guesses[p] if after.masked[p] else after.tokens[p]
                assert ids[0] == shown, (changes, k, p)
                assert ps == sorted(ps, reverse=True) and 0 < sum(ps) <= 1 + 1e-6
                if record.confidence[p] == record.confidence[p] and changes.get("remasking") != "margin":
                    assert abs(ps[0] - record.confidence[p]) < 1e-4


# ---- the app and its API, on the bundled model ------------------------------------------------------
@pytest.fixture(scope="module")
def app(cache):
    from helpers import make_app

    return make_app(cache)


def test_api_inspects_a_cell_and_continues_a_run_from_a_step(app_server, loaded):
    from gradio_client import Client

    client = Client(app_server, verbose=False)
    msgs = list(client.submit(prompt="In the beginning", gen_length=24, steps=12, block_length=8, temperature=0.0,
                              cfg_scale=0.0, remasking="low_confidence", seed=0, api_name="/run"))
    text = json.dumps(run_document(msgs))
    original, _, _ = decode_run(text)
    view, after = original.view(5), original.view(6)
    p = int(np.flatnonzero(view.masked)[0])
    answer = client.predict(run=text, step=5, position=p, api_name="/inspect")
    assert len(answer["candidates"]) == 5 and answer["masked"] is True and answer["step"] == 5
    top = answer["candidates"][0]
    assert top["id"] == (after.guesses[p] if after.masked[p] else after.tokens[p])  # greedy: the record's
    # with no edit, the continuation is the original's steps after 5, token for token; only its own are new
    same = list(client.submit(run=text, step=5, api_name="/continue"))
    assert [m["type"] for m in same[6:8]] == ["edit", "step"] and same[6]["set"] == [] and same[6]["remask"] == []
    branch, _, end = decode_run(run_document(same))
    assert end["state"] == "done" and branch.branched_at == 5
    assert np.array_equal(branch.final_tokens(), original.final_tokens())
    # two cells set by hand at step 5: kept to the end; a word of two tokens is refused with its pieces
    q = int(np.flatnonzero(view.masked)[-1])
    edited = list(client.submit(run=text, step=5, set=[[p, " God"], [q, " earth"]], api_name="/continue"))
    final = decode_run(run_document(edited))[0].final_tokens()
    assert [loaded.tokenizer.decode([final[p]]), loaded.tokenizer.decode([final[q]])] == [" God", " earth"]
    with pytest.raises(Exception, match="tokens here"):
        client.predict(run=text, step=5, set=[[p, " Godzillas"]], api_name="/continue")
    with pytest.raises(Exception, match="outside the canvas"):
        client.predict(run=text, step=5, position=99, api_name="/inspect")


def test_the_generate_tab_continues_its_run_as_a_branch_of_its_own_steps(app):
    from helpers import messages, run, tab

    request, live = tab("steer"), app.tabs.generate.live
    outs = run(app, request=request)
    run_id, msgs = outs[0][live]["run"], messages(app, outs)
    original = app.sessions.of(request).trajectory
    # by the server's id of the run: the branch's value starts after the run's messages up to step 4
    outs = list(app.tabs.generate.continue_run(dict(run=run_id, step=4, set=[[20, " God"]]), request=request))
    payloads = [o[live] for o in outs if live in o]
    assert payloads[0]["branch_of"] == run_id and payloads[0]["at"] == 4 and payloads[0]["first"] == 5
    sent = [m for p in payloads for m in json.loads(p["messages"])]
    assert sent[0]["type"] == "edit" and sent[1]["step"] == 5 and sent[-1]["type"] == "end"  # its own steps only
    branch = app.sessions.of(request).trajectory
    assert branch.branched_at == 4 and app.sessions.of(request).state == "done"
    assert branch.final_tokens()[20] != original.final_tokens()[20] or original.view(4).tokens[20] != branch.view(4).tokens[20]
    # by a run file's text (an export opened in the page), named as the page keeps it
    outs = list(app.tabs.generate.continue_run(dict(run=json.dumps(run_document(msgs)), step=4, page_run="file-1"),
                                               request=request))
    assert [o[live] for o in outs if live in o][0]["branch_of"] == "file-1"
    assert np.array_equal(app.sessions.of(request).trajectory.final_tokens(), original.final_tokens())
    # what the page cannot ask: a clear message
    import gradio as gr
    with pytest.raises(gr.Error, match="no longer kept"):
        list(app.tabs.generate.continue_run(dict(run="no-such-run", step=4), request=request))


def test_a_branch_stops_like_a_run_and_exports_with_its_edit(app):
    from helpers import run, tab

    request, live = tab("steer-stop"), app.tabs.generate.live
    outs = run(app, request=request, gen_length=64, steps=64, block_length=64)
    gen = app.tabs.generate.continue_run(dict(run=outs[0][live]["run"], step=8, set=[[40, " God"]]), request=request)
    got = [next(gen) for _ in range(3)]
    app.stop(request)
    got += list(gen)
    sent = [m for o in got if live in o for m in json.loads(o[live]["messages"])]
    assert sent[-1] == {"type": "end", "state": "stopped", "answer": sent[-1]["answer"]}
    assert len([m for m in sent if m["type"] == "step"]) < 64 - 8  # within a step of the click
    assert got[-1][app.tabs.generate.answer].startswith("(stopped)")
    # the export holds the branch: the run up to step 8, the edit, its own steps
    json_file = app.tabs.generate.export(request=request)[app.tabs.generate.exports]["value"][0]
    back, start, end = decode_run(open(json_file, encoding="utf-8").read())
    assert back.branched_at == 8 and back.edits[0].set[0][0] == 40 and end["state"] == "stopped"


def test_a_continuation_asked_wrongly_gets_a_message(app):
    import gradio as gr
    from helpers import run, tab

    request, live = tab("steer-bad"), app.tabs.generate.live
    run_id = run(app, request=request)[0][live]["run"]
    for asked, says in ((dict(step="4"), "step must be a whole number"), (dict(step=99), "not one of the run's"),
                        (dict(step=4, set=[["x", " God"]]), "a token to set is"),
                        (dict(step=4, set=[[2, " God"]], remask=[2]), "once in an edit"),
                        (dict(step=4, remask="2"), "a list of positions"),
                        (dict(step=4, remask=[23]), "not a committed cell")):
        with pytest.raises(gr.Error, match=says):
            list(app.tabs.generate.continue_run(dict(run=run_id, **asked), request=request))
