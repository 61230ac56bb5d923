"""The Gradio app. `DemoApp` holds the event handlers as plain methods (tests call them directly);
`build_demo` lays out the page and wires the events. Data flows one way: model -> sampler frames ->
Trajectory -> renderers -> components.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Iterator

import gradio as gr

from . import render
from .catalog import ModelCache, ModelChoice, available_choices
from .prompts import MASK_PLACEHOLDER, infill_ids, parse_constraints, prompt_ids
from .render import TokenText
from .sampler import Frame, denoise
from .schedule import REMASKING_STRATEGIES, plan_schedule
from .trajectory import Trajectory

HEATMAP_INTERVAL = 0.25  # s between heatmap updates: gr.Plot re-sends the whole figure each time
GRID_INTERVAL = 1 / 30  # s between grid updates: faster than a screen shows, and the browser keeps up
MAX_LENGTH = 512


try:  # on a ZeroGPU Space, GPU work must run inside @spaces.GPU; elsewhere this is a no-op
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn):
        return fn


def plan_text(gen_length, steps, block_length, infill=False) -> str:
    """What will really run, shown next to the sliders; or what to change."""
    if infill:
        return (f"Infill: each {MASK_PLACEHOLDER} in the prompt is one token to fill; answer length is not used, "
                "steps are capped at the number of masks.")
    try:
        plan = plan_schedule(int(gen_length), int(block_length), int(steps))
    except ValueError as e:
        return f"⚠️ {e}"
    text = "Will run: " + plan.describe() + "."
    if plan.notes:
        text += "  \n" + "  \n".join(f"Adjusted: {n}." for n in plan.notes)
    return text


EXAMPLES = ("In the beginning", "And Jesus said unto them", "The LORD is my shepherd")


def _paced(records):
    """A stored run's steps, each released when it was first computed (relative to the start)."""
    start = time.perf_counter()
    for record, row in records:
        time.sleep(max(0.0, record["elapsed"] - (time.perf_counter() - start)))
        yield record, row


class Activity:
    """A run or a replay: a stop flag it checks before every step, and a flag it sets when it ends."""

    def __init__(self):
        self.stop, self.done = threading.Event(), threading.Event()


class Session:
    """One browser tab: its last run's trajectory, and the run and the replay going on, if any."""

    def __init__(self):
        self.trajectory = None
        self.run: Activity | None = None
        self.play: Activity | None = None


