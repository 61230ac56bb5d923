"""Reversal: two consecutive verses A and B; the diffusion model writes B after A and fills A before B, its
autoregressive twin writes B after A and is asked for the verse before B, all four live. "Run all pairs"
runs every pair so, decoded fast, with both models' ranking, into a scoreboard whose rows replay."""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gradio as gr

from ...card import INFO_FILE, read_json
from ...reversal import (DEFAULT_PASSAGES, answer_of, candidates_of, fast, fill_canvas, instruction_ids,
                         labelled_pairs, pair_ids, rank, table, writing_settings)
from ...sampling import SamplingSettings, denoise
from ...trace import Trajectory
from ...trace.wire import encode_run
from ..errors import page_handler
from ..runs import Job, stream_runs
from ..session import Activity
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


BOARD_SAMPLES = 2  # draws of the diffusion model's bound per candidate in the scoreboard's ranking (the table: 16)
BOARD_COLUMNS = ["Pair", "Trained as questions", "Writes B", "Fills A", "Ranks A", "Twin writes B", "Twin asked for A",
                 "Twin ranks A"]
TALLIED = [("forward", "forward"), ("backward", "backward: fills A"), ("rank", "ranking"),
           ("twin forward", "forward"), ("twin backward", "backward: asked"), ("twin rank", "ranking")]


@dataclass
class Ran:
    """One direction's run as the scoreboard keeps it, for its replay."""

    name: str  # a Direction's
    trajectory: Trajectory  # run to its end (a pair stopped midway is not kept)
    answer: str


@dataclass
class PairScore:
    """One row of the scoreboard: the pair, whether each test got it right (None: not run, no twin), its runs."""

    label: str
    right: dict[str, bool | None]
    questions: bool  # the models were also trained on its passage as "The verse before: B" questions
    runs: list[Ran] = field(default_factory=list)

    def row(self) -> list[str]:
        return [self.label, "yes" if self.questions else "no"] + [
            {True: "✓", False: "✗", None: "–"}[self.right.get(k)] for k, _ in TALLIED]


def tally(board: list[PairScore], total: int, state: str, seconds: float, model: str, twin: str | None,
          how: str, candidates: int) -> str:
    """The scoreboard's running count: how far it got, then each test's right answers so far."""
    n = len(board)

    def count(key, pairs=board):
        right = sum(p.right.get(key) is True for p in pairs)
        return f"{right}/{len(pairs)}" + (f" ({right / len(pairs):.0%})" if pairs else "")

    head = {"running": f"**Running: {n} of {total} pairs** ({seconds:.0f} s)",
            "stopped": f"**Stopped after {n} of {total} pairs** ({seconds:.0f} s)",
            "done": f"**All {total} pairs** in {seconds:.0f} s"}[state]
    model_part = ", ".join(f"{name} {count(key)}" for key, name in TALLIED[:3])
    twin_part = ", ".join(f"{name} {count(key)}" for key, name in TALLIED[3:]) if twin else "no twin in the app"
    asked = [p for p in board if p.questions]
    if twin and asked:
        twin_part += (f". Asked backward, on the passages it learned as questions {count('twin backward', asked)}, "
                      f"on the others {count('twin backward', [p for p in board if not p.questions])}")
    return (f"{head}. {html.escape(model)}: {model_part}. Twin: {twin_part}.  \n"
            f"*Decoding: {how}. Ranking (choosing A among all {candidates} verses, a different task): the twin by "
            f"its exact likelihood, the diffusion model by its bound with {BOARD_SAMPLES} draws per verse (the "
            "measured table below uses 16). Click a row to replay its runs in the grids.*")


