"""The app's event handlers: plain methods returning {component: value}, which tests call directly.

A run streams the compact messages of trace/wire.py to the page's live view, which draws them in the
browser (views/viewer.js): the server sends data, never HTML or figures. Data flows one way:
model -> sampling (StepRecord) -> Trajectory -> wire messages -> page, API and export.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import gradio as gr
import torch

from ..likelihood import bound_samples, causal_log_likelihood, estimate, forward_curve, reconstruct, token_draws
from ..loading import BUNDLED_MODEL_DIR
from ..card import INFO_FILE, held_out_verdict, overfitting
from ..reversal import (DEFAULT_PASSAGES, answer_of, fill_canvas, instruction_ids, labelled_pairs, pair_ids,
                        table, writing_settings)
from ..sampling import SamplingSettings, StepRecord, denoise
from ..sampling.settings import finite_number, seed_number, whole_number
from ..trace import Trajectory
from ..trace.wire import Encoder, encode_run, run_document
from ..views import TokenText, standalone_html
from .catalog import ModelCache, ModelChoice
from .exports import ExportStore
from .prompts import MASK_PLACEHOLDER, infill_ids, parse_constraints, prompt_ids
from .session import Activity, Session, Sessions

def _same(s: dict) -> dict:
    return s


def _set(**changes):
    return lambda s: {**s, **changes}


# Compare's presets: (settings A from the Generate tab's, settings B from those)
PRESETS = {
    "LLaDA's order vs left to right (B: blocks of 1 token)": (_same, lambda s: {**s, "block_length": 1,
                                                                               "steps": s["gen_length"]}),
    "one block vs blocks of 32": (lambda s: {**s, "block_length": s["gen_length"]}, _set(block_length=32)),
    "low-confidence vs random remasking": (_set(remasking="low_confidence"), _set(remasking="random")),
    "fixed steps vs confidence threshold 0.9": (_same, _set(decoding="threshold", threshold=0.9)),
    "all the steps vs half of them": (_same, lambda s: {**s, "steps": max(1, int(s["steps"]) // 2)}),
}


def held_out_numbers(diffusion, twin) -> str | None:
    """A sentence with the two models' held-out perplexities from their cards (eval_results.json), or
    None when either card lacks them."""
    def results(choice, name="eval_results.json"):
        path = (Path(choice.source) if choice.source else BUNDLED_MODEL_DIR) / name
        return json.loads(path.read_text()) if path.is_file() else {}

    d, t = results(diffusion), results(twin)
    if "elbo_ppl" not in d or "ppl" not in t:
        return None
    return (f"On the held-out books (their cards): the diffusion model's perplexity is at most {d['elbo_ppl']:.1f} "
            f"(LLaDA's bound, an upper limit), the twin's is {t['ppl']:.1f} (exact). The bound is not the diffusion "
            "model's perplexity, only a ceiling on it; the twin's number is its perplexity. On the answers above, "
            "the same holds: the diffusion bar is a lower bound on the log-likelihood, the twin's is exact. "
            + held_out_verdict(d["elbo_ppl"], t["ppl"], bool(overfitting(results(twin, INFO_FILE)))))


def measured_table(choice) -> str:
    """The model's reversal numbers as measured (reversal.json beside its checkpoint), or how to get them."""
    directory = Path(choice.source) if choice.source else BUNDLED_MODEL_DIR
    results = directory / "reversal.json"
    if not results.is_file():
        return (f"No measured table for {html.escape(choice.label)} yet: "
                "`python -m llada_demo.reversal DIR --json DIR/reversal.json`.")
    measured = {html.escape(name): r for name, r in json.loads(results.read_text()).items()}
    return "Measured on all the pairs (greedy, exact match):\n\n" + table(measured)


TWIN_PRESET = "the diffusion model vs its autoregressive twin (same settings)"
CUSTOM_PRESET = "A vs B with its own settings (the panel below)"
B_PANEL = ("gen_length", "steps", "block_length", "temperature", "remasking", "decoding", "threshold")  # its sliders


def describe(settings: SamplingSettings) -> str:
    """Settings in one line, for Compare's summary."""
    rule = settings.decoding if settings.decoding == "fixed" else f"{settings.decoding} {settings.threshold:g}"
    return (f"{settings.gen_length} tokens, {settings.steps} steps, blocks of {settings.block_length}, "
            f"{settings.remasking} remasking, {rule} decoding, temperature {settings.temperature:g}")


def answer_boxes(boxes, states, texts) -> dict:
    """Each run's text for its answer box; a stopped run's says so."""
    return {box: t if state == "done" else f"(stopped) {t}" for box, state, t in zip(boxes, states, texts)}


