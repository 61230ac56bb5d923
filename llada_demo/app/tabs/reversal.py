"""Reversal: two consecutive verses A and B; the diffusion model writes B after A and fills A before B, its
autoregressive twin writes B after A and is asked for the verse before B, all four live."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr

from ...loading import BUNDLED_MODEL_DIR
from ...reversal import (DEFAULT_PASSAGES, answer_of, fill_canvas, instruction_ids, labelled_pairs, pair_ids, table,
                         writing_settings)
from ...sampling import SamplingSettings, denoise
from ...trace import Trajectory
from ..errors import page_handler
from ..runs import Job, stream_runs
from ..widgets import CLOSE_TOASTS, side_view


@dataclass
class Direction:
    """One of the tab's four runs, as `python -m llada_demo.reversal` runs it: a model, what it is given,
    how it writes, the tokens it should write and how they are read from its canvas, and where it is drawn."""

    name: str
    choice: object  # ModelChoice
    loaded: object  # LoadedModel
    prompt: list[int]
    settings: SamplingSettings
    expected: list[int]
    read: Callable[[list[int]], list[int]]
    view: gr.HTML
    box: gr.Textbox

    def job(self) -> Job:
        records = denoise(self.loaded, [self.prompt], settings=self.settings)
        tok = self.loaded.tokenizer
        return Job(self.choice, self.loaded, records.settings, records,
                   Trajectory(records.canvas, records.settings, self.choice.label),
                   read=lambda t: tok.decode(self.written(t), skip_special_tokens=True))

    def written(self, trajectory: Trajectory) -> list[int]:
        return self.read(trajectory.final_tokens().tolist())

    def exact(self, trajectory: Trajectory) -> bool:
        return self.written(trajectory) == self.expected


def measured(choice) -> dict:
    """The model's reversal numbers as measured (reversal.json beside its checkpoint), {} if none."""
    path = (Path(choice.source) if choice.source else BUNDLED_MODEL_DIR) / "reversal.json"
    return json.loads(path.read_text()) if path.is_file() else {}


