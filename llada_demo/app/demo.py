"""What every tab shares: the models on offer, the tabs' sessions, the runs' outboxes and the exports.

The tabs (app/tabs/) hold their own components and handlers; each reaches the others' only through
this object (the Generate tab's settings are Compare's A, its last answer the Forward process tab's).
"""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from ..views import TokenText
from .catalog import ModelCache, ModelChoice
from .errors import ToastError, for_toast
from .exports import ExportStore
from .session import Sessions
from .stream import Outboxes

EXAMPLES = ("In the beginning", "And Jesus said unto them", "The LORD is my shepherd")


class DemoApp:
    """The models (a menu of ModelChoice, loaded once each), per-tab sessions, the latest runs' outboxes,
    the export store, and the tabs once the page is built (`build_demo` sets `tabs`)."""

    def __init__(self, choices: list[ModelChoice], cache: ModelCache | None = None, examples=EXAMPLES):
        self.examples = tuple(examples)  # the Generate tab's own; models may bring theirs (ModelChoice.examples)
        self.example_prompts = set(examples) | {e for c in choices for e in c.examples}
        self.choices = {c.label: c for c in choices}
        self.default = choices[0]
        self.cache = cache or ModelCache()
        self.sessions = Sessions()
        self.outboxes = Outboxes()  # the latest runs' messages, for their pages' streams and resend
        self.exports = ExportStore()  # exported runs on disk, bounded in size and age
        self._texts: dict[str, TokenText] = {}
        self.tabs = None  # app/layout.py: the page's tabs, each with its components and handlers
        self.current: gr.State | None = None  # the model chosen in the Generate tab (layout)

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

    def causal(self, label: str | None) -> bool:
        """Whether a model writes left to right (a loaded one only: no load for the question)."""
        choice = self.choices.get(label or self.default.label)
        return choice is not None and self.cache.loaded(choice) and bool(self.cache.get(choice).model.config.causal)

    def text_of(self, label: str, loaded) -> TokenText:
        if label not in self._texts:
            self._texts[label] = TokenText(loaded.tokenizer, loaded.mask_id)
        return self._texts[label]

    @staticmethod
    def stop_ids(loaded) -> set[int]:
        return {i for i in (loaded.eos_id, loaded.eot_id) if i is not None}

    def banner(self, label: str | None = None) -> str:
        choice, loaded = self.model(label)
        params = loaded.model.num_parameters()
        size = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"
        dtype = str(loaded.dtype).replace("torch.", "")
        mode = "chat" if choice.chat else "completion"
        return (f"<div class='ld-banner'><b>llada-demo</b> · {html.escape(choice.label)} "
                f"({size} parameters, {mode}) · {loaded.device.type} · {dtype}</div>")

    def twin_of(self, choice: ModelChoice) -> ModelChoice | None:
        """The autoregressive twin of a model we ship (its directory + "-ar", as assets/llada-kjv-ar is the
        bundled model's), when the app offers it."""
        name = choice.directory.name + "-ar"
        return next((c for c in self.choices.values() if c.source and Path(c.source).name == name), None)

    # ---- a tab's runs ---------------------------------------------------------------------------
    def stop(self, request: gr.Request = None) -> None:
        """Stop what the tab is running (a run, both of Compare's, the Reversal's four, a scoring) before
        its next step; it then sends its own end ("stopped")."""
        run = self.sessions.of(request).run
        if run is not None:
            run.stop.set()

    def close_session(self, request: gr.Request = None):
        self.sessions.close(request)

    def resend(self, request) -> str | None:
        return self.outboxes.resend(request)
