"""What the app's tests share: an app laid out on the bundled model, its handlers called as the page calls
them, and the wire messages a live view received."""

import json
from types import SimpleNamespace

from llada_demo.app import DemoApp, build_demo
from llada_demo.app.catalog import available_choices, bundled_choice
from llada_demo.app.controls import BY_FIELD, page_value

# what the tests run with unless they say otherwise: short, greedy, LLaDA's plan
TEST_SETTINGS = dict(gen_length=24, steps=12, block_length=8, temperature=0.0, cfg_scale=0.0,
                     remasking="low_confidence", seed=0, decoding="fixed", stop_at_eos=False, cache="none",
                     infill=False)


def make_app(cache, choices=None, **kwargs) -> DemoApp:
    app = DemoApp(choices or available_choices(), cache, **kwargs)
    app.demo = build_demo(app)  # lays out the page: handlers answer with its components
    return app


def tab(name):
    """A request as Gradio gives a handler: one browser tab's session."""
    return SimpleNamespace(session_hash=name)


def settings(**changes) -> dict:
    """SamplingSettings fields as the Generate tab's panel holds them: TEST_SETTINGS with `changes`, the
    bundled model's page defaults for the rest."""
    defaults = bundled_choice().defaults
    return {f: page_value(defaults, f) for f in BY_FIELD} | TEST_SETTINGS | changes


def run(app, prompt="In the beginning", history=(), label=None, fixed="", request=None, **changes) -> list[dict]:
    """A Generate run, all its values."""
    return list(app.tabs.generate.run(prompt, settings(**changes), history=list(history), model=label, fixed=fixed,
                                      request=request))


def messages_of(outs, view) -> list[dict]:
    """The wire messages a live view received, in order (checking each value's place in the run)."""
    payloads = [o[view] for o in outs if view in o]
    assert len({p["run"] for p in payloads}) == 1
    out = []
    for payload in payloads:
        assert payload["first"] == len(out)
        out += json.loads(payload["messages"])
    return out


def messages(app, outs) -> list[dict]:
    return messages_of(outs, app.tabs.generate.live)


def document(msgs) -> dict:
    """Messages as a run file."""
    from llada_demo.trace.wire import run_document

    return run_document(msgs)
