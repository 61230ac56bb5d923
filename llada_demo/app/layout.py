"""The page: its components laid out in one function, and the events wired to the handlers.

The live view (status, token grid, replay) and the charts are gr.HTML components whose JavaScript
(views/viewer.js, with plotly.js from the plotly package) draws the run in the browser from the
messages the run handler streams; replay, Play and the guesses toggle run in the browser alone.
"""

from __future__ import annotations

import inspect
import threading
import time
from dataclasses import dataclass

import gradio as gr

from ..sampling import REMASKING_STRATEGIES
from ..sampling.rules import DECODING_RULES
from ..views.page import PLOTLY_JS, VIEWER_CSS, VIEWER_JS, source
from .handlers import PRESETS, DemoApp, plan_text
from .prompts import MASK_PLACEHOLDER
from .session import SESSIONS
from .stream import add_stream_route

MAX_LENGTH = 512

try:  # on a ZeroGPU Space, GPU work must run inside @spaces.GPU; elsewhere this is a no-op
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn):
        return fn

# Both views load plotly.js and the renderer through `head`: Gradio runs a component's js_on_load only
# after the scripts of its own head have loaded (scripts are loaded once per page).
HEAD = "".join(f'<script src="gradio_api/file={path}"></script>' for path in (PLOTLY_JS, VIEWER_JS))
# Steps come through the run's own stream (app/stream.py) once the page has the run's id from the start
# value; Gradio values carry them only while no stream is open (see handlers.Outbox).
def live_js(options: str = "{}") -> str:
    """A live view's js_on_load: mount it (options as LladaView.mountLive takes them), follow its runs."""
    return """
const live = LladaView.mountLive(element.querySelector('.ld-live-root'), OPTIONS);
live.fetchMissing = (run, start, end) => server.resend([run, start, end]).then(t => (t ? JSON.parse(t) : null));
let followed = null, source = null;
const follow = (run, from) => {
  if (typeof EventSource === 'undefined') return;
  const mine = source = new EventSource(`llada-demo/runs/${run}?from=${from}`);
  mine.onmessage = (e) => {
    const p = JSON.parse(e.data);
    live.receive({run, first: p.first, messages: p.messages});
    if (p.messages.some((m) => m.type === 'end')) { mine.close(); if (source === mine) source = null; }
  };
};
const take = () => {
  const v = props.value;
  if (!(v && typeof v === 'object' && v.messages)) return;
  const messages = JSON.parse(v.messages);
  live.receive({run: v.run, first: v.first, messages});
  const ended = messages.some((m) => m.type === 'end');
  if (ended || v.run !== followed) { if (source) source.close(); source = null; }  // a stream that failed too
  if (!ended && v.run !== followed) follow(v.run, v.first + messages.length);
  followed = v.run;
};
take();
watch('value', take);
""".replace("OPTIONS", options)


FORWARD_TEXT = "In the beginning God created the heaven and the earth. And the earth was without form, and void."
FORWARD_EXAMPLES = [FORWARD_TEXT, "The LORD is my shepherd; I shall not want.",
                    "And God said, Let there be light: and there was light."]


def data_view_js(mount: str, root: str, field: str) -> str:
    """js_on_load of a view drawn from its value alone (Forward process, Likelihood): mount it with
    LladaView[mount] on the `root` element, and show every value that has `field`."""
    return f"""
const view = LladaView.{mount}(element.querySelector('.{root}'));
const take = () => {{ const v = props.value; if (v && typeof v === 'object' && v.{field}) view.show(v); }};
take();
watch('value', take);
"""


FORWARD_JS = data_view_js("mountForward", "ld-forward-root", "tokens")
SCORE_PROMPT = "In the beginning God created the heaven and"
SCORE_CANDIDATES = " the earth.\n the sea.\n a great city."
LIKELIHOOD_JS = data_view_js("mountLikelihood", "ld-likelihood-root", "candidates")
CHARTS_JS = "LladaView.mountCharts(element.querySelector('.ld-charts-root'));"
GUESSES_JS = "(on) => { const v = window.LladaView && LladaView.registry.live; if (v) v.setGuesses(on); return []; }"