def compare_summary(jobs, texts) -> str:
    """Forward passes, tokens per pass and time of each run, and where the answers differ (token by token
    over the canvas)."""
    a, b = (job.trajectory.final_tokens() for job in jobs)
    n = min(len(a), len(b))
    differ = [i for i in range(n) if a[i] != b[i]]
    runs = []
    for job in jobs:
        records = job.trajectory.records
        passes = records[-1].forward_passes if records else 0
        who = f" ({job.choice.label})" if jobs[0].choice.label != jobs[1].choice.label else ""
        per_pass = sum(len(r.committed) for r in records) / passes if passes else 0.0
        runs.append(f"{passes}{who} forward passes ({per_pass:.2f} tokens per pass, "
                    f"{records[-1].elapsed if records else 0:.2f} s)")
    where = (f"the answers differ at {len(differ)} of {n} positions, first at {differ[0]}" if differ
             else "the answers are the same, token for token")
    return f"A: {runs[0]} · B: {runs[1]} · {where}."


MAX_CANDIDATES = 8  # answers the Likelihood tab scores at once
# tokens one scoring may pass through the model (each sample of each answer: prompt + answer, twice with
# CFG): about 30 s for the bundled model on 2 CPU cores (docs/performance.md), a few on a GPU
LIKELIHOOD_BUDGET = 200_000
LIKELIHOOD_BATCH = 16  # Monte Carlo samples per forward pass, and per update of the page
KEEP_OUTBOXES = 64  # runs whose messages the server keeps for pages that missed some
KEEP_EXAMPLE_RUNS = 64  # cached runs of the example prompts (a client may vary the settings without end)
KEEP_FORWARD = 32  # the Forward process tab's curves, by (model, text, seed)


def keep(cache: dict, key, value, limit: int):
    """cache[key] = value, dropping the oldest entries beyond `limit` (dicts keep insertion order)."""
    cache[key] = value
    while len(cache) > limit:
        cache.pop(next(iter(cache)))
    return value
SEND_INTERVAL = 1 / 60  # s: without the stream, steps computed faster than a screen refresh go together
EXAMPLES = ("In the beginning", "And Jesus said unto them", "The LORD is my shepherd")


def plan_text(gen_length, steps, block_length, infill=False, decoding="fixed") -> str:
    """What will really run, shown next to the sliders; or what to change."""
    if infill:
        return (f"Infill: each {MASK_PLACEHOLDER} in the prompt is one token to fill; answer length is not used, "
                "steps are capped at the number of masks.")
    try:
        plan = SamplingSettings(gen_length=gen_length, steps=steps, block_length=block_length,
                                decoding=decoding).plan()
    except ValueError as e:
        return f"⚠️ {e}"
    text = "Will run: " + plan.describe() + "."
    if plan.notes:
        text += "  \n" + "  \n".join(f"Adjusted: {n}." for n in plan.notes)
    return text


def _text_input(name: str, value, *, required: bool = False) -> str:
    """What the user typed, checked to be text that can be encoded (no lone surrogates)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise gr.Error(f"{name} must be text, got {type(value).__name__} {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = value[e.start]
        raise gr.Error(f"{name} holds U+{ord(bad):04X}, which is not a character (a lone surrogate); "
                       "remove it and try again") from None
    return value


class ToastError(gr.Error):
    """A gr.Error whose message is already escaped for the page's toasts (for_toast): not escaped again."""


def toast(error: gr.Error) -> gr.Error:
    """`error` with its message escaped for the toasts, once."""
    return error if isinstance(error, ToastError) else ToastError(for_toast(error.message))


def for_toast(message: str) -> str:
    """A message for the page's toasts, which render HTML (measured in Chromium: '<b>' turned bold);
    API clients get the message as it is."""
    return html.escape(message, quote=False)


def _paced(records: Iterable[StepRecord]) -> Iterator[StepRecord]:
    """A stored run's records, each released when it was first computed (relative to the start)."""
    start = time.perf_counter()
    for record in records:
        time.sleep(max(0.0, record.elapsed - (time.perf_counter() - start)))
        yield record


@dataclass
class Job:
    """A run checked and ready: the model, its settings, and where its records come from."""

    choice: ModelChoice
    loaded: object
    settings: SamplingSettings
    records: Iterator[StepRecord]
    trajectory: Trajectory
    cache_key: tuple | None = None


