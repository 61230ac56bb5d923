"""Generate: a prompt, the run drawn live (grid, heatmap, replay), its settings, the model menu, export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gradio as gr

from ...trace import Trajectory
from ...trace.wire import encode_run, run_document
from ...views import standalone_html
from ..controls import PLAN_FIELDS, Panel, plan_text
from ..errors import page_handler, warn
from ..runs import paced, prepare, stream_runs
from ..steer import branch_job
from ..widgets import CLOSE_TOASTS, charts_view, live_view

KEEP_EXAMPLE_RUNS = 64  # cached runs of the example prompts (a client may vary the settings without end)
GUESSES_JS = "(on) => { const v = window.LladaView && LladaView.registry.live; if (v) v.setGuesses(on); return []; }"


class GenerateTab:
    """The first tab. Its settings panel is also Compare's A; its last answer the Forward process tab's."""

    def __init__(self, app, banner: gr.HTML, longest: int, gpu):
        self.app, self.banner = app, banner
        self.example_runs: dict[tuple, Trajectory] = {}  # lazily cached runs of the example prompts
        default = app.default
        gr.Markdown("LLaDA writes by **unmasking**: the answer starts as masks and, at every step, the model predicts "
                    "all of them and commits the ones it is most sure of. Watch it below.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                self.model = gr.Dropdown(list(app.choices), value=default.label, label="Model",
                                         elem_id="ld-model")
                self.chatbot = gr.Chatbot(label="Conversation", visible=default.chat, height=260,
                                          render_markdown=False)  # what the user and the model wrote, as text
                self.new_chat = gr.Button("New chat", size="sm", visible=default.chat)
                self.prompt = gr.Textbox(label="Prompt", lines=3, placeholder="Type a prompt, then Generate",
                                         elem_id="ld-prompt")
                with gr.Row():
                    self.run_button = gr.Button("Generate", variant="primary")
                    self.stop_button = gr.Button("Stop", variant="stop")
                self.answer = gr.Textbox(label="Answer", lines=3, interactive=False, elem_id="ld-answer")
                self.export_button = gr.Button("Export run (JSON + standalone HTML)", size="sm")
                self.exports = gr.File(label="Exported run", file_count="multiple", interactive=False, visible=False)
            with gr.Column(scale=3, min_width=320):
                # the live view: a cell clicked is inspected there; "continue from here" comes back as its
                # `submit` event, with the continuation asked for as its data (see wire())
                self.live = live_view(app, "ld-live", {"opened": {"prompt": "ld-prompt", "answer": "ld-answer"},
                                                       "steer": True})
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                with gr.Accordion("Settings", open=True):
                    self.panel = Panel(default.defaults, longest, plan=plan_text(_fields(default.defaults)))
                    self.fixed = gr.Textbox(label="Fixed tokens (answer position: text)", placeholder="0: And, 10: God")
                    self.guesses = gr.Checkbox(value=True, label="Show the model's guesses under the masks")
            with gr.Column(scale=3, min_width=320):
                self.charts = charts_view()
        gr.Examples([[e] for e in app.examples], inputs=[self.prompt],
                    label="Examples (their runs are cached after the first one)")
        for choice in (c for c in app.choices.values() if c.examples):
            gr.Examples([[e, choice.label] for e in choice.examples], inputs=[self.prompt, self.model],
                        label=f"{choice.label}: examples (they choose this model)")
        self.wire(gpu)

    def wire(self, gpu):
        app, panel = self.app, self.panel
        plan_inputs = {panel.controls[f] for f in PLAN_FIELDS} | {app.current}
        # One queue for every field's plan event, one at a time: the line is then the plan of the values
        # last changed. Each field's own queue ran them side by side, and a plan of a model's defaults
        # (set by choosing it) could land after the plan of the lengths typed just after.
        for field in PLAN_FIELDS:
            panel.controls[field].change(self.plan, plan_inputs, panel.plan, show_progress="hidden",
                                         api_visibility="private", trigger_mode="always_last",
                                         concurrency_id="plan", concurrency_limit=1)
        self.model.change(self.select_model, [self.model, app.current],
                          [self.model, app.current, self.banner, self.chatbot, self.new_chat, panel.plan,
                           *panel.controls.values()], api_visibility="private")
        inputs = {self.prompt, self.chatbot, app.current, self.fixed, *panel.inputs}

        def on_run(values: dict, request: gr.Request):
            yield from self.run(values[self.prompt], panel.read(values), history=values[self.chatbot],
                                model=values[app.current], fixed=values[self.fixed], request=request)

        outputs = [self.live, self.answer, self.chatbot, self.exports]
        # Runs share one queue slot per app ("model"): a GPU holds one run at a time. Stop and export
        # need no model and never wait behind a run.
        for start in (self.run_button.click, self.prompt.submit):
            start(None, js=CLOSE_TOASTS, api_visibility="private")
            start(gpu(on_run), inputs, outputs, api_visibility="private", concurrency_id="model",
                  concurrency_limit=1, show_progress="hidden")
        # Stop sets the tab's stop flag, which the run checks before every step; the run then sends its
        # end. Not `cancels=`: a cancelled task leaves its generator suspended, so the run never says it
        # has stopped, and in our measurements some cancels only took effect at the end.
        self.stop_button.click(app.stop, None, None, api_visibility="private", concurrency_limit=None,
                               show_progress="hidden")
        self.export_button.click(self.export, None, self.exports, api_visibility="private", concurrency_limit=None)

        def on_continue(event: gr.EventData, request: gr.Request):
            yield from self.continue_run(event._data, request=request)

        self.live.submit(gpu(on_continue), None, [self.live, self.answer, self.exports], api_visibility="private",
                         concurrency_id="model", show_progress="hidden")
        self.guesses.change(None, self.guesses, None, js=GUESSES_JS, api_visibility="private")
        self.new_chat.click(lambda: [], None, self.chatbot, api_visibility="private")

    # ---- handlers -----------------------------------------------------------------------------------
    def plan(self, values: dict) -> str:
        """The line under the sliders, for the model chosen."""
        fields = {f: values[self.panel.controls[f]] for f in PLAN_FIELDS}
        return plan_text(fields, causal=self.app.causal(values[self.app.current]))

    def select_model(self, label: str, previous: str, progress=gr.Progress(track_tqdm=True)) -> dict:
        """Load the chosen model (with download progress) and show its own settings (its card's
        generation_config.json); on failure keep the previous one."""
        app = self.app
        if label == previous:  # the dropdown set back after a failed load: keep the user's settings
            return {}
        try:
            choice = app.choices[label]
            progress(0, desc=f"loading {label}")
            app.cache.get(choice)
        except Exception as e:  # no GPU memory, no network, a broken checkpoint: the app stays usable
            warn(f"Could not load {label}: {e}. Staying on {previous}.")
            label, choice = previous, app.choices[previous]
        d = choice.defaults
        return {self.model: label, app.current: label, self.banner: app.banner(label),
                self.chatbot: gr.update(visible=choice.chat), self.new_chat: gr.update(visible=choice.chat),
                self.panel.plan: plan_text(_fields(d), causal=app.causal(label)), **self.panel.show(d)}

    @page_handler
    def run(self, prompt, settings: dict, *, history=(), model: str | None = None, fixed: str = "",
            request: gr.Request = None):
        """Stream a run to the live view (stream.py: through the page's own stream, or through this
        generator's values): a start message, every step's record, and an end message with the answer;
        then the answer box and the chat. `settings`: SamplingSettings fields as the panel holds them.
        Runs of the example prompts are cached lazily and streamed again at their first pace."""
        app = self.app
        job = prepare(app, model, prompt, settings, history=history, fixed=fixed)
        session = app.sessions.of(request)
        session.trajectory, session.state, session.answer = job.trajectory, "", ""
        cached = self.example_runs.get(job.cache_key)
        if cached is not None:
            job.records = paced(cached.records)

        def finish(jobs, states, answers):
            state, answer = states[0], answers[0]  # done: every step, or settled at EOS (stop_at_eos)
            session.state, session.answer = state, answer
            if state == "done" and job.cache_key is not None and cached is None:
                self.example_runs[job.cache_key] = job.trajectory
                while len(self.example_runs) > KEEP_EXAMPLE_RUNS:
                    self.example_runs.pop(next(iter(self.example_runs)))
            out = {self.answer: answer if state == "done" else f"(stopped) {answer}"}
            if job.choice.chat and state == "done":
                out[self.chatbot] = list(history or []) + [{"role": "user", "content": prompt},
                                                           {"role": "assistant", "content": answer}]
            return out

        yield from stream_runs(app, [(job, self.live)], request,
                               {self.answer: "", self.exports: gr.update(value=None, visible=False)}, finish)

    @page_handler
    def continue_run(self, asked: dict, request: gr.Request = None):
        """A branch: the run the page shows, continued from the step it shows, with the cells set or
        masked again there (steer.branch_job), streamed to the live view as a run of its own."""
        job = branch_job(self.app, asked)
        session = self.app.sessions.of(request)
        session.trajectory, session.state, session.answer = job.trajectory, "", ""

        def finish(jobs, states, answers):
            session.state, session.answer = states[0], answers[0]
            return {self.answer: answers[0] if states[0] == "done" else f"(stopped) {answers[0]}"}

        yield from stream_runs(self.app, [(job, self.live)], request,
                               {self.answer: "", self.exports: gr.update(value=None, visible=False)}, finish)

    @page_handler
    def export(self, request: gr.Request = None) -> dict:
        """The tab's last run as a JSON file (its messages: records and settings, loadable into the
        replay) and a standalone HTML page that replays it with no server and no network."""
        session = self.app.sessions.of(request)
        trajectory = session.trajectory
        if trajectory is None or not trajectory.records:
            raise gr.Error("Run the model first; then Export saves the run.")
        if session.busy:
            raise gr.Error("The run is still going: wait for it to end, or Stop it, then export.")
        files = self.write_exports(trajectory, session.state or "done", session.answer)
        return {self.exports: gr.update(value=[str(f) for f in files], visible=True)}

    def write_exports(self, trajectory: Trajectory, state: str, answer: str) -> list[Path]:
        """The run's JSON and standalone HTML in the export store: written once per distinct run (the same
        run exported again returns the same files), within the store's size and age bounds."""
        app = self.app
        choice, loaded = app.model(trajectory.label)
        messages = encode_run(trajectory, app.text_of(choice.label, loaded), app.stop_ids(loaded), state, answer)
        document = run_document(messages)
        content = json.dumps(document, ensure_ascii=False)
        name = re.sub(r"[^A-Za-z0-9]+", "-", choice.label.split(":")[0]).strip("-").lower() or "run"
        name = f"llada-{name}-{trajectory.steps_done}-steps"

        def write(folder: Path) -> list[Path]:
            json_path, html_path = folder / f"{name}.json", folder / f"{name}.html"
            json_path.write_text(content, encoding="utf-8")
            title = f"llada-demo · {choice.label} · {state} after {trajectory.steps_done}/{trajectory.steps} steps"
            html_path.write_text(standalone_html(document, title), encoding="utf-8")
            return [json_path, html_path]

        return app.exports.files(content, write)


def _fields(settings) -> dict:
    return {f: getattr(settings, f) for f in PLAN_FIELDS}
