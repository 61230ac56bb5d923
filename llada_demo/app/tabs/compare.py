"""Compare: the same prompt and model run twice, A with the Generate tab's settings and B with them changed
as a preset says (or with its own panel), both grids moving together."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr

from ..controls import Panel
from ..errors import page_handler
from ..runs import prepare, stream_runs
from ..widgets import CLOSE_TOASTS, side_view

# Compare's presets: (settings A from the Generate tab's, settings B from those), as dicts of fields
PRESETS = {
    "LLaDA's order vs left to right (B: blocks of 1 token)":
        (lambda s: s, lambda s: {**s, "block_length": 1, "steps": s["gen_length"]}),
    "one block vs blocks of 32": (lambda s: {**s, "block_length": s["gen_length"]}, lambda s: {**s, "block_length": 32}),
    "low-confidence vs random remasking":
        (lambda s: {**s, "remasking": "low_confidence"}, lambda s: {**s, "remasking": "random"}),
    "fixed steps vs confidence threshold 0.9": (lambda s: s, lambda s: {**s, "decoding": "threshold", "threshold": 0.9}),
    "all the steps vs half of them": (lambda s: s, lambda s: {**s, "steps": max(1, int(s["steps"]) // 2)}),
}
TWIN_PRESET = "the diffusion model vs its autoregressive twin (same settings)"
CUSTOM_PRESET = "A vs B with its own settings (the panel below)"
B_FIELDS = ("gen_length", "steps", "block_length", "temperature", "remasking", "decoding", "threshold")


def describe(settings) -> str:
    """Settings in one line, for the summary."""
    rule = settings.decoding if settings.decoding == "fixed" else f"{settings.decoding} {settings.threshold:g}"
    return (f"{settings.gen_length} tokens, {settings.steps} steps, blocks of {settings.block_length}, "
            f"{settings.remasking} remasking, {rule} decoding, temperature {settings.temperature:g}")


def summary(jobs, sides=("A", "B")) -> str:
    """Forward passes, tokens per pass and time of each run, and where the answers differ (token by token
    over the canvas)."""
    runs = []
    for side, job in zip(sides, jobs):
        records = job.trajectory.records
        passes = records[-1].forward_passes if records else 0
        per_pass = sum(len(r.committed) for r in records) / passes if passes else 0.0
        runs.append(f"{side} ({job.choice.short}): {passes} forward passes ({per_pass:.2f} tokens per pass, "
                    f"{records[-1].elapsed if records else 0:.2f} s)")
    a, b = (job.trajectory.final_tokens() for job in jobs)
    n = min(len(a), len(b))
    differ = [i for i in range(n) if a[i] != b[i]]
    where = (f"the answers differ at {len(differ)} of {n} positions, first at {differ[0]}" if differ
             else "the answers are the same, token for token")
    return " · ".join(runs) + f" · {where}."


def answer_boxes(boxes, states, answers) -> dict:
    """Each run's answer for its box; a stopped run's says so."""
    return {box: a if state == "done" else f"(stopped) {a}" for box, state, a in zip(boxes, states, answers)}


class CompareTab:
    def __init__(self, app, settings_a: Panel, gpu):
        self.app, self.settings_a = app, settings_a
        d = app.default.defaults
        gr.Markdown("**What does a setting do?** The same prompt and model, run twice: A with the Generate tab's "
                    "settings, B with them changed as the preset says. Their steps are interleaved, so both grids "
                    "move together; the replay slider of either scrubs both.")
        with gr.Row():
            self.prompt = gr.Textbox(value="In the beginning", label="Prompt (both runs)", scale=2)
            self.preset = gr.Dropdown(self.presets(), value=next(iter(PRESETS)), label="Compare", scale=4)
            self.run_button = gr.Button("Generate both", variant="primary", scale=1)
            self.stop_button = gr.Button("Stop", variant="stop", scale=1)
        self.advice = gr.Markdown(self.preset_advice(next(iter(PRESETS)), None, _fields(d)))
        with gr.Accordion("B's own settings (used with the preset 'A vs B with its own settings')", open=False):
            with gr.Row():
                self.panel_b = Panel(replace(d, decoding="threshold", threshold=0.9), settings_a.longest,
                                     fields=B_FIELDS, prefix="B: ")
        self.summary = gr.Markdown()
        with gr.Row(equal_height=False, elem_classes=["ld-sides"]):
            self.view_a, self.answer_a = side_view("**A**", "ld-a-", "ld-compare-a", "Answer A", app,
                                                   link="compare", heatmap=True)
            self.view_b, self.answer_b = side_view("**B**", "ld-b-", "ld-compare-b", "Answer B", app,
                                                   link="compare", heatmap=True)
        self.wire(gpu)

    def wire(self, gpu):
        app = self.app
        advice_inputs = {self.preset, app.current, *self.settings_a.inputs}
        for event in (self.preset.change, app.current.change):
            event(lambda v: self.preset_advice(v[self.preset], v[app.current], self.settings_a.read(v)), advice_inputs,
                  self.advice, show_progress="hidden", api_visibility="private")
        inputs = {self.prompt, self.preset, app.current, *self.settings_a.inputs, *self.panel_b.inputs}

        def on_run(values: dict, request: gr.Request):
            yield from self.run(values[self.prompt], values[self.preset], self.settings_a.read(values),
                                self.panel_b.read(values), model=values[app.current], request=request)

        self.run_button.click(None, js=CLOSE_TOASTS, api_visibility="private")
        self.run_button.click(gpu(on_run), inputs, [self.view_a, self.view_b, self.answer_a, self.answer_b,
                                                    self.summary], api_visibility="private", concurrency_id="model",
                              show_progress="hidden")
        self.stop_button.click(app.stop, None, None, api_visibility="private", concurrency_limit=None,
                               show_progress="hidden")

    def presets(self) -> list[str]:
        """The presets; the twin's when the app offers the bundled model's twin."""
        twin = self.app.twin_of(self.app.default) is not None
        return list(PRESETS) + [CUSTOM_PRESET] + ([TWIN_PRESET] if twin else [])

    def preset_advice(self, preset: str, label: str | None, settings: dict) -> str:
        """What a preset can show on the chosen model, said before it runs when it can show nothing."""
        choice = self.app.choices.get(label or self.app.default.label, self.app.default)
        if preset == "fixed steps vs confidence threshold 0.9" and choice.defaults.decoding == "fixed":
            confident = [c.short for c in self.app.choices.values() if c.defaults.decoding != "fixed"]
            return (f"*{choice.short.capitalize()} is rarely 90% sure of a token, so B will commit about one token "
                    "per step, as A does."
                    + (f" Choose the {confident[0]} model in the Generate tab to see the difference.*" if confident
                       else "*"))
        if preset == "one block vs blocks of 32" and int(settings.get("gen_length") or 0) <= 32:
            return "*An answer of 32 tokens or fewer is one block either way: set a longer answer length.*"
        return ""

    @page_handler
    def run(self, prompt, preset: str, settings_a: dict, settings_b: dict | None = None, *,
            model: str | None = None, request: gr.Request = None):
        """A (the Generate tab's settings) and B (A changed as the preset says, or B's own panel), steps
        interleaved so that both grids move together; then both answers and where they differ."""
        app = self.app
        a, label_b = dict(settings_a), model
        if preset == TWIN_PRESET:  # B: the same settings on the autoregressive twin, left to right
            twin = app.twin_of(app.model(model)[0])
            if twin is None:
                raise gr.Error("This preset needs the model's autoregressive twin, which this app does not "
                               "offer: choose another preset.")
            b, label_b = dict(a), twin.label
        elif preset == CUSTOM_PRESET:
            b = {**a, **(settings_b or {})}
        elif preset in PRESETS:
            b = PRESETS[preset][1](dict(a))
            a = PRESETS[preset][0](a)
        else:
            raise gr.Error(f"{preset!r} is not a preset; choose one of: {', '.join(self.presets())}")
        jobs = [prepare(app, model, prompt, a), prepare(app, label_b, prompt, b)]
        head = "A: " + describe(jobs[0].settings) + "  \nB: " + describe(jobs[1].settings)
        boxes = (self.answer_a, self.answer_b)
        yield from stream_runs(app, zip(jobs, (self.view_a, self.view_b)), request,
                               {self.answer_a: "", self.answer_b: "", self.summary: head},
                               lambda jobs, states, answers: {**answer_boxes(boxes, states, answers),
                                                              self.summary: summary(jobs)})


def _fields(settings) -> dict:
    return {"gen_length": settings.gen_length}