class Outbox:
    """A run's messages, in order, as the page receives them. Two ways out:

    - the page's own stream (app/stream.py, Server-Sent Events): every message as soon as it is added;
      measured, a Gradio value update costs the page ~8 ms of main-thread work (its client and Svelte
      state) against well under 1 ms for a message of its own stream;
    - the live view's Gradio value, {run, first, messages}: the start and the end, and every step while
      no page follows the stream (it has not connected yet, or cannot), `first` being the index of the
      value's first message in the run (messages go as one JSON string: Gradio diffs successive values,
      a string as one value, a list item by item).

    A page that missed messages (it mounted after the run began, or a value was dropped) asks for them
    with `DemoApp.resend`. Messages are added by the run's thread and read by the server's event loop."""

    def __init__(self):
        self.run, self.log, self.closed, self.followers = uuid.uuid4().hex, [], False, 0
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def add(self, messages: list[dict], close: bool = False):
        with self._lock:
            self.log += messages
            self.closed = self.closed or close
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def payload(self, first: int) -> dict:
        """The live view's value: the messages from `first` on."""
        return dict(run=self.run, first=first, messages=json.dumps(self.log[first:], separators=(",", ":")))

    async def wait(self, seen: int, timeout: float) -> None:
        """Until the log holds more than `seen` messages, the run has ended, or `timeout` seconds."""
        with self._lock:
            if len(self.log) > seen or self.closed:
                return
            event = asyncio.Event()
            self._waiters.append((asyncio.get_running_loop(), event))
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class DemoApp:
    """State shared by all tabs (the models, cached example runs) and the event handlers."""

    def __init__(self, choices: list[ModelChoice], cache: ModelCache | None = None, examples=EXAMPLES):
        self.examples = tuple(examples)  # the Generate tab's own; models may bring theirs (ModelChoice.examples)
        self.example_prompts = set(examples) | {e for c in choices for e in c.examples}
        self.choices = {c.label: c for c in choices}
        self.default = choices[0]
        self.cache = cache or ModelCache()
        self._texts: dict[str, TokenText] = {}
        self.sessions = Sessions()
        self.exports = ExportStore()  # exported runs on disk, bounded in size and age
        self.example_runs: dict[tuple, Trajectory] = {}  # lazily cached runs of the example prompts
        self.page = None  # the components, set by layout.build_demo; handlers return {component: value}
        self.outboxes: dict[str, Outbox] = {}  # the latest runs' messages, for resend
        self._forward: dict[tuple, tuple] = {}  # (model, text, seed) -> (draws, curve), the latest KEEP_FORWARD
        self._pairs: dict[str, tuple[str, str]] | None = None  # the Reversal tab's verse pairs

    # ---- models -------------------------------------------------------------------------------
    def model(self, label: str | None):
        """(choice, loaded model) of a label in the model list (None: the default); a model that cannot
        load is a toast saying why."""
        choice = self.choices.get(label or self.default.label)
        if choice is None:
            raise ToastError(for_toast(f"{label!r} is not one of the models this demo offers"))
        try:
            return choice, self.cache.get(choice)
        except Exception as e:  # no GPU memory, no network, a broken checkpoint: a message, not a traceback
            raise ToastError(for_toast(f"Could not load {choice.label}: {e}")) from None

    def diffusion_model(self, label: str | None, why: str):
        """As model(), for what only a mask predictor can do; an autoregressive model is refused: why."""
        choice, loaded = self.model(label)
        if loaded.model.config.causal:
            raise ToastError(for_toast(f"{choice.label} is autoregressive: {why}"))
        return choice, loaded

    def text_of(self, label: str, loaded) -> TokenText:
        if label not in self._texts:
            self._texts[label] = TokenText(loaded.tokenizer, loaded.mask_id)
        return self._texts[label]

    def stop_ids(self, loaded) -> set[int]:
        return {i for i in (loaded.eos_id, loaded.eot_id) if i is not None}

    def banner(self, label: str | None = None) -> str:
        choice, loaded = self.model(label)
        params = loaded.model.num_parameters()
        size = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"
        dtype = str(loaded.dtype).replace("torch.", "")
        mode = "chat" if choice.chat else "completion"
        return (f"<div class='ld-banner'><b>llada-demo</b> · {html.escape(choice.label)} "
                f"({size} parameters, {mode}) · {loaded.device.type} · {dtype}</div>")

    def select_model(self, label: str, previous: str, progress=gr.Progress(track_tqdm=True)) -> dict:
        """Load the chosen model (with download progress); on failure keep the previous one."""
        p = self.page
        if label == previous:  # the dropdown set back after a failed load: keep the user's settings
            return {}
        try:
            choice = self.choices[label]
            progress(0, desc=f"loading {label}")
            self.cache.get(choice)
        except Exception as e:  # no GPU memory, no network, a broken checkpoint: the app stays usable
            gr.Warning(for_toast(f"Could not load {label}: {e}. Staying on {previous}."))
            label, choice = previous, self.choices[previous]
        d = choice.defaults
        return {p.model: label, p.current: label, p.banner: self.banner(label),
                p.chatbot: gr.update(visible=choice.chat), p.new_chat: gr.update(visible=choice.chat),
                p.gen_length: d.gen_length, p.steps: d.steps, p.block_length: d.block_length,
                p.temperature: d.temperature, p.cfg_scale: d.cfg_scale, p.remasking: d.remasking,
                p.decoding: d.decoding, p.threshold: d.threshold, p.factor: d.factor,
                p.cache: d.cache or "none", p.stop_at_eos: d.stop_at_eos}

    # ---- a run ----------------------------------------------------------------------------------
    def prepare(self, label, prompt, history, gen_length, steps, block_length, temperature, cfg_scale, remasking,
                seed, fixed, infill, stop_at_eos=False, decoding="fixed", threshold=0.9, factor=1.0,
                cache="none") -> Job:
        """Check everything the user gave and set the run up; anything wrong is a gr.Error saying what to
        change (before any model work, and leaving the inputs as they are)."""
        prompt = _text_input("The prompt", prompt, required=True)
        if not prompt.strip():
            raise gr.Error("Type a prompt first.")
        fixed = _text_input("Fixed tokens", fixed)
        choice, loaded = self.model(label)
        seed = None if seed is None or seed == "" else seed
        try:
            if infill:
                if fixed.strip():
                    raise ValueError("fixed tokens are not used in infill mode: write the fixed text into the "
                                     "prompt instead, or clear the fixed tokens")
                ids = infill_ids(loaded, prompt)
                n_masks = sum(1 for t in ids if t == loaded.mask_id)
                settings = SamplingSettings(gen_length=0, steps=min(whole_number("steps", steps, minimum=1), n_masks),
                                            block_length=block_length, temperature=temperature, cfg_scale=cfg_scale,
                                            remasking=remasking, seed=seed, infill=True, decoding=decoding,
                                            threshold=threshold, factor=factor, cache=cache)
            else:
                settings = SamplingSettings(gen_length=gen_length, steps=steps, block_length=block_length,
                                            temperature=temperature, cfg_scale=cfg_scale, remasking=remasking,
                                            seed=seed, stop_at_eos=stop_at_eos,  # (answers only)
                                            decoding=decoding, threshold=threshold, factor=factor, cache=cache)
                ids = prompt_ids(loaded, prompt, history or (), chat=choice.chat)
                settings = replace(settings, constraints=parse_constraints(loaded, fixed, settings.gen_length))
            records = denoise(loaded, [ids], settings=settings)
        except ValueError as e:  # settings or input the sampler cannot run: say what to change
            raise gr.Error(str(e)) from None
        key = None
        if prompt in self.example_prompts and not history and settings.seed is not None:
            key = (choice.label, prompt, settings)
        trajectory = Trajectory(records.canvas, records.settings, choice.label)
        return Job(choice, loaded, records.settings, records, trajectory, key)

    def answer_text(self, loaded, trajectory: Trajectory) -> str:
        """The answer up to EOS/EoT, masks left out (the final answer after the last step)."""
        stop, tokens = self.stop_ids(loaded), trajectory.final_tokens()
        n = next((i for i, t in enumerate(tokens.tolist()) if t in stop), len(tokens))
        kept = [int(t) for t in tokens[:n] if t != trajectory.mask_id]
        if loaded.tokenizer is None:
            return " ".join(map(str, kept))
        return loaded.tokenizer.decode(kept, skip_special_tokens=True).strip()

    def generate_run(self, prompt, history, label, gen_length, steps, block_length, temperature, cfg_scale,
                     remasking, seed, fixed, infill, stop_at_eos=False, decoding="fixed", threshold=0.9, factor=1.0,
                     cache="none", request: gr.Request = None):
        """Stream a run to the live view (see Outbox: through the page's own stream, or through this
        generator's values): a start message, every step's record, and an end message with the answer;
        then the answer box and the chat. Runs of the example prompts are cached lazily and streamed again
        at their first pace."""
        p = self.page
        try:
            job = self.prepare(label, prompt, history, gen_length, steps, block_length, temperature, cfg_scale,
                               remasking, seed, fixed, infill, stop_at_eos, decoding, threshold, factor, cache)
        except gr.Error as e:
            raise toast(e) from None
        session = self.sessions.of(request)
        session.trajectory, session.state, session.answer = job.trajectory, "", ""
        cached = self.example_runs.get(job.cache_key)
        if cached is not None:
            job.records = _paced(cached.records)

        def finish(jobs, states, texts):
            state, answer = states[0], texts[0]  # done: every step, or settled at EOS (stop_at_eos)
            session.state, session.answer = state, answer
            if state == "done" and job.cache_key is not None and cached is None:
                keep(self.example_runs, job.cache_key, job.trajectory, KEEP_EXAMPLE_RUNS)
            out = {p.answer: answer if state == "done" else f"(stopped) {answer}"}
            if job.choice.chat and state == "done":
                out[p.chatbot] = list(history or []) + [{"role": "user", "content": prompt},
                                                        {"role": "assistant", "content": answer}]
            return out

        yield from self._stream([job], [p.live], request,
                                {p.answer: "", p.exports: gr.update(value=None, visible=False)}, finish)

    def new_outbox(self) -> Outbox:
        outbox = Outbox()
        return keep(self.outboxes, outbox.run, outbox, KEEP_OUTBOXES)

    def resend(self, request) -> str | None:
        """[run, start, end] from the page -> the run's messages [start:end] as a JSON string (None if
        that run is no longer kept). The run id is a random token only its page has seen."""
        try:
            run, start, end = request
            outbox = self.outboxes[str(run)]
            return json.dumps(outbox.log[int(start):int(end)], separators=(",", ":"))
        except (KeyError, TypeError, ValueError):
            return None

    def stop_run(self, request: gr.Request = None) -> None:
        """Stop the tab's run before its next step; the run itself then sends its end ("stopped")."""
        run = self.sessions.of(request).run
        if run is not None:
            run.stop.set()

    def close_session(self, request: gr.Request = None):
        self.sessions.close(request)

    # ---- compare ----------------------------------------------------------------------------------------
    def compare_run(self, prompt, preset, label, gen_length, steps, block_length, temperature, cfg_scale, remasking,
                    seed, *b_panel, request: gr.Request = None):
        """The Compare tab: the same prompt and model with settings A (the Generate tab's) and B (A changed
        as the preset says, or B's own panel: values of B_PANEL), steps interleaved so that both grids move
        together; then both answers and where they differ."""
        p = self.page
        a = dict(gen_length=gen_length, steps=steps, block_length=block_length, temperature=temperature,
                 cfg_scale=cfg_scale, remasking=remasking, seed=seed)
        label_b = label
        if preset == TWIN_PRESET:  # B: the same settings on the autoregressive twin, left to right
            twin = self.twin_of(self.model(label)[0])
            if twin is None:
                raise gr.Error("This preset needs the bundled model's autoregressive twin, which this app does not "
                               "offer: choose another preset.")
            b, label_b = dict(a), twin.label
        elif preset == CUSTOM_PRESET:
            if len(b_panel) != len(B_PANEL):
                raise gr.Error(f"B's own settings need {len(B_PANEL)} values ({', '.join(B_PANEL)}), got {len(b_panel)}")
            b = {**a, **dict(zip(B_PANEL, b_panel))}
        elif preset in PRESETS:
            b = PRESETS[preset][1](dict(a))
            a = PRESETS[preset][0](a)
        else:
            raise gr.Error(for_toast(f"{preset!r} is not a preset; choose one of: {', '.join(self.presets())}"))
        try:
            jobs = [self.prepare(lb, prompt, [], **kw, fixed="", infill=False) for lb, kw in ((label, a), (label_b, b))]
        except gr.Error as e:
            raise toast(e) from None
        head = "A: " + describe(jobs[0].settings) + "  \nB: " + describe(jobs[1].settings)
        yield from self._stream(jobs, (p.compare_a, p.compare_b), request,
                                {p.answer_a: "", p.answer_b: "", p.compare_summary: head},
                                lambda jobs, states, texts: {**answer_boxes((p.answer_a, p.answer_b), states, texts),
                                                             p.compare_summary: compare_summary(jobs, texts)})

    # ---- reversal ---------------------------------------------------------------------------------------
    def reversal_pairs(self) -> dict[str, tuple[str, str]]:
        """The recitation passages' consecutive verse pairs, by reference (empty without the KJV)."""
        if self._pairs is None:
            try:
                self._pairs = labelled_pairs(json.loads(DEFAULT_PASSAGES.read_text())["passages"])
            except (OSError, RuntimeError, ValueError):  # no `bible` program here: the tab says so
                self._pairs = {}
        return self._pairs

    def reversal_run(self, pair, label, request: gr.Request = None):
        """The Reversal tab: on a pair of consecutive verses (A, B), the model writes B after A (forward)
        and fills A before B (backward), both greedy and live; then whether each is exact, and the
        model's measured table (reversal.json in its directory, from python -m llada_demo.reversal)."""
        p = self.page
        if pair not in self.reversal_pairs():
            raise gr.Error(for_toast(f"{pair!r} is not one of the verse pairs (the KJV must be installed)"))
        a, b = self.reversal_pairs()[pair]
        choice, loaded = self.diffusion_model(label, "choose a diffusion model: the tab runs it and its twin")
        tok, bos = loaded.tokenizer, loaded.tokenizer.bos_token_id
        ia, nl, ib = pair_ids(tok, a, b)
        # as python -m llada_demo.reversal runs them: (choice, model, prompt ids, settings, the right tokens,
        # how to read what was written from the canvas)
        prompt = [bos] + ia + nl
        runs = [(choice, loaded, prompt, writing_settings(loaded, len(prompt), len(ib)), ib,
                 lambda tokens: answer_of(loaded, tokens)),
                (choice, loaded, fill_canvas(loaded, ia, nl, ib),
                 SamplingSettings(gen_length=0, steps=len(ia), block_length=len(ia), infill=True), ia,
                 lambda tokens: tokens[1 : 1 + len(ia)])]
        views = [p.reversal_forward, p.reversal_backward]
        boxes = [p.reversal_answer_f, p.reversal_answer_b]
        twin = self.twin_of(choice)
        if twin is not None:
            twin_model = self.model(twin.label)[1]
            asked, answer = instruction_ids(tok, "backward", a, b)
            runs += [(twin, twin_model, prompt, writing_settings(twin_model, len(prompt), len(ib)), ib, list),
                     (twin, twin_model, [bos] + asked, writing_settings(twin_model, len(asked) + 1, len(answer)),
                      answer, list)]
            views += [p.reversal_twin_forward, p.reversal_twin_backward]
            boxes += [p.reversal_twin_answer_f, p.reversal_twin_answer_b]
        jobs, right = [], {}
        for run_choice, model, ids, settings, expected, read in runs:
            records = denoise(model, [ids], settings=settings)
            jobs.append(Job(run_choice, model, records.settings, records,
                            Trajectory(records.canvas, records.settings, run_choice.label)))
            right[id(jobs[-1])] = (expected, read)

        def written(job):
            return right[id(job)][1](job.trajectory.final_tokens().tolist())

        def text(job):
            return tok.decode(written(job), skip_special_tokens=True)

        def sum_up(jobs, texts):
            mark = [f"**{'exact' if written(job) == right[id(job)][0] else 'not exact'}**" for job in jobs]
            lines = f"Forward (A, write B): {mark[0]}. Backward (B, fill A): {mark[1]}."
            if twin is None:
                lines += "  \nNo autoregressive twin of this model in the app: its row stays empty."
            else:
                lines += f"  \nTwin: forward {mark[2]}; backward, asked for the verse before B: {mark[3]}."
            return lines + "  \n" + measured_table(choice)

        head = f"A: {html.escape(a)}  \nB: {html.escape(b)}"
        yield from self._stream(jobs, tuple(views), request,
                                {**{box: "" for box in (p.reversal_answer_f, p.reversal_answer_b,
                                                        p.reversal_twin_answer_f, p.reversal_twin_answer_b)},
                                 p.reversal_summary: head},
                                lambda jobs, states, texts: {**answer_boxes(boxes, states, texts),
                                                             p.reversal_summary: sum_up(jobs, texts)}, text)

    def _stream(self, jobs, views, request, start: dict, finish, text=None):
        """Runs streamed to their live views, a step of each in turn (see Outbox: each through its page's
        stream, or through these values while no page follows it). Yields {view: start, **start} first
        and {view: end, **finish(jobs, states, texts)} last, a run's text being text(job) (default: the
        answer up to EOS). The tab's Stop ends them all; a step computed after the click is dropped."""
        text = text or (lambda job: self.answer_text(job.loaded, job.trajectory))
        activity = Activity()
        self.sessions.of(request).run = activity
        outboxes = [self.new_outbox() for _ in jobs]
        encoders = [Encoder(self.text_of(job.choice.label, job.loaded)) for job in jobs]
        try:
            for job, outbox, encoder in zip(jobs, outboxes, encoders):
                outbox.add([encoder.start(job.trajectory.canvas, job.settings, job.choice.label,
                                          self.stop_ids(job.loaded))])
            yield {**{view: outbox.payload(0) for view, outbox in zip(views, outboxes)}, **start}
            carried, sent, live = [1] * len(jobs), time.perf_counter(), [True] * len(jobs)
            while any(live) and not activity.stop.is_set():
                for i, job in enumerate(jobs):
                    record = next(job.records, None) if live[i] else None
                    if record is None:
                        live[i] = False
                    elif not activity.stop.is_set():
                        job.trajectory.add(record)
                        outboxes[i].add([encoders[i].step(record)])
                if not all(o.followers for o in outboxes) and time.perf_counter() - sent >= SEND_INTERVAL:
                    yield {view: outbox.payload(first) for view, outbox, first in zip(views, outboxes, carried)}
                    carried, sent = [len(o.log) for o in outboxes], time.perf_counter()
            states = ["stopped" if running else "done" for running in live]
            texts = [text(job) for job in jobs]
            out = {}
            for i, (view, outbox) in enumerate(zip(views, outboxes)):
                first = len(outbox.log) if outbox.followers else carried[i]  # a follower has all but the end
                outbox.add([encoders[i].end(states[i], texts[i])], close=True)
                out[view] = outbox.payload(first)
            yield {**out, **finish(jobs, states, texts)}
        finally:
            for outbox in outboxes:
                outbox.add([], close=True)  # streams end, also when a run failed or was abandoned
            activity.done.set()

    # ---- the forward process ----------------------------------------------------------------------------
    def last_answer(self, request: gr.Request = None) -> dict:
        """The Forward process tab's text set to the tab's last answer from Generate (a warning if none)."""
        answer = self.sessions.of(request).answer
        if not answer:
            gr.Warning("Generate an answer first; its text then comes here.")
            return {}
        return {self.page.forward_text: answer}

    def forward_example(self, text) -> dict:
        """The Forward process tab's text set to the example chosen."""
        return {self.page.forward_text: text} if text else {}

    def forward_process(self, text, t, seed, label=None) -> dict:
        """The Forward process tab: `text` masked at ratio t (one uniform draw per token, from `seed`),
        the model's one-pass reconstruction, and the curve over t (computed once per text and seed)."""
        text = _text_input("The text", text, required=True)
        if not text.strip():
            raise gr.Error("Type a text first.")
        try:
            t = finite_number("t", t)
            if t > 1:
                raise ValueError(f"t is a probability, from 0 to 1; got {t:g}")
            seed = seed_number(0 if seed is None or seed == "" else seed)
        except ValueError as e:
            raise gr.Error(for_toast(str(e))) from None
        choice, loaded = self.diffusion_model(label, "the forward process is a diffusion model's training; "
                                                     "choose a diffusion model")
        ids = loaded.tokenizer.encode(text, add_special_tokens=False)
        limit = loaded.model.config.max_sequence_length
        if len(ids) > limit:
            raise gr.Error(f"The text is {len(ids)} tokens; this model reads at most {limit}: shorten it.")
        key = (choice.label, text, seed)
        if key not in self._forward:
            draws = token_draws(len(ids), seed)
            keep(self._forward, key, (draws, forward_curve(loaded.model, ids, draws, loaded.mask_id)), KEEP_FORWARD)
        draws, curve = self._forward[key]
        masked = draws < t
        r = reconstruct(loaded.model, ids, masked, loaded.mask_id)
        name = self.text_of(choice.label, loaded)
        prediction = r["prediction"].tolist()
        return {self.page.forward: dict(
            t=t, label=choice.label, tokens=[name(i) for i in ids], masked=masked.tolist(),
            predictions=[name(i) for i in prediction], correct=[p == i for p, i in zip(prediction, ids)],
            confidence=[round(float(c), 4) for c in r["confidence"]],
            true_probability=[round(float(c), 4) for c in r["true_probability"]], curve=curve)}

    # ---- likelihood ---------------------------------------------------------------------------------
    def score_answers(self, prompt, candidates, mc_samples, cfg_scale, seed, label=None, request: gr.Request = None):
        """The Likelihood tab: each candidate answer to `prompt` scored with LLaDA's Monte Carlo bound on
        log p(answer | prompt), streamed as the samples accumulate; beside it, the exact log-likelihood
        from the autoregressive twin when we ship one for this model. The tab's Stop ends it after the
        batch being computed, keeping the estimates so far."""
        prompt = _text_input("The prompt", prompt, required=True)
        # one per line: split at line breaks only (str.splitlines also splits at U+2028, U+001C and others)
        answers = [c.rstrip("\r") for c in _text_input("The candidates", candidates).split("\n") if c.strip()]
        if not prompt.strip() or not answers:
            raise gr.Error("Type a prompt and at least one candidate answer (one per line).")
        if len(answers) > MAX_CANDIDATES:
            raise gr.Error(f"At most {MAX_CANDIDATES} candidates, one per line; there are {len(answers)}.")
        try:
            mc_samples = whole_number("Monte Carlo samples", mc_samples, minimum=2)
            cfg_scale = finite_number("CFG scale", cfg_scale)
            seed = seed_number(0 if seed is None or seed == "" else seed)
        except ValueError as e:
            raise gr.Error(for_toast(str(e))) from None
        choice, loaded = self.diffusion_model(label, "choose a diffusion model; the tab shows its twin's exact "
                                                     "numbers beside it")
        context = prompt_ids(loaded, prompt, chat=choice.chat)
        ids = [loaded.tokenizer.encode(a, add_special_tokens=False) for a in answers]
        limit = loaded.model.config.max_sequence_length
        if any(len(context) + len(a) > limit for a in ids):
            raise gr.Error(f"Prompt plus answer must fit the model's {limit} tokens: shorten them.")
        per_sample = sum(len(context) + len(a) for a in ids) * (2 if cfg_scale > 0 else 1)  # tokens through the model
        if per_sample * mc_samples > LIKELIHOOD_BUDGET:
            most = LIKELIHOOD_BUDGET // per_sample
            raise gr.Error(f"Scoring these {len(ids)} answers {mc_samples} times would pass {per_sample * mc_samples:,} "
                           f"tokens through the model, more than the {LIKELIHOOD_BUDGET:,} one scoring may take here: "
                           + (f"lower the Monte Carlo samples to {most - most % 2} or fewer" if most >= 2 else
                              "score fewer or shorter answers") + (", or set the CFG scale to 0" if cfg_scale > 0 else "")
                           + ".")
        twin = self.twin_of(choice)
        exact, cards = None, None
        if twin is not None:
            try:
                twin_model = self.cache.get(twin)
            except Exception as e:  # a broken or half-written checkpoint: score without it, and say so
                gr.Warning(for_toast(f"Could not load {twin.label}: {e}. Scoring without it."))
                twin_model = None
            if twin_model is None:
                twin = None
            elif twin_model.tokenizer.backend_tokenizer.to_str() == loaded.tokenizer.backend_tokenizer.to_str():
                exact = [causal_log_likelihood(twin_model, context, a) for a in ids]
                cards = held_out_numbers(choice, twin)
            else:  # not a twin after all: its numbers would be of other tokens
                twin = None
        streams = [bound_samples(loaded, context, a, mc_samples, LIKELIHOOD_BATCH, cfg_scale, seed) for a in ids]
        samples, done, activity = [[] for _ in answers], 0, Activity()

        def view(state: str) -> dict:
            stats = [estimate(torch.cat(s)) if s else (None, float("nan")) for s in samples]
            return {self.page.likelihood: dict(
                model=choice.label, candidates=answers, tokens=[len(a) for a in ids], samples=done,
                total=mc_samples, estimates=[m for m, _ in stats],
                errors=[e if e == e else None for _, e in stats],  # NaN (one sample) is no error bar
                exact=exact, twin=twin.label if twin else None, cards=cards, done=state != "scoring", state=state)}

        self.sessions.of(request).run = activity
        try:
            while done < mc_samples:
                batch = []
                for stream in streams:  # Stop is checked before every forward pass
                    if activity.stop.is_set():
                        yield view("stopped")  # the last whole batch's estimates stand
                        return
                    batch.append(next(stream))
                for kept, new in zip(samples, batch):
                    kept.append(new)
                done = min(done + LIKELIHOOD_BATCH, mc_samples)
                yield view("done" if done >= mc_samples else "scoring")
        finally:
            activity.done.set()

    def presets(self) -> list[str]:
        """Compare's presets; the twin's when the app offers the bundled model's twin."""
        return list(PRESETS) + [CUSTOM_PRESET] + ([TWIN_PRESET] if self.twin_of(self.default) is not None else [])

    def twin_of(self, choice):
        """The autoregressive twin of a model we ship (its directory + "-ar", as assets/llada-kjv-ar is the
        bundled model's), when the app offers it."""
        name = (Path(choice.source) if choice.source else BUNDLED_MODEL_DIR).name + "-ar"
        return next((c for c in self.choices.values() if c.source and Path(c.source).name == name), None)

    def instructed(self) -> list[str]:
        """The passages the recitation models also learned as questions (passages.json "instructions")."""
        return json.loads(DEFAULT_PASSAGES.read_text()).get("instructions", []) if DEFAULT_PASSAGES.is_file() else []

    # ---- export ---------------------------------------------------------------------------------------
    def export_run(self, request: gr.Request = None) -> dict:
        """The tab's last run as a JSON file (its messages: records and settings, loadable into the
        replay) and a standalone HTML page that replays it with no server and no network."""
        session = self.sessions.of(request)
        trajectory = session.trajectory
        if trajectory is None or not trajectory.records:
            raise gr.Error("Run the model first; then Export saves the run.")
        if session.run is not None and not session.run.done.is_set():
            raise gr.Error("The run is still going: wait for it to end, or Stop it, then export.")
        files = self.write_exports(trajectory, session.state or "done", session.answer)
        return {self.page.exports: gr.update(value=[str(f) for f in files], visible=True)}

    def write_exports(self, trajectory: Trajectory, state: str, answer: str) -> list[Path]:
        """The run's JSON and standalone HTML in the export store: written once per distinct run (the same
        run exported again returns the same files), within the store's size and age bounds."""
        choice, loaded = self.model(trajectory.label)
        messages = encode_run(trajectory, self.text_of(choice.label, loaded), self.stop_ids(loaded), state, answer)
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

        return self.exports.files(content, write)

    # ---- API ------------------------------------------------------------------------------------------
    def api_denoise(self, prompt: str, gen_length: int = 64, steps: int = 64, block_length: int = 32,
                    temperature: float = 0.0, cfg_scale: float = 0.0, remasking: str = "low_confidence",
                    seed: int = 0) -> Iterator[dict]:
        """Stream one JSON frame per reverse step, on the app's default model.

        Each frame: step, steps, block, forward_passes, tokens (answer cells as text), masked,
        confidence (at this step), committed (answer positions unmasked at this step), text (the answer
        so far up to EOS, masks left out; after the last step, the final answer)."""
        job = self.prepare(self.default.label, prompt, [], gen_length, steps, block_length, temperature, cfg_scale,
                           remasking, seed, "", False)
        text, trajectory = self.text_of(job.choice.label, job.loaded), job.trajectory
        for record in job.records:
            trajectory.add(record)
            view = trajectory.view(record.step)
            yield {"step": record.step, "steps": trajectory.steps, "block": record.block,
                   "forward_passes": record.forward_passes, "tokens": [text(t) for t in view.tokens],
                   "masked": view.masked.tolist(),
                   "confidence": [1.0 if c != c else round(float(c), 5) for c in record.confidence],
                   "committed": record.committed.tolist(), "text": self.answer_text(job.loaded, trajectory)}

    def api_run(self, prompt: str, gen_length: int = 64, steps: int = 64, block_length: int = 32,
                temperature: float = 0.0, cfg_scale: float = 0.0, remasking: str = "low_confidence",
                seed: int = 0, decoding: str = "fixed", threshold: float = 0.9, factor: float = 1.0,
                stop_at_eos: bool = False, cache: str = "none") -> Iterator[dict]:
        """Stream the run in the compact wire format (README: "Wire format"): a start message, one
        message per step, an end message; on the app's default model. Beyond /denoise's arguments (which
        keep their places for clients that send them by position): the decoding rule, stop_at_eos, cache."""
        job = self.prepare(self.default.label, prompt, [], gen_length, steps, block_length, temperature, cfg_scale,
                           remasking, seed, "", False, stop_at_eos, decoding, threshold, factor, cache)
        encoder, trajectory = Encoder(self.text_of(job.choice.label, job.loaded)), job.trajectory
        yield encoder.start(trajectory.canvas, job.settings, job.choice.label, self.stop_ids(job.loaded))
        for record in job.records:
            trajectory.add(record)
            yield encoder.step(record)
        yield encoder.end("done", self.answer_text(job.loaded, trajectory))


__all__ = ["B_PANEL", "CUSTOM_PRESET", "DemoApp", "EXAMPLES", "Job", "Outbox", "Session", "plan_text"]