class DemoApp:
    """State shared by all sessions (the models) and the event handlers."""

    def __init__(self, choices: list[ModelChoice], cache: ModelCache | None = None, examples=EXAMPLES):
        self.example_prompts = set(examples)
        self.choices = {c.label: c for c in choices}
        self.default = choices[0]
        self.cache = cache or ModelCache()
        self._texts: dict[str, TokenText] = {}
        self.sessions: dict[str | None, Session] = {}  # per browser tab: its run, and a way to stop it
        self.example_runs: dict[tuple, Trajectory] = {}  # lazily cached runs of the example prompts

    # ---- models -------------------------------------------------------------------------------
    def model(self, label: str | None):
        choice = self.choices.get(label or self.default.label)
        if choice is None:
            raise gr.Error(f"{label!r} is not one of the models this demo offers")
        return choice, self.cache.get(choice)

    def text_of(self, label: str, loaded) -> TokenText:
        if label not in self._texts:
            self._texts[label] = TokenText(loaded.tokenizer, loaded.mask_id)
        return self._texts[label]

    def banner(self, label: str | None = None) -> str:
        choice, loaded = self.model(label)
        params = loaded.model.num_parameters()
        size = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"
        dtype = str(loaded.dtype).replace("torch.", "")
        mode = "chat" if choice.chat else "completion"
        return (f"<div class='ld-banner'><b>llada-demo</b> · {html.escape(choice.label)} "
                f"({size} parameters, {mode}) · {loaded.device.type} · {dtype}</div>")

    def select_model(self, label: str, previous: str, progress=gr.Progress(track_tqdm=True)):
        """Load the chosen model (with download progress); on failure keep the previous one."""
        if label == previous:  # the dropdown set back after a failed load: keep the user's settings
            return (gr.skip(),) * 11
        try:
            choice = self.choices[label]
            progress(0, desc=f"loading {label}")
            self.cache.get(choice)
        except Exception as e:  # no GPU memory, no network, a broken checkpoint: the app stays usable
            gr.Warning(html.escape(f"Could not load {label}: {e}. Staying on {previous}.", quote=False))
            label, choice = previous, self.choices[previous]
        d = choice.defaults
        return (label, label, self.banner(label), gr.update(visible=choice.chat), gr.update(visible=choice.chat),
                d["gen_length"], d["steps"],
                d["block_length"], d["temperature"], d.get("cfg_scale", 0.0), d.get("remasking", "low_confidence"))

    # ---- a run ----------------------------------------------------------------------------------
    def _prepare(self, label, prompt, history, gen_length, steps, block_length, temperature, cfg_scale, remasking,
                 seed, fixed, infill):
        if not prompt or not prompt.strip():
            raise gr.Error("Type a prompt first.")
        choice, loaded = self.model(label)
        try:
            gen_length, steps, block_length = int(gen_length), int(steps), int(block_length)
            if infill:
                ids = infill_ids(loaded, prompt)
                n_masks = sum(1 for t in ids if t == loaded.mask_id)
                steps, gen_length, block_length = min(steps, n_masks), 0, min(block_length, n_masks)
                constraints = {}
            else:
                ids = prompt_ids(loaded, prompt, history or (), chat=choice.chat)
                constraints = parse_constraints(loaded, fixed, gen_length)
            seed = None if seed is None or seed == "" else int(seed)
            frames = denoise(loaded, [ids], steps=steps, gen_length=gen_length, block_length=block_length,
                             temperature=float(temperature), cfg_scale=float(cfg_scale), remasking=remasking,
                             seed=seed, constraints=constraints, infill=bool(infill))
        except ValueError as e:  # settings or input the sampler cannot run: say what to change;
            # toasts render HTML, and the message may quote what the user typed
            raise gr.Error(html.escape(str(e), quote=False)) from None
        trajectory = Trajectory.start_for(ids, gen_length, loaded.mask_id, infill=bool(infill), constraints=constraints)
        trajectory.label = choice.label  # replays decode with the run's model, whatever is selected later
        return choice, loaded, frames, trajectory

    def _stop_ids(self, loaded):
        return {i for i in (loaded.eos_id, loaded.eot_id) if i is not None}

    def answer_text(self, label, trajectory) -> str:
        _, loaded = self.model(label)
        tokens = trajectory.final_tokens()
        n = render.answer_length_to_eos(tokens, self._stop_ids(loaded))
        if loaded.tokenizer is None:
            return " ".join(str(int(t)) for t in tokens[:n])
        return loaded.tokenizer.decode([int(t) for t in tokens[:n]], skip_special_tokens=True).strip()

    def finish(self, label, trajectory, history, prompt, show_guesses, stopped=False):
        """The views after a run (or after Stop): answer, chat turn, order map, per-step chart, replay."""
        if trajectory is None or not trajectory.frames:
            return (gr.skip(),) * 7
        choice, loaded = self.model(label)
        text = self.text_of(label, loaded)
        answer = self.answer_text(label, trajectory)
        history = list(history or [])
        if choice.chat and not stopped:
            history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        status = render.status_text(trajectory, self._stop_ids(loaded), running=False)
        if stopped:
            status = "stopped · " + status.removeprefix("done · ")
        grid = render.grid_html(trajectory.view(trajectory.steps_done), text, trajectory.prompt_tokens,
                                bool(show_guesses))
        return (grid, render.heatmap_figure(trajectory, text, final=True), status,
                answer if not stopped else f"(stopped) {answer}", history,
                render.order_figure(trajectory, text), render.progress_figure(trajectory))

    def _session(self, request) -> Session:
        return self.sessions.setdefault(getattr(request, "session_hash", None), Session())

    def close_session(self, request: gr.Request = None):
        """A closed tab: stop what it was running and forget it."""
        session = self.sessions.pop(getattr(request, "session_hash", None), None)
        for activity in (session.run, session.play) if session is not None else ():
            if activity is not None:
                activity.stop.set()

    def generate_run(self, prompt, history, label, gen_length, steps, block_length, temperature, cfg_scale,
                     remasking, seed, fixed, infill, show_guesses, request: gr.Request = None):
        """Stream a run: the grid and status after every step (at most 30 times a second; a skipped
        step's commits are highlighted in the next grid), the heatmap at most every 0.25 s, the final
        answer and the after-run views at the end. Yields tuples for the outputs wired in build_demo.

        Runs of the example prompts are cached lazily: the first one computes, later ones with the same
        settings and seed are streamed again from memory at the pace they were computed."""
        choice, loaded, frames, trajectory = self._prepare(label, prompt, history, gen_length, steps, block_length,
                                                           temperature, cfg_scale, remasking, seed, fixed, infill)
        key = None
        if prompt in self.example_prompts and not history and seed not in (None, ""):
            key = (choice.label, prompt, gen_length, steps, block_length, temperature, cfg_scale, remasking, seed,
                   fixed, bool(infill))
        cached = self.example_runs.get(key)
        session, activity = self._session(request), Activity()
        session.trajectory, session.run = trajectory, activity
        try:
            steps_source = _paced(cached.records()) if cached is not None else frames
            yield from self._stream(choice, loaded, steps_source, trajectory, activity, history, prompt,
                                    show_guesses)
            if key is not None and cached is None and trajectory.steps_done == trajectory.steps:
                self.example_runs[key] = trajectory
        finally:
            activity.done.set()

    def _stream(self, choice, loaded, steps_source, trajectory, activity, history, prompt, show_guesses):
        text = self.text_of(choice.label, loaded)
        stop_ids = self._stop_ids(loaded)
        first = render.grid_html(trajectory.view(0), text, trajectory.prompt_tokens, bool(show_guesses))
        yield (first, gr.skip(), "starting…", "", gr.skip(), None, None,
               gr.update(value=0, maximum=1, interactive=False), trajectory)
        last_heatmap = last_grid = 0.0
        shown = 0  # the step the browser last drew
        for item in steps_source:
            if activity.stop.is_set():
                return  # Stop: stop_run draws what was computed; the step just computed is dropped
            if isinstance(item, Frame):
                trajectory.add(item)
            else:
                trajectory.append(*item)
            now, step = time.perf_counter(), trajectory.steps_done
            if now - last_grid < GRID_INTERVAL and step < trajectory.steps:
                continue  # the next drawn grid highlights this step's commits too
            heat = gr.skip()
            if now - last_heatmap >= HEATMAP_INTERVAL:
                heat, last_heatmap = render.heatmap_figure(trajectory), now
            grid = render.grid_html(trajectory.view(step, since=shown), text, trajectory.prompt_tokens,
                                    bool(show_guesses))
            shown, last_grid = step, now
            # the trajectory State was set by the first yield and grows in place: no need to resend it
            yield (grid, heat, render.status_text(trajectory, stop_ids), gr.skip(), gr.skip(), gr.skip(),
                   gr.skip(), gr.skip(), gr.skip())
        done = self.finish(choice.label, trajectory, history, prompt, show_guesses)
        yield done + (gr.update(value=trajectory.steps_done, maximum=trajectory.steps_done, interactive=True),
                      trajectory)

    def stop_run(self, label, history, prompt, show_guesses, request: gr.Request = None):
        """Stop the tab's run and replay before their next step. A stopped run's views stay on screen and
        can be replayed; a run that had finished, or a replay, keeps its views. Returns the views for
        the outputs of the run minus the trajectory State."""
        session = self._session(request)
        run, play = session.run, session.play
        unchanged = (gr.skip(),) * 8
        for activity in (run, play):
            if activity is not None:
                activity.stop.set()
        if play is not None:
            play.done.wait(timeout=10)
        if run is None or run.done.is_set():
            return unchanged  # no run going on
        run.done.wait(timeout=10)  # it notices at its next step; wait, so nothing overwrites our views
        trajectory = session.trajectory
        if not trajectory.frames or trajectory.steps_done == trajectory.steps:
            return unchanged  # it had not begun, or it finished as Stop was pressed
        done = self.finish(trajectory.label, trajectory, history, prompt, show_guesses, stopped=True)
        return done + (gr.update(value=trajectory.steps_done, maximum=trajectory.steps_done, interactive=True),)

    # ---- replay -------------------------------------------------------------------------------------
    def replay_view(self, label, trajectory, step, show_guesses) -> str:
        """The grid as it was after `step` (0: all masked). No recomputation."""
        if trajectory is None or not trajectory.frames:
            return gr.skip()
        label = trajectory.label or label
        _, loaded = self.model(label)
        view = trajectory.view(int(step))
        caption = f"replay · step {view.step}/{trajectory.steps_done}"
        return render.grid_html(view, self.text_of(label, loaded), trajectory.prompt_tokens, bool(show_guesses),
                                caption)

    def play(self, label, trajectory, step, speed, show_guesses, request: gr.Request = None):
        """Replay from the slider's step (from the start if at the end) at `speed` steps per second."""
        if trajectory is None or not trajectory.frames:
            raise gr.Error("Run the model first; then Play replays its steps.")
        activity = Activity()
        self._session(request).play = activity
        try:
            start = 0 if int(step) >= trajectory.steps_done else int(step)
            for k in range(start, trajectory.steps_done + 1):
                if activity.stop.is_set():
                    return
                yield self.replay_view(label, trajectory, k, show_guesses), gr.update(value=k)
                time.sleep(1.0 / max(float(speed), 0.1))
        finally:
            activity.done.set()

    # ---- API ------------------------------------------------------------------------------------------
    def api_denoise(self, prompt: str, gen_length: int = 64, steps: int = 64, block_length: int = 32,
                    temperature: float = 0.0, cfg_scale: float = 0.0, remasking: str = "low_confidence",
                    seed: int = 0) -> Iterator[dict]:
        """Stream one JSON frame per reverse step, on the app's default model.

        Each frame: step, steps, block, tokens (answer cells as text), masked, confidence (at this
        step), committed (answer positions unmasked at this step), text (the answer so far up to EOS,
        masks left out; after the last step, the final answer)."""
        label = self.default.label
        _, loaded, frames, trajectory = self._prepare(label, prompt, [], gen_length, steps, block_length,
                                                      temperature, cfg_scale, remasking, seed, "", False)
        text = self.text_of(label, loaded)
        for frame in frames:
            trajectory.add(frame)
            view = trajectory.view(trajectory.steps_done)
            row = trajectory.confidence_rows[-1]
            yield {"step": frame.step, "steps": frame.steps, "block": frame.block,
                   "tokens": [text(t) for t in view.tokens], "masked": view.masked.tolist(),
                   "confidence": [round(float(c), 5) for c in row],
                   "committed": [int(i) for i in view.committed_now.nonzero()[0]],
                   "text": self.answer_text(label, trajectory)}