class ReversalTab:
    def __init__(self, app, gpu):
        self.app = app
        self._pairs: dict[str, tuple[str, str]] | None = None
        pairs, models = list(self.pairs()), self.models()
        gr.Markdown("**Forwards and backwards.** An autoregressive model writes left to right, so knowing a verse "
                    "does not tell it the verse before (the reversal curse). A diffusion model fills masks wherever "
                    "they are. Pick two consecutive verses A and B of a famous passage: the model writes B after A "
                    "(forward) and fills A before B (backward), greedy, live." +
                    ("" if pairs else "  \n*The KJV is not installed here (Debian's bible-kjv): no verses.*"))
        with gr.Row():
            self.model = gr.Dropdown(models, value=self.default_model(), label="Model (a diffusion model with a twin)",
                                     scale=3)
            self.pair = gr.Dropdown(pairs, value=pairs[0] if pairs else None, label="Verse pair", scale=3)
            self.run_button = gr.Button("Run both directions", variant="primary", scale=1)
            self.stop_button = gr.Button("Stop", variant="stop", scale=1)
        self.about = gr.Markdown(self.about_model(self.default_model()))
        self.summary = gr.Markdown(elem_classes=["ld-measured"])
        with gr.Row(equal_height=False, elem_classes=["ld-sides"]):
            self.forward, self.answer_f = side_view("**Forward**: given A, write B", "ld-f-", "ld-reversal-f",
                                                    "Written B", app)
            self.backward, self.answer_b = side_view("**Backward**: given B, fill A", "ld-r-", "ld-reversal-b",
                                                     "Filled A", app)
        gr.Markdown("**Its autoregressive twin** writes B after A too. It cannot fill text before a given text, so "
                    "backward it is *asked*, in the LLaDA paper's form: `The verse before: B`, then it writes. The "
                    "recitation twin learned such questions on half of the passages "
                    f"({', '.join(self.instructed()) or 'none'}); the others test verses it read forwards only.")
        with gr.Row(equal_height=False, elem_classes=["ld-sides"]):
            self.twin_forward, self.twin_answer_f = side_view(
                "**Twin, forward**: given A, write B", "ld-tf-", "ld-reversal-tf", "Twin: written B", app)
            self.twin_backward, self.twin_answer_b = side_view(
                "**Twin, backward**: asked for the verse before B", "ld-tr-", "ld-reversal-tr", "Twin: written A",
                app)
        self.boxes = (self.answer_f, self.answer_b, self.twin_answer_f, self.twin_answer_b)
        self.wire(gpu)

    def wire(self, gpu):
        self.model.change(self.about_model, self.model, self.about, api_visibility="private", show_progress="hidden")
        self.run_button.click(None, js=CLOSE_TOASTS, api_visibility="private")
        self.run_button.click(gpu(self.run), [self.pair, self.model],
                              [self.forward, self.backward, self.twin_forward, self.twin_backward, *self.boxes,
                               self.summary], api_visibility="private", concurrency_id="model", show_progress="hidden")
        self.stop_button.click(self.app.stop, None, None, api_visibility="private", concurrency_limit=None,
                               show_progress="hidden")

    # ---- what it offers -------------------------------------------------------------------------------
    def pairs(self) -> dict[str, tuple[str, str]]:
        """The recitation passages' consecutive verse pairs, by reference (empty without the KJV)."""
        if self._pairs is None:
            try:
                self._pairs = labelled_pairs(json.loads(DEFAULT_PASSAGES.read_text())["passages"])
            except (OSError, RuntimeError, ValueError):  # no `bible` program here: the tab says so
                self._pairs = {}
        return self._pairs

    def models(self) -> list[str]:
        """The diffusion models the app offers with a twin (the twins themselves are not diffusion models)."""
        twins = {t.label for c in self.app.choices.values() if (t := self.app.twin_of(c)) is not None}
        return [c.label for c in self.app.choices.values() if c.label not in twins and self.app.twin_of(c)] or [
            self.app.default.label]

    def default_model(self) -> str:
        """The recitation model where the app has it (it knows the verses), else the first on offer."""
        models = self.models()
        return next((m for m in models if Path(self.app.choices[m].source or "").name == "llada-recite"), models[0])

    @staticmethod
    def instructed() -> list[str]:
        """The passages the recitation models also learned as questions (passages.json "instructions")."""
        return json.loads(DEFAULT_PASSAGES.read_text()).get("instructions", []) if DEFAULT_PASSAGES.is_file() else []

    def about_model(self, label: str) -> str:
        """What the chosen model is known to do here, from its measured table, before it runs."""
        choice = self.app.choices.get(label)
        numbers = next((r for r in measured(choice).values() if r["kind"] == "diffusion"), None) if choice else None
        if numbers and numbers["forward"] == numbers["backward"] == 0:
            recite = [m for m in self.models() if m != label]
            return (f"*{choice.short.capitalize()} knows no verse by heart: measured on all {numbers['pairs']} pairs it "
                    "writes none of them either way, so expect other text below." +
                    (f" Choose the {self.app.choices[recite[0]].short} model for the real test.*" if recite else "*"))
        return ""

    # ---- a run ---------------------------------------------------------------------------------------
    def directions(self, a: str, b: str, label: str) -> list[Direction]:
        """The four runs on (A, B): the model's two, then its twin's two when the app offers the twin."""
        choice, loaded = self.app.diffusion_model(label, "choose a diffusion model: the tab runs it and its twin")
        tok, bos = loaded.tokenizer, loaded.tokenizer.bos_token_id
        ia, nl, ib = pair_ids(tok, a, b)
        prompt = [bos] + ia + nl
        out = [Direction(name="forward", choice=choice, loaded=loaded, prompt=prompt, expected=ib,
                         settings=writing_settings(loaded, len(prompt), len(ib)),
                         read=lambda tokens: answer_of(loaded, tokens), view=self.forward, box=self.answer_f),
               Direction(name="backward", choice=choice, loaded=loaded, prompt=fill_canvas(loaded, ia, nl, ib),
                         settings=SamplingSettings(gen_length=0, steps=len(ia), block_length=len(ia), infill=True),
                         expected=ia, read=lambda tokens: tokens[1: 1 + len(ia)], view=self.backward,
                         box=self.answer_b)]
        twin = self.app.twin_of(choice)
        if twin is not None:
            twin_model = self.app.model(twin.label)[1]
            asked, answer = instruction_ids(tok, "backward", a, b)
            out += [Direction(name="twin forward", choice=twin, loaded=twin_model, prompt=prompt, expected=ib,
                              settings=writing_settings(twin_model, len(prompt), len(ib)), read=list,
                              view=self.twin_forward, box=self.twin_answer_f),
                    Direction(name="twin backward", choice=twin, loaded=twin_model, prompt=[bos] + asked,
                              settings=writing_settings(twin_model, len(asked) + 1, len(answer)), expected=answer,
                              read=list, view=self.twin_backward, box=self.twin_answer_b)]
        return out

    @page_handler
    def run(self, pair: str, model: str | None = None, request: gr.Request = None):
        """On a pair of consecutive verses (A, B): the four runs live, then whether each is exact and the
        model's measured table (reversal.json in its directory, from python -m llada_demo.reversal)."""
        if pair not in self.pairs():
            raise gr.Error(f"{pair!r} is not one of the verse pairs (the KJV must be installed)")
        a, b = self.pairs()[pair]
        directions = self.directions(a, b, model or self.default_model())
        jobs = [d.job() for d in directions]

        def finish(jobs, states, answers):
            mark = {d.name: f"**{'exact' if d.exact(j.trajectory) else 'not exact'}**"
                    for d, j in zip(directions, jobs)}
            lines = f"Forward (A, write B): {mark['forward']}. Backward (B, fill A): {mark['backward']}."
            if len(directions) < 4:
                lines += "  \nNo autoregressive twin of this model in the app: its row stays empty."
            else:
                lines += f"  \nTwin: forward {mark['twin forward']}; backward, asked for the verse before B: " \
                         f"{mark['twin backward']}."
            if "stopped" in states:
                lines += "  \n*Stopped: the runs that had not ended are marked as they stood.*"
            out = {d.box: a if s == "done" else f"(stopped) {a}" for d, s, a in zip(directions, states, answers)}
            return {**out, self.summary: lines + "  \n" + self.measured_table(directions[0].choice)}

        head = f"A: {html.escape(a)}  \nB: {html.escape(b)}"
        yield from stream_runs(self.app, [(j, d.view) for j, d in zip(jobs, directions)], request,
                               {**{box: "" for box in self.boxes}, self.summary: head}, finish)

    @staticmethod
    def measured_table(choice) -> str:
        """The model's reversal numbers as measured, or how to get them."""
        results = measured(choice)
        if not results:
            return (f"No measured table for {html.escape(choice.label)} yet: "
                    "`python -m llada_demo.reversal DIR --json DIR/reversal.json`.")
        return ("Measured on all the pairs (writing: greedy, exact match; ranking, a different task: the share "
                "of pairs whose A is the likeliest verse before B):\n\n") + table(
            {html.escape(name): r for name, r in results.items()})
