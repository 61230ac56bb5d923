"""A public Space that one anonymous client cannot knock over: exports, sessions, run files, seeds, the
command line and the API, each bounded and answered with a clear message."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import httpx
import pytest
from gradio_client import Client

from helpers import make_app, run, settings, tab
from llada_demo.app import DemoApp
from llada_demo.app.catalog import available_choices
from llada_demo.app.exports import ExportStore
from llada_demo.app.session import Sessions
from llada_demo.app.tabs.likelihood import BUDGET as LIKELIHOOD_BUDGET
from llada_demo.testing import serve
from llada_demo.trace.wire import MAX_CANVAS, MAX_ID, MAX_PROMPT, MAX_RUN_BYTES, decode_run

ROOT = Path(__file__).resolve().parent.parent
SEED_MESSAGE = "seed must be a whole number from 0 to 2**63 - 1"


@pytest.fixture(scope="module")
def app(cache):
    return make_app(cache)


def generate(app, prompt="In the beginning", request=None, seed=0, **kw):
    return run(app, prompt, request=request, **(dict(gen_length=8, steps=2, block_length=8, seed=seed) | kw))


def export(app, request) -> list[str]:
    return app.tabs.generate.export(request)[app.tabs.generate.exports]["value"]


# ---- exports --------------------------------------------------------------------------------------------
def test_exporting_the_same_run_again_writes_nothing_new(app):
    generate(app, request=tab("exporter"))
    first = export(app, tab("exporter"))
    stamps = [os.stat(f).st_mtime_ns for f in first]
    size = app.exports.total_bytes()
    for _ in range(9):
        assert export(app, tab("exporter")) == first
    assert [os.stat(f).st_mtime_ns for f in first] == stamps and app.exports.total_bytes() == size
    decode_run(Path(first[0]).read_text(encoding="utf-8"))  # and it is a run file


def test_the_export_store_keeps_under_its_cap_and_age(app, tmp_path):
    one = Path(export(app, tab("exporter"))[1]).stat().st_size  # the HTML's size
    app.exports = ExportStore(tmp_path / "exports", max_bytes=int(3.5 * one))
    for seed in range(6):  # six distinct runs: more than the cap holds
        generate(app, request=tab("exporter"), seed=seed)
        files = export(app, tab("exporter"))
        assert all(Path(f).is_file() for f in files)  # the newest export is never the one swept
        assert app.exports.total_bytes() <= app.exports.max_bytes
    on_disk = sum(f.stat().st_size for f in (tmp_path / "exports").rglob("*") if f.is_file())
    assert on_disk == app.exports.total_bytes() and len(app.exports) == 3
    app.exports.max_age = 0.0  # an hour later: swept whether or not any tab closed
    time.sleep(0.01)
    app.exports.sweep()
    assert len(app.exports) == 0 and not any((tmp_path / "exports").iterdir())


def test_the_server_bounds_uploads_and_serves_exports_without_copies(cache):
    app = DemoApp(available_choices(), cache)
    url, demo = serve(app)
    try:
        assert demo.delete_cache == (600, 3600) and demo.max_file_size == 2**20
        with httpx.Client(base_url=url, timeout=60) as http:
            refused = http.post("gradio_api/upload", files={"files": ("big.json", b"x" * (2 * 2**20))})
        assert refused.status_code == 413
        generate(app, request=tab("static"))
        path = export(app, tab("static"))[1]
        assert gr.utils.is_static_file(path)  # Gradio serves it where it is: no copy per export in its cache
    finally:
        demo.close()


# ---- sessions -------------------------------------------------------------------------------------------
def rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_sessions_are_capped_and_expire():
    sessions = Sessions(capacity=3, max_idle=60)
    for name in "abcde":
        sessions.of(tab(name))
    assert list(sessions._by_hash) == ["c", "d", "e"]  # least recently used out first
    busy = sessions.of(tab("c"))
    busy.run = SimpleNamespace(running=True, stop=None)
    for name in "fgh":
        sessions.of(tab(name))
    assert list(sessions._by_hash) == ["c", "g", "h"]  # a session whose run is going on stays, though oldest
    sessions.max_idle = 0.0
    time.sleep(0.01)
    sessions.of(tab("z"))
    assert set(sessions._by_hash) == {"c", "z"}


def test_memory_stays_flat_over_many_new_sessions(cache):
    app = DemoApp(available_choices(), cache)
    app.sessions = Sessions(capacity=8)
    url, demo = serve(app)  # Gradio's own per-session state capped alike (launch: state_session_capacity)

    def sessions(first, n):
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(first, first + n):
                generate(app, request=tab(f"page-{i}"), seed=i)  # the page's run: our Session
                event = http.post("gradio_api/call/run",  # a raw client: a new Gradio session each call
                                  json={"data": ["In the beginning", 8, 2, 8, 0.0, 0.0, "low_confidence", i]})
                assert "event: complete" in http.get(f"gradio_api/call/run/{event.json()['event_id']}").text

    try:
        sessions(0, 40)
        before = rss_mb()
        sessions(40, 120)
        grown = rss_mb() - before
        assert len(app.sessions) <= 8 and len(demo.state_holder.session_data) <= 8
        assert grown < 8, f"RSS grew {grown:.1f} MB over 120 new sessions"  # uncapped: ~0.3 MB each
    finally:
        demo.close()


# ---- the command line -----------------------------------------------------------------------------------
def test_a_model_that_cannot_load_is_one_plain_line_on_the_command_line():
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--model", "no&such-dir", "--port", "7991"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: no directory no&such-dir; pass a local checkpoint directory or a hub id like GSAI-ML/LLaDA-8B-Instruct"]


# ---- seeds ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [2**63, 10**20, -1])
def test_every_seed_field_says_the_same(app, app_server, seed):
    calls = {
        "Generate": lambda: generate(app, seed=seed),
        "Compare": lambda: list(app.tabs.compare.run("In the beginning", "all the steps vs half of them",
                                                     settings(gen_length=8, steps=2, block_length=8, seed=seed))),
        "Likelihood": lambda: list(app.tabs.likelihood.score("In the beginning", " God", 16, 0.0, seed)),
        "Forward process": lambda: app.tabs.forward.mask("In the beginning", 0.5, seed),
    }
    for name, call in calls.items():
        with pytest.raises(gr.Error) as err:
            call()
        assert SEED_MESSAGE in err.value.message and f"got {seed}" in err.value.message, name
    client = Client(app_server, verbose=False)
    for endpoint in ("/run", "/denoise"):
        with pytest.raises(Exception, match=r"seed must be a whole number from 0 to 2\*\*63 - 1"):
            client.predict(prompt="In the beginning", gen_length=8, steps=2, block_length=8, seed=seed,
                           api_name=endpoint)


# ---- run files ------------------------------------------------------------------------------------------
def good_run(app) -> dict:
    generate(app, request=tab("files"), gen_length=16, steps=4, block_length=8)
    return json.loads(Path(export(app, tab("files"))[0]).read_text(encoding="utf-8"))


def malformed(run: dict) -> dict:
    """Run files that must be refused, by what is wrong with them, each a changed copy of a good run."""
    def changed(edit):
        doc = json.loads(json.dumps(run))
        edit(doc, doc["messages"][0], doc["messages"][1])
        return doc

    def put(field, value, where="step"):
        return changed(lambda d, start, step: (start if where == "start" else step).__setitem__(field, value))

    n = len(run["messages"][0]["initial"])
    start, first = run["messages"][0], run["messages"][1]
    masked = [p for p, t in enumerate(start["initial"]) if t == start["mask_id"] and p not in first["committed"]]

    def edit(version=None, **fields):  # an edit message after the first step
        message = dict(type="edit", step=1, set=[], remask=[], texts={}) | fields
        return changed(lambda d, start, step: (d["messages"].insert(2, message),
                                               version and d.__setitem__("version", version)))

    return {
        "an edit masking a masked cell again": edit(remask=[masked[0]]),
        "an edit setting a cell past the canvas": edit(set=[[n + 5, 3]]),
        "an edit at another step than its place": edit(step=7),
        "an edit changing a cell twice": edit(set=[[masked[0], 3]], remask=[masked[0]]),
        "an edit in a version 2 file": edit(version=2, set=[[masked[0], 3]]),
        "bad base64 confidence": put("confidence", "%%%not base64%%%"),
        "confidence of the wrong length": put("confidence", "AAAA"),
        "a canvas of 2,000,000 masks": put("initial", [2] * 2_000_000, "start"),
        "a start without fields": changed(lambda d, start, step: d["messages"].__setitem__(0, {"type": "start"})),
        "elapsed null": put("elapsed", None),
        "elapsed NaN-like": put("elapsed", "NaN"),
        "steps only": changed(lambda d, start, step: d.__setitem__("messages", d["messages"][1:])),
        "a negative position": put("committed", [-1]),
        "a position past the canvas": put("committed", [n + 5]),
        "steps_per_block [-16]": put("steps_per_block", [-16], "start"),
        "40,000 steps": changed(lambda d, start, step: d.__setitem__(
            "messages", [start] + [dict(step, step=k) for k in range(1, 40_001)])),
        "version 99": changed(lambda d, start, step: d.__setitem__("version", 99)),
        "a step before the start": changed(lambda d, start, step: d["messages"].insert(0, step)),
        "guesses of the wrong count": put("guesses", [5]),
        "a token id out of range": put("tokens", [MAX_ID + 1] * len(run["messages"][1]["tokens"])),
    }


def test_decode_run_refuses_every_malformed_file(app):
    run = good_run(app)
    decode_run(run)
    for what, doc in malformed(run).items():
        with pytest.raises(ValueError, match=": ") as err:
            decode_run(doc)
            pytest.fail(f"{what}: accepted")
        print(what, "->", err.value)
    with pytest.raises(ValueError, match="larger than 20 MB"):
        decode_run(" " * (MAX_RUN_BYTES + 1))


def test_the_page_checks_run_files_with_the_same_limits():
    source = (ROOT / "llada_demo" / "views" / "viewer" / "run.js").read_text()
    limits = dict(MAX_RUN_BYTES=MAX_RUN_BYTES, MAX_CANVAS=MAX_CANVAS, MAX_PROMPT=MAX_PROMPT, MAX_ID=MAX_ID)
    for name, value in limits.items():
        match = __import__("re").search(rf"\b{name} = ([\d* ]+)[,;]", source)
        assert match and eval(match.group(1)) == value, name  # noqa: S307 (our own file's constants)


# ---- the API --------------------------------------------------------------------------------------------
def raw_call(url, endpoint, data):
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post(f"gradio_api/call/{endpoint}", json={"data": data}).json()
        return http.get(f"gradio_api/call/{endpoint}/{event['event_id']}").text


def test_the_api_checks_its_arguments(app_server):
    # /run called with /denoise's eight arguments: the others take their documented defaults
    stream = raw_call(app_server, "run", ["In the beginning", 8, 2, 8, 0.0, 0.0, "low_confidence", 0])
    assert "event: complete" in stream and '"state": "done"' in stream
    extra = raw_call(app_server, "denoise", ["In the beginning", 8, 2, 8, 0.0, 0.0, "low_confidence", 0, None, "",
                                             False, 1, 2])
    assert "event: error" in extra and "/denoise takes 11 arguments (prompt, gen_length" in extra and "last 2" in extra
    assert "1 is not one of the models: Bundled" in raw_call(app_server, "denoise", ["In the beginning", 8, 2, 8, 0.0,
                                                                                     0.0, "low_confidence", 0, 1])
    assert "/denoise needs prompt" in raw_call(app_server, "denoise", [])
    text = raw_call(app_server, "run", ["In the beginning", 8, 2, 8, 0.0, 0.0, "low_confidence", 0, "fixed", 0.9,
                                        1.0, "false"])
    assert "stop_at_eos must be true or false, got 'false'" in text
    client = Client(app_server, verbose=False)
    with pytest.raises(TypeError, match="bogus"):
        client.predict(prompt="In the beginning", bogus=1, api_name="/run")
    for length in (-5, 0):
        with pytest.raises(Exception, match=f"gen_length must be at least 1, got {length}"):
            client.predict(prompt="In the beginning", gen_length=length, api_name="/denoise")


# ---- the Likelihood tab ---------------------------------------------------------------------------------
def test_likelihood_candidates_are_lines_and_a_scoring_is_bounded_and_stoppable(app):
    scorer = app.tabs.likelihood
    view = list(scorer.score("In the beginning", " God\u2028created\n the heaven", 16, 0.0, 0))[-1][scorer.view]
    assert view["candidates"] == [" God\u2028created", " the heaven"] and view["state"] == "done"
    with pytest.raises(gr.Error, match=f"more than the {LIKELIHOOD_BUDGET:,} one scoring may take here: lower the "
                                       "Monte Carlo samples to"):
        list(scorer.score("In the beginning " * 20, "\n".join(f" answer {i}" for i in range(8)), 512, 2.0, 0))
    scoring = scorer.score("In the beginning", " God\n the heaven", 512, 0.0, 0, request=tab("scorer"))
    first = next(scoring)[scorer.view]
    app.stop(tab("scorer"))
    rest = [v[scorer.view] for v in scoring]
    assert first["state"] == "scoring" and len(rest) == 1 and rest[0]["state"] == "stopped"
    assert rest[0]["samples"] == first["samples"] < 512 and rest[0]["estimates"] == first["estimates"]
