"""The page: the banner and the tabs in order (each tab lays itself out and wires its own events,
app/tabs/), the API endpoints, the queue, and the server's bounds.
"""

from __future__ import annotations

import inspect
import threading
import time
from dataclasses import dataclass

import gradio as gr

from ..views.page import PLOTLY_JS, VIEWER_CSS, VIEWER_JS, source
from .api import api_functions
from .demo import DemoApp
from .session import SESSIONS
from .stream import add_stream_route
from .tabs.compare import CompareTab
from .tabs.forward import ForwardTab
from .tabs.generate import GenerateTab
from .tabs.likelihood import LikelihoodTab
from .tabs.reversal import ReversalTab

MAX_LENGTH = 512  # the longest answer the sliders offer
MAX_UPLOAD = "1mb"  # the page uploads nothing (a run file is opened in the browser); Gradio's route stays bounded
SWEEP_EVERY = 300.0  # s between sweeps of the export store, so exports age out with no new export

try:  # on a ZeroGPU Space, GPU work must run inside @spaces.GPU; elsewhere this is a no-op
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn):
        return fn


@dataclass
class Tabs:
    """The page's tabs, each holding its components and handlers."""

    generate: GenerateTab
    compare: CompareTab
    reversal: ReversalTab
    forward: ForwardTab
    likelihood: LikelihoodTab


def complete_arguments(endpoint: str, fn, inputs: list) -> None:
    """A raw call's positional arguments to `fn`, checked in place: missing ones take their documented
    defaults (a required one missing is named), extra ones are refused with the endpoint's parameters."""
    params = [p for p in inspect.signature(fn).parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    if len(inputs) > len(params):
        raise gr.Error(f"{endpoint} takes {len(params)} arguments ({', '.join(p.name for p in params)}); got "
                       f"{len(inputs)}: leave out the last {len(inputs) - len(params)}")
    missing = [p.name for p in params[len(inputs):] if p.default is p.empty]
    if missing:
        raise gr.Error(f"{endpoint} needs {', '.join(missing)}")
    inputs.extend(p.default for p in params[len(inputs):])


class DemoBlocks(gr.Blocks):
    """gr.Blocks whose API endpoints (gr.api) check the arguments a raw client sends: Gradio itself
    answers too few with an error that says nothing ({"error": null}) and drops extra ones silently."""

    api_functions: dict  # endpoint name -> the function it calls

    def validate_inputs(self, block_fn, inputs):
        fn = getattr(self, "api_functions", {}).get(block_fn.api_name)
        if fn is not None:
            complete_arguments(f"/{block_fn.api_name}", fn, inputs)
        super().validate_inputs(block_fn, inputs)


def build_demo(app: DemoApp) -> gr.Blocks:
    # Gradio's own cache (files it copies for components) swept every 10 min of what is over an hour old
    with DemoBlocks(title="llada-demo: watch a diffusion LM write", delete_cache=(600, 3600)) as demo:
        # the API first: Gradio names the page's own events after their functions, and would rename ours
        demo.api_functions = api_functions(app)
        for name, fn in demo.api_functions.items():
            gr.api(gpu(fn), api_name=name, concurrency_id="model")
        # answer lengths up to what the default model can hold after a short prompt
        longest = min(MAX_LENGTH, app.model(None)[1].model.config.max_sequence_length - 32)
        banner = gr.HTML(app.banner())
        app.current = gr.State(app.default.label)  # the model chosen in the Generate tab (set back if it fails)
        with gr.Tabs():
            with gr.Tab("Generate"):
                generate = GenerateTab(app, banner, longest, gpu)
            with gr.Tab("Compare"):
                compare = CompareTab(app, generate.panel, gpu)
            with gr.Tab("Reversal"):
                reversal = ReversalTab(app, gpu)
            with gr.Tab("Forward process") as tab:
                forward = ForwardTab(app, tab)
            with gr.Tab("Likelihood") as tab:
                likelihood = LikelihoodTab(app, tab)
        app.tabs = Tabs(generate, compare, reversal, forward, likelihood)
        demo.unload(app.close_session)
    # max_size keeps a queue of waiting runs (ZeroGPU otherwise keeps only one waiting)
    demo.queue(max_size=32, default_concurrency_limit=1)
    # An idle Gradio polls its queue every 1 ms on Linux (gradio/queueing.py, `sleep_when_free`): a few % of a
    # core with no tab open (docs/performance.md, bench/bench_idle.py). Its Windows values (50 ms, 100 ms) add
    # at most 50 ms before an event starts. Private attributes, set after queue(), which makes the queue:
    # check them when Gradio is upgraded.
    demo._queue.sleep_when_free = 0.05
    demo._queue.progress_update_sleep_when_free = 0.1
    return demo


def launch_options(app: DemoApp | None = None) -> dict:
    """What launch() takes besides the address (Gradio 6 takes css and theme there). The export store is
    a static path: Gradio serves its files from where they are instead of a copy per export in its cache."""
    gr.set_static_paths([str(PLOTLY_JS), *map(str, VIEWER_JS)] + ([str(app.exports.root)] if app else []))
    return dict(css=source(VIEWER_CSS), theme=gr.themes.Soft(primary_hue="teal"), max_file_size=MAX_UPLOAD,
                state_session_capacity=app.sessions.capacity if app else SESSIONS)


def launch(demo: gr.Blocks, app: DemoApp, block: bool = True, quiet: bool = False, **kwargs) -> None:
    """Serve the page: demo.launch(**kwargs) with launch_options(), then the page's run stream
    (app/stream.py; Gradio makes its server app inside launch(), so the route is added after it), and a
    sweep of old exports. Says where it serves in our words (Gradio's own hint names launch(share=True))."""
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(app), **kwargs)
    add_stream_route(demo.app, app.outboxes)

    def sweep():
        while True:
            time.sleep(SWEEP_EVERY)
            app.exports.sweep()

    threading.Thread(target=sweep, daemon=True, name="llada-export-sweep").start()
    if not quiet:
        print(f"llada-demo on {demo.local_url}" + (f" and {demo.share_url}" if demo.share_url else
                                                     "  (python app.py --share also serves it on a public link)"))
    if block:
        demo.block_thread()