def launch_options() -> dict:
    """What launch() takes besides the address (Gradio 6 takes css and theme there)."""
    return dict(css=render.CSS, theme=gr.themes.Soft(primary_hue="teal"))


def build_demo(app: DemoApp) -> gr.Blocks:
    default = app.default
    d = default.defaults
    # answer lengths up to what the default model can hold after a short prompt
    max_len = min(MAX_LENGTH, app.model(None)[1].model.config.max_sequence_length - 32)
    with gr.Blocks(title="llada-demo: watch a diffusion LM write") as demo:
        banner = gr.HTML(app.banner())
        gr.Markdown("LLaDA writes by **unmasking**: the answer starts as masks and, at every step, the model "
                    "predicts all of them and commits the ones it is most sure of. Watch it below.")
        current = gr.State(default.label)
        trajectory = gr.State(None)
        # Two rows, so that a phone (where columns stack) shows prompt, grid, settings, heatmap in that order
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
            with gr.Column(scale=3, min_width=320):
                status = gr.Markdown("Ready.", elem_id="ld-status")
                grid = gr.HTML(render.empty_grid_html("The token grid appears here when you press Generate."),
                               elem_id="ld-grid")
                with gr.Row():
                    replay = gr.Slider(0, 1, value=0, step=1, label="Replay: step", interactive=False,
                                       elem_id="ld-replay")
                    speed = gr.Slider(1, 60, value=12, step=1, label="Play speed (steps/s)")
                    play = gr.Button("Play", elem_id="ld-play")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                with gr.Accordion("Settings", open=True):
                    gen_length = gr.Slider(8, max_len, value=d["gen_length"], step=1, label="Answer length (tokens)")
                    steps = gr.Slider(1, max_len, value=d["steps"], step=1, label="Steps")
                    block_length = gr.Slider(1, max_len, value=d["block_length"], step=1, label="Block length")
                    plan = gr.Markdown(plan_text(d["gen_length"], d["steps"], d["block_length"]))
                    temperature = gr.Slider(0, 2, value=d["temperature"], step=0.05, label="Temperature")
                    cfg_scale = gr.Slider(0, 5, value=d.get("cfg_scale", 0.0), step=0.1, label="CFG scale")
                    remasking = gr.Dropdown(list(REMASKING_STRATEGIES), value=d.get("remasking", "low_confidence"),
                                            label="Remasking strategy")
                    seed = gr.Number(value=0, precision=0, label="Seed")
                    fixed = gr.Textbox(label="Fixed tokens (answer position: text)", placeholder="0: And, 10: God")
                    infill = gr.Checkbox(label=f"Infill mode: fill each {MASK_PLACEHOLDER} in the prompt")
                    guesses = gr.Checkbox(value=True, label="Show the model's guesses under the masks")
            with gr.Column(scale=3, min_width=320):
                heatmap = gr.Plot(label="Confidence by step and position", elem_id="ld-heatmap")
                # always visible: plotly.js cannot scale axes in a container that is being un-hidden
                order = gr.Plot(label="Unmask order (after the run)")
                per_step = gr.Plot(label="Masks left and commits per step (after the run)")
        gr.Examples([[e] for e in sorted(app.example_prompts)], inputs=[prompt],
                    label="Examples (their runs are cached after the first one)")

        settings = [gen_length, steps, block_length, infill]
        for comp in settings:
            comp.change(plan_text, settings, plan, show_progress="hidden", api_visibility="private")
        model.change(app.select_model, [model, current],
                     [model, current, banner, chatbot, new_chat, gen_length, steps, block_length, temperature,
                      cfg_scale, remasking], api_visibility="private")
        inputs = [prompt, chatbot, current, gen_length, steps, block_length, temperature, cfg_scale, remasking, seed,
                  fixed, infill, guesses]
        outputs = [grid, heatmap, status, answer, chatbot, order, per_step, replay, trajectory]
        # Runs share one queue slot per app ("model"): a GPU holds one run at a time. Replays, the
        # replay slider and Stop need no model and never wait behind a run.
        run_on_gpu = gpu(app.generate_run)
        run.click(run_on_gpu, inputs, outputs, api_visibility="private", concurrency_id="model", concurrency_limit=1)
        prompt.submit(run_on_gpu, inputs, outputs, api_visibility="private", concurrency_id="model")
        replay.release(app.replay_view, [current, trajectory, replay, guesses], grid, show_progress="hidden",
                       api_visibility="private", concurrency_limit=None)
        play.click(app.play, [current, trajectory, replay, speed, guesses], [grid, replay], show_progress="hidden",
                   api_visibility="private", concurrency_limit=None)
        # Stop sets the tab's stop flags, which the run and the replay check before every step. Not
        # `cancels=`: a cancelled task leaves its generator suspended, so the run never says it has
        # stopped, and in our measurements some cancels only took effect at the end of the run.
        stop.click(app.stop_run, [current, chatbot, prompt, guesses],
                   [grid, heatmap, status, answer, chatbot, order, per_step, replay], api_visibility="private",
                   concurrency_limit=None)
        new_chat.click(lambda: [], None, chatbot, api_visibility="private")
        demo.unload(app.close_session)
        gr.api(gpu(app.api_denoise), api_name="denoise", concurrency_id="model")
    # max_size keeps a queue of waiting runs (ZeroGPU otherwise keeps only one waiting)
    demo.queue(max_size=32, default_concurrency_limit=1)
    return demo