@dataclass
class Page:
    """The components handlers read and write (handlers return {page.component: value})."""

    banner: gr.HTML
    model: gr.Dropdown
    current: gr.State
    chatbot: gr.Chatbot
    new_chat: gr.Button
    prompt: gr.Textbox
    run: gr.Button
    stop: gr.Button
    answer: gr.Textbox
    export: gr.Button
    exports: gr.File
    live: gr.HTML
    charts: gr.HTML
    gen_length: gr.Slider
    steps: gr.Slider
    block_length: gr.Slider
    plan: gr.Markdown
    temperature: gr.Slider
    cfg_scale: gr.Slider
    remasking: gr.Dropdown
    seed: gr.Number
    fixed: gr.Textbox
    infill: gr.Checkbox
    stop_at_eos: gr.Checkbox
    decoding: gr.Dropdown
    threshold: gr.Slider
    factor: gr.Slider
    cache: gr.Dropdown
    guesses: gr.Checkbox
    forward_tab: gr.Tab
    forward_text: gr.Textbox
    forward_t: gr.Slider
    forward_seed: gr.Number
    forward: gr.HTML
    score_prompt: gr.Textbox
    score_candidates: gr.Textbox
    score_samples: gr.Slider
    score_cfg: gr.Slider
    score_seed: gr.Number
    score: gr.Button
    score_stop: gr.Button
    likelihood: gr.HTML
    compare_prompt: gr.Textbox
    compare_preset: gr.Dropdown
    compare_run: gr.Button
    compare_stop: gr.Button
    compare_a: gr.HTML
    compare_b: gr.HTML
    answer_a: gr.Textbox
    answer_b: gr.Textbox
    compare_summary: gr.Markdown
    compare_b_panel: tuple  # B's own settings, in the order of handlers.B_PANEL
    forward_last: gr.Button
    forward_example: gr.Dropdown
    reversal_pair: gr.Dropdown
    reversal_run: gr.Button
    reversal_summary: gr.Markdown
    reversal_forward: gr.HTML
    reversal_backward: gr.HTML
    reversal_answer_f: gr.Textbox
    reversal_answer_b: gr.Textbox
    reversal_twin_forward: gr.HTML
    reversal_twin_backward: gr.HTML
    reversal_twin_answer_f: gr.Textbox
    reversal_twin_answer_b: gr.Textbox


MAX_UPLOAD = "1mb"  # the page uploads nothing (a run file is opened in the browser); Gradio's route stays bounded
SWEEP_EVERY = 300.0  # s between sweeps of the export store, so exports age out with no new export


def launch_options(app: DemoApp | None = None) -> dict:
    """What launch() takes besides the address (Gradio 6 takes css and theme there). The export store is
    a static path: Gradio serves its files from where they are instead of a copy per export in its cache."""
    gr.set_static_paths([str(PLOTLY_JS), str(VIEWER_JS)] + ([str(app.exports.root)] if app else []))
    return dict(css=source(VIEWER_CSS), theme=gr.themes.Soft(primary_hue="teal"), max_file_size=MAX_UPLOAD,
                state_session_capacity=app.sessions.capacity if app else SESSIONS)


def launch(demo: gr.Blocks, app: DemoApp, block: bool = True, **kwargs) -> None:
    """Serve the page: demo.launch(**kwargs) with launch_options(), then the page's run stream
    (app/stream.py; Gradio makes its server app inside launch(), so the route is added after it)."""
    demo.launch(prevent_thread_lock=True, **launch_options(app), **kwargs)
    add_stream_route(demo.app, app)

    def sweep():
        while True:
            time.sleep(SWEEP_EVERY)
            app.exports.sweep()

    threading.Thread(target=sweep, daemon=True, name="llada-export-sweep").start()
    if block:
        demo.block_thread()


def side_view(title: str, prefix: str, elem_id: str, answer_label: str, resend, link: str | None = None,
              heatmap: bool = False):
    """One of two runs side by side (Compare, Reversal): a column with a title, a live view whose element
    ids start with `prefix` (its replay scrubs with the views of the same `link`; `heatmap`: with its
    own confidence heatmap, id prefix + "heatmap"), and its answer box."""
    options = (f'{{prefix: "{prefix}"' + (f', link: "{link}"' if link else "")
               + (", charts: element.querySelector('.ld-charts-root')" if heatmap else "") + "}")
    template = '<div class="ld-live-root"></div>' + ('<div class="ld-charts-root"></div>' if heatmap else "")
    with gr.Column(min_width=320):
        gr.Markdown(title)
        view = gr.HTML(None, html_template=template, head=HEAD, js_on_load=live_js(options),
                       elem_id=elem_id, apply_default_css=False, server_functions=[resend])
        answer = gr.Textbox(label=answer_label, lines=2, interactive=False)
    return view, answer