def measured(choice) -> dict:
    """The model's reversal numbers as measured (reversal.json beside its checkpoint), {} if none."""
    return read_json(choice.directory / "reversal.json")


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
            self.all_button = gr.Button("Run all pairs", scale=1)
            self.stop_button = gr.Button("Stop", variant="stop", scale=1)
        self.about = gr.Markdown(self.about_model(self.default_model()))
        self.summary = gr.Markdown(elem_classes=["ld-measured"], elem_id="ld-reversal-summary")
        self.tally = gr.Markdown(elem_id="ld-tally")
        self.board = gr.Dataframe(headers=BOARD_COLUMNS, interactive=False, visible=False, elem_id="ld-board",
                                  max_height=320, label="Scoreboard: every pair, both directions (click a row)")
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
        self.model.change(self.choose_model, self.model, [self.about, self.tally, self.board], api_visibility="private",
                          show_progress="hidden")
        self.run_button.click(None, js=CLOSE_TOASTS, api_visibility="private")
        self.run_button.click(gpu(self.run), [self.pair, self.model],
                              [self.forward, self.backward, self.twin_forward, self.twin_backward, *self.boxes,
                               self.summary], api_visibility="private", concurrency_id="model", show_progress="hidden")
        self.all_button.click(None, js=CLOSE_TOASTS, api_visibility="private")
        self.all_button.click(gpu(self.run_all), self.model, [self.tally, self.board], api_visibility="private",
                              concurrency_id="model", show_progress="hidden")
        self.board.select(self.replay, None, [self.forward, self.backward, self.twin_forward, self.twin_backward,
                                              *self.boxes, self.summary, self.pair], api_visibility="private",
                          show_progress="hidden")
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
        return read_json(DEFAULT_PASSAGES).get("instructions", [])

    def choose_model(self, label: str) -> dict:
        """A model chosen: what it is known to do, and the last scoreboard (another model's) put away."""
        return {self.about: self.about_model(label), self.tally: "", self.board: gr.update(value=None, visible=False)}

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
    def directions(self, a: str, b: str, label: str, quick: bool = False) -> list[Direction]:
        """The four runs on (A, B): the model's two, then its twin's two when the app offers the twin
        (`quick`: decoded the fast way, reversal.fast)."""
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
        if quick:
            for d in out:
                d.settings = fast(d.loaded, d.settings)
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

    # ---- every pair: the scoreboard ----------------------------------------------------------------------
    @page_handler
    def run_all(self, model: str | None = None, request: gr.Request = None):
        """Every pair, its four runs decoded fast and both models' ranking, a row each as it ends; the tally
        counts as it goes. The tab's Stop ends it before the next step (the pair under way is dropped)."""
        label = model or self.default_model()
        pairs = self.pairs()
        if not pairs:
            raise gr.Error("No verse pairs: the KJV is not installed here (Debian's bible-kjv).")
        choice, loaded = self.app.diffusion_model(label, "choose a diffusion model: the tab runs it and its twin")
        twin = self.app.twin_of(choice)
        twin_model = self.app.model(twin.label)[1] if twin is not None else None
        how = self.decoding_note(loaded)
        candidates = candidates_of(list(pairs.values()))
        session, activity, t0 = self.app.sessions.of(request), Activity(), time.perf_counter()
        session.run, session.board = activity, []
        board, stopped = session.board, activity.stop.is_set
        questions = set(labelled_pairs(self.instructed())) if self.learned_questions(choice) else set()

        def show(state):
            text = tally(board, len(pairs), state, time.perf_counter() - t0, choice.short.capitalize(),
                         twin and twin.short, how, len(candidates))
            return {self.tally: text, self.board: gr.update(value=[p.row() for p in board] or None, visible=True)}

        try:
            yield show("running")
            for name, (a, b) in pairs.items():
                score = self.score_pair(PairScore(name, {}, name in questions), a, b, label, candidates, loaded,
                                        twin_model, stopped)
                if score is None:
                    break
                board.append(score)
                yield show("running")
            yield show("stopped" if stopped() else "done")
        finally:
            activity.done.set()

    def score_pair(self, score: PairScore, a, b, label, candidates, loaded, twin_model, stopped) -> PairScore | None:
        """One pair's four runs to their end and both rankings, into `score`; None if a stop came first."""
        for d in self.directions(a, b, label, quick=True):
            job = d.job()
            while (record := None if stopped() else next(job.records, None)) is not None:
                job.trajectory.add(record)
            if stopped():
                return None
            score.right[d.name] = d.exact(job.trajectory)
            score.runs.append(Ran(d.name, job.trajectory, job.answer()))
        for key, model in (("rank", loaded), ("twin rank", twin_model)):
            if model is not None:
                first = rank(model, b, candidates, BOARD_SAMPLES, stopped)
                if first is None:
                    return None
                score.right[key] = candidates[first] == a
        return score

    @staticmethod
    def learned_questions(choice) -> bool:
        """Whether the model was fine-tuned on the recitation list (its training_info.json names it), whose
        "instructions" passages it also learned as questions."""
        return bool(read_json(choice.directory / INFO_FILE).get("recite"))

    @staticmethod
    def decoding_note(loaded) -> str:
        """How the scoreboard's runs are decoded, for its tally."""
        s = fast(loaded, SamplingSettings())
        rule = {"threshold": f"threshold {s.threshold:g}", "factor": f"factor {s.factor:g}"}.get(s.decoding, s.decoding)
        return f"the diffusion model by {rule}, stopping at end of text (the single runs above: a token per step)"

    @page_handler
    def replay(self, evt: gr.SelectData, request: gr.Request = None) -> dict:
        """A scoreboard row's runs, drawn in the grids as they ran, with their answers and marks."""
        board = self.app.sessions.of(request).board
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not isinstance(row, int) or not 0 <= row < len(board):
            raise gr.Error("Run all pairs first; then click a row of the scoreboard to replay its runs.")
        score = board[row]
        views = {"forward": (self.forward, self.answer_f), "backward": (self.backward, self.answer_b),
                 "twin forward": (self.twin_forward, self.twin_answer_f),
                 "twin backward": (self.twin_backward, self.twin_answer_b)}
        out = {}
        for ran in score.runs:
            choice, loaded = self.app.model(ran.trajectory.label)
            outbox = self.app.outboxes.new()
            outbox.add(encode_run(ran.trajectory, self.app.text_of(choice.label, loaded), self.app.stop_ids(loaded),
                                  "done", ran.answer), close=True)
            view, box = views[ran.name]
            out[view], out[box] = outbox.payload(0), ran.answer
        a, b = self.pairs()[score.label]
        marks = "; ".join(f"{name}: **{'exact' if score.right.get(key) else 'not exact'}**"
                          for key, name in (("forward", "forward"), ("backward", "backward, fills A"),
                                            ("twin forward", "twin forward"), ("twin backward", "twin backward, asked"))
                          if key in score.right)
        return {**out, self.pair: score.label,
                self.summary: f"A: {html.escape(a)}  \nB: {html.escape(b)}  \nScoreboard row, decoded fast: {marks}."}

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