def layout(app: DemoApp) -> Page:
    """The components, in page order. Two rows, so that a phone (where columns stack) shows prompt,
    grid, settings, charts in that order."""
    default = app.default
    d = default.defaults
    # answer lengths up to what the default model can hold after a short prompt
    max_len = min(MAX_LENGTH, app.model(None)[1].model.config.max_sequence_length - 32)

    def resend(request):  # the page's `server.resend`; a plain function, which Gradio can mark as one
        return app.resend(request)

    banner = gr.HTML(app.banner())
    with gr.Tabs():
        with gr.Tab("Generate"):
            gr.Markdown("LLaDA writes by **unmasking**: the answer starts as masks and, at every step, the model "
                        "predicts all of them and commits the ones it is most sure of. Watch it below.")
            current = gr.State(default.label)
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    model = gr.Dropdown(list(app.choices), value=default.label, label="Model")
                    chatbot = gr.Chatbot(label="Conversation", visible=default.chat, height=260,
                                         render_markdown=False)  # what the user and the model wrote, as text
                    new_chat = gr.Button("New chat", size="sm", visible=default.chat)
                    prompt = gr.Textbox(label="Prompt", lines=3, placeholder="Type a prompt, then Generate")
                    with gr.Row():
                        run = gr.Button("Generate", variant="primary")
                        stop = gr.Button("Stop", variant="stop")
                    answer = gr.Textbox(label="Answer", lines=3, interactive=False)
                    with gr.Row():
                        export = gr.Button("Export run (JSON + standalone HTML)", size="sm")
                    exports = gr.File(label="Exported run", file_count="multiple", interactive=False, visible=False)
                with gr.Column(scale=3, min_width=320):
                    live = gr.HTML(None, html_template='<div class="ld-live-root"></div>', head=HEAD, js_on_load=live_js(),
                                   elem_id="ld-live", apply_default_css=False, server_functions=[resend])
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    with gr.Accordion("Settings", open=True):
                        gen_length = gr.Slider(8, max_len, value=d.gen_length, step=1, label="Answer length (tokens)")
                        steps = gr.Slider(1, max_len, value=d.steps, step=1, label="Steps")
                        block_length = gr.Slider(1, max_len, value=d.block_length, step=1, label="Block length")
                        plan = gr.Markdown(plan_text(d.gen_length, d.steps, d.block_length))
                        temperature = gr.Slider(0, 2, value=d.temperature, step=0.05, label="Temperature")
                        cfg_scale = gr.Slider(0, 5, value=d.cfg_scale, step=0.1, label="CFG scale")
                        remasking = gr.Dropdown(list(REMASKING_STRATEGIES), value=d.remasking,
                                                label="Remasking strategy")
                        decoding = gr.Dropdown(list(DECODING_RULES), value=d.decoding, label="Decoding rule: fixed (LLaDA: "
                                               "tokens per step from the schedule), threshold or factor (Fast-dLLM: as "
                                               "many as the model is sure of)")
                        with gr.Row():
                            threshold = gr.Slider(0, 1, value=d.threshold, step=0.01, label="Threshold (confidence)")
                            factor = gr.Slider(0.05, 4, value=d.factor, step=0.05, label="Factor f")
                        cache = gr.Dropdown(["none", "prefix", "dual"], value=d.cache or "none", label="Key/value cache (Fast-dLLM; "
                                            "approximate): recompute only the block and after (prefix) or the block (dual)")
                        seed = gr.Number(value=0, precision=0, label="Seed")
                        fixed = gr.Textbox(label="Fixed tokens (answer position: text)", placeholder="0: And, 10: God")
                        infill = gr.Checkbox(label=f"Infill mode: fill each {MASK_PLACEHOLDER} in the prompt")
                        stop_at_eos = gr.Checkbox(value=d.stop_at_eos, label="Stop at EOS: end once everything before the first end-of-text "
                                                        "is written (the answer cannot change after that; not in infill)")
                        guesses = gr.Checkbox(value=True, label="Show the model's guesses under the masks")
                with gr.Column(scale=3, min_width=320):
                    charts = gr.HTML(None, html_template='<div class="ld-charts-root"></div>', head=HEAD,
                                     js_on_load=CHARTS_JS, elem_id="ld-charts", apply_default_css=False)
            gr.Examples([[e] for e in app.examples], inputs=[prompt],
                        label="Examples (their runs are cached after the first one)")
            for choice in (c for c in app.choices.values() if c.examples):
                gr.Examples([[e, choice.label] for e in choice.examples], inputs=[prompt, model],
                            label=f"{choice.label}: examples (they choose this model)")
        with gr.Tab("Compare"):
            gr.Markdown("**What does a setting do?** The same prompt and model, run twice: A with the Generate "
                        "tab's settings, B with them changed as the preset says. Their steps are interleaved, so "
                        "both grids move together; the replay slider of either scrubs both.")
            with gr.Row():
                compare_prompt = gr.Textbox(value="In the beginning", label="Prompt (both runs)", scale=3)
                compare_preset = gr.Dropdown(app.presets(), value=next(iter(PRESETS)), label="Compare", scale=3)
                compare_run = gr.Button("Generate both", variant="primary", scale=1)
                compare_stop = gr.Button("Stop", variant="stop", scale=1)
            with gr.Accordion("B's own settings (used with the preset 'A vs B with its own settings')", open=False):
                with gr.Row():
                    compare_b_panel = (
                        gr.Slider(8, max_len, value=d.gen_length, step=1, label="B: answer length (tokens)"),
                        gr.Slider(1, max_len, value=d.steps, step=1, label="B: steps"),
                        gr.Slider(1, max_len, value=d.block_length, step=1, label="B: block length"),
                        gr.Slider(0, 2, value=d.temperature, step=0.05, label="B: temperature"),
                        gr.Dropdown(list(REMASKING_STRATEGIES), value=d.remasking, label="B: remasking"),
                        gr.Dropdown(list(DECODING_RULES), value="threshold", label="B: decoding rule"),
                        gr.Slider(0, 1, value=0.9, step=0.01, label="B: threshold"))
            compare_summary = gr.Markdown()
            with gr.Row(equal_height=False):
                compare_a, answer_a = side_view("**A**", "ld-a-", "ld-compare-a", "Answer A", resend, link="compare",
                                                heatmap=True)
                compare_b, answer_b = side_view("**B**", "ld-b-", "ld-compare-b", "Answer B", resend, link="compare",
                                                heatmap=True)
        with gr.Tab("Reversal"):
            pairs = list(app.reversal_pairs())
            gr.Markdown("**Forwards and backwards.** An autoregressive model writes left to right, so knowing a "
                        "verse does not tell it the verse before (the reversal curse). A diffusion model fills "
                        "masks wherever they are. Pick two consecutive verses A and B of a famous passage: the "
                        "model writes B after A (forward) and fills A before B (backward), greedy, live." +
                        ("" if pairs else "  \n*The KJV is not installed here (Debian's bible-kjv): no verses.*"))
            with gr.Row():
                reversal_pair = gr.Dropdown(pairs, value=pairs[0] if pairs else None, label="Verse pair", scale=4)
                reversal_run = gr.Button("Run both directions", variant="primary", scale=1)
            reversal_summary = gr.Markdown()
            with gr.Row(equal_height=False):
                reversal_forward, reversal_answer_f = side_view("**Forward**: given A, write B", "ld-f-",
                                                                "ld-reversal-f", "Written B", resend)
                reversal_backward, reversal_answer_b = side_view("**Backward**: given B, fill A", "ld-r-",
                                                                 "ld-reversal-b", "Filled A", resend)
            gr.Markdown("**Its autoregressive twin** (when the app has one: the bundled model's, or the recitation "
                        "model's) writes B after A too. It cannot fill text before a given text, so backward it is "
                        "*asked*, in the LLaDA paper's form: `The verse before: B`, then it writes. The recitation "
                        "twin learned such questions on half of the passages "
                        f"({', '.join(app.instructed()) or 'none'}); the others test verses it read forwards only.")
            with gr.Row(equal_height=False):
                reversal_twin_forward, reversal_twin_answer_f = side_view(
                    "**Twin, forward**: given A, write B", "ld-tf-", "ld-reversal-tf", "Twin: written B", resend)
                reversal_twin_backward, reversal_twin_answer_b = side_view(
                    "**Twin, backward**: asked for the verse before B", "ld-tr-", "ld-reversal-tr", "Twin: written A",
                    resend)
        with gr.Tab("Forward process") as forward_tab:
            gr.Markdown("**Training is the forward process, and learning to undo it.** Each token of a text is "
                        "masked with probability *t*; the model sees the masked text and predicts every masked "
                        "token at once. Raise *t* to mask more (each token has one random draw, so raising *t* only "
                        "adds masks); the cells show the model's one-pass prediction, outlined green where it is "
                        "right and red where it is wrong. The chart shows, over *t*, the share it gets right and "
                        "LLaDA's training loss (cross-entropy on the masked tokens, weighted 1/*t*).")
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    forward_text = gr.Textbox(value=FORWARD_TEXT, lines=3, label="Text")
                    forward_t = gr.Slider(0, 1, value=0.3, step=0.01, label="Mask ratio t")
                    forward_seed = gr.Number(value=0, precision=0, label="Seed of the draws")
                    forward_example = gr.Dropdown(FORWARD_EXAMPLES, value=None, label="Example texts")
                    forward_last = gr.Button("Use the last answer from Generate", size="sm")
                with gr.Column(scale=3, min_width=320):
                    forward = gr.HTML(None, html_template='<div class="ld-forward-root"></div>', head=HEAD,
                                      js_on_load=FORWARD_JS, elem_id="ld-forward", apply_default_css=False)
        with gr.Tab("Likelihood"):
            gr.Markdown("**How likely is an answer?** A diffusion model has no left-to-right probability; LLaDA "
                        "scores an answer with a lower bound on log p(answer | prompt), estimated by Monte Carlo: "
                        "mask a random number of the answer's tokens, score the masked ones, weight by how many "
                        "were masked, and average. The estimate sharpens as samples accumulate (bars: mean ± "
                        "standard error, in nats; higher is more likely).")
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    score_prompt = gr.Textbox(value=SCORE_PROMPT, lines=2, label="Prompt")
                    score_candidates = gr.Textbox(value=SCORE_CANDIDATES, lines=4,
                                                  label="Candidate answers (one per line)")
                    score_samples = gr.Slider(16, 512, value=128, step=16, label="Monte Carlo samples")
                    score_cfg = gr.Slider(0, 5, value=0, step=0.1, label="CFG scale (likelihood)")
                    score_seed = gr.Number(value=0, precision=0, label="Seed (likelihood)")
                    with gr.Row():
                        score = gr.Button("Score", variant="primary")
                        score_stop = gr.Button("Stop", variant="stop")
                with gr.Column(scale=3, min_width=320):
                    likelihood = gr.HTML(None, html_template='<div class="ld-likelihood-root"></div>', head=HEAD,
                                         js_on_load=LIKELIHOOD_JS, elem_id="ld-likelihood", apply_default_css=False)
    return Page(banner, model, current, chatbot, new_chat, prompt, run, stop, answer, export, exports, live, charts,
                gen_length, steps, block_length, plan, temperature, cfg_scale, remasking, seed, fixed, infill,
                stop_at_eos, decoding, threshold, factor, cache, guesses, forward_tab, forward_text, forward_t,
                forward_seed, forward, score_prompt, score_candidates, score_samples, score_cfg, score_seed, score,
                score_stop, likelihood, compare_prompt, compare_preset, compare_run, compare_stop, compare_a, compare_b, answer_a,
                answer_b, compare_summary, compare_b_panel, forward_last, forward_example, reversal_pair, reversal_run, reversal_summary, reversal_forward,
                reversal_backward, reversal_answer_f, reversal_answer_b, reversal_twin_forward, reversal_twin_backward,
                reversal_twin_answer_f, reversal_twin_answer_b)


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

    api_functions: dict  # endpoint name -> the handler it calls

    def validate_inputs(self, block_fn, inputs):
        fn = getattr(self, "api_functions", {}).get(block_fn.api_name)
        if fn is not None:
            complete_arguments(f"/{block_fn.api_name}", fn, inputs)
        super().validate_inputs(block_fn, inputs)


def build_demo(app: DemoApp) -> gr.Blocks:
    # Gradio's own cache (files it copies for components) swept every 10 min of what is over an hour old
    with DemoBlocks(title="llada-demo: watch a diffusion LM write", delete_cache=(600, 3600)) as demo:
        p = app.page = layout(app)
        settings = [p.gen_length, p.steps, p.block_length, p.infill, p.decoding]
        for comp in settings:
            comp.change(plan_text, settings, p.plan, show_progress="hidden", api_visibility="private")
        p.model.change(app.select_model, [p.model, p.current],
                       [p.model, p.current, p.banner, p.chatbot, p.new_chat, p.gen_length, p.steps, p.block_length,
                        p.temperature, p.cfg_scale, p.remasking, p.decoding, p.threshold, p.factor, p.cache,
                        p.stop_at_eos], api_visibility="private")
        inputs = [p.prompt, p.chatbot, p.current, p.gen_length, p.steps, p.block_length, p.temperature, p.cfg_scale,
                  p.remasking, p.seed, p.fixed, p.infill, p.stop_at_eos, p.decoding, p.threshold, p.factor,
                  p.cache]
        outputs = [p.live, p.answer, p.chatbot, p.exports]
        # Runs share one queue slot per app ("model"): a GPU holds one run at a time. Stop and export
        # need no model and never wait behind a run.
        run_on_gpu = gpu(app.generate_run)
        p.run.click(run_on_gpu, inputs, outputs, api_visibility="private", concurrency_id="model",
                    concurrency_limit=1, show_progress="hidden")
        p.prompt.submit(run_on_gpu, inputs, outputs, api_visibility="private", concurrency_id="model",
                        show_progress="hidden")
        # Stop sets the tab's stop flag, which the run checks before every step; the run then sends
        # its end. Not `cancels=`: a cancelled task leaves its generator suspended, so the run never
        # says it has stopped, and in our measurements some cancels only took effect at the end.
        p.stop.click(app.stop_run, None, None, api_visibility="private", concurrency_limit=None,
                     show_progress="hidden")
        p.export.click(app.export_run, None, p.exports, api_visibility="private", concurrency_limit=None)
        p.guesses.change(None, p.guesses, None, js=GUESSES_JS, api_visibility="private")
        p.score.click(app.score_answers, [p.score_prompt, p.score_candidates, p.score_samples, p.score_cfg, p.score_seed,
                                          p.current], p.likelihood, api_visibility="private", concurrency_id="model",
                      show_progress="hidden")
        p.compare_run.click(gpu(app.compare_run), [p.compare_prompt, p.compare_preset, p.current, p.gen_length, p.steps,
                                                   p.block_length, p.temperature, p.cfg_scale, p.remasking, p.seed,
                                                   *p.compare_b_panel],
                            [p.compare_a, p.compare_b, p.answer_a, p.answer_b, p.compare_summary],
                            api_visibility="private", concurrency_id="model", show_progress="hidden")
        for stop in (p.compare_stop, p.score_stop):
            stop.click(app.stop_run, None, None, api_visibility="private", concurrency_limit=None,
                       show_progress="hidden")
        p.reversal_run.click(gpu(app.reversal_run), [p.reversal_pair, p.current],
                             [p.reversal_forward, p.reversal_backward, p.reversal_answer_f, p.reversal_answer_b,
                              p.reversal_twin_forward, p.reversal_twin_backward, p.reversal_twin_answer_f,
                              p.reversal_twin_answer_b, p.reversal_summary], api_visibility="private",
                             concurrency_id="model", show_progress="hidden")
        forward_inputs = [p.forward_text, p.forward_t, p.forward_seed, p.current]
        for pick in (p.forward_last.click(app.last_answer, None, p.forward_text, api_visibility="private"),
                     p.forward_example.input(app.forward_example, p.forward_example, p.forward_text,
                                             api_visibility="private")):
            pick.then(app.forward_process, forward_inputs, p.forward, api_visibility="private", show_progress="hidden",
                      concurrency_id="model", trigger_mode="always_last")
        for event in (p.forward_tab.select, p.forward_text.submit, p.forward_text.blur, p.forward_t.change,
                      p.forward_seed.submit):
            event(app.forward_process, forward_inputs, p.forward, api_visibility="private", show_progress="hidden",
                  concurrency_id="model", trigger_mode="always_last")
        p.new_chat.click(lambda: [], None, p.chatbot, api_visibility="private")
        demo.unload(app.close_session)
        demo.api_functions = {"denoise": app.api_denoise, "run": app.api_run}
        for name, fn in demo.api_functions.items():
            gr.api(gpu(fn), api_name=name, concurrency_id="model")
    # max_size keeps a queue of waiting runs (ZeroGPU otherwise keeps only one waiting)
    demo.queue(max_size=32, default_concurrency_limit=1)
    # An idle Gradio polls its queue every 1 ms on Linux (gradio/queueing.py, `sleep_when_free`; seen with
    # strace as an epoll_wait every millisecond): 3.7% of a core with no tab open. Its Windows values (50 ms,
    # 100 ms) bring that to 0.5% (bench/bench_idle.py) and add at most 50 ms before an event starts.
    # Private attributes, set after queue(), which makes the queue: check them when Gradio is upgraded.
    demo._queue.sleep_when_free = 0.05
    demo._queue.progress_update_sleep_when_free = 0.1
    return demo
