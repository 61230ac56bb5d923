"""Forward process: how LLaDA is trained. A text masked at ratio t, the model's one-pass reconstruction, and
over t the share it gets right and LLaDA's training loss."""

from __future__ import annotations

import gradio as gr

from ...likelihood import forward_curve, reconstruct, token_draws
from ...sampling.settings import finite_number, seed_number
from ..errors import page_handler, text_input, warn
from ..widgets import data_view

TEXT = "In the beginning God created the heaven and the earth. And the earth was without form, and void."
EXAMPLES = [TEXT, "The LORD is my shepherd; I shall not want.", "And God said, Let there be light: and there was light."]
KEEP_CURVES = 32  # curves kept, by (model, text, seed)


class ForwardTab:
    def __init__(self, app, tab: gr.Tab):
        self.app, self.tab = app, tab
        self._curves: dict[tuple, tuple] = {}  # (model, text, seed) -> (draws, curve)
        gr.Markdown("**Training is the forward process, and learning to undo it.** Each token of a text is masked "
                    "with probability *t*; the model sees the masked text and predicts every masked token at once. "
                    "Raise *t* to mask more (each token has one random draw, so raising *t* only adds masks); the "
                    "cells show the model's one-pass prediction, outlined green where it is right and red where it is "
                    "wrong. The chart shows, over *t*, the share it gets right and LLaDA's training loss "
                    "(cross-entropy on the masked tokens, weighted 1/*t*).")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                self.text = gr.Textbox(value=TEXT, lines=3, label="Text")
                self.t = gr.Slider(0, 1, value=0.3, step=0.01, label="Mask ratio t")
                self.seed = gr.Number(value=0, precision=0, label="Seed of the draws")
                self.example = gr.Dropdown(EXAMPLES, value=None, label="Example texts")
                self.last = gr.Button("Use the last answer from Generate", size="sm")
            with gr.Column(scale=3, min_width=320):
                self.view = data_view("ld-forward-root", "mountForward", "tokens", "ld-forward")
        self.wire()

    def wire(self):
        inputs = [self.text, self.t, self.seed, self.app.current]
        show = dict(api_visibility="private", show_progress="hidden", concurrency_id="model",
                    trigger_mode="always_last")
        for pick in (self.last.click(self.last_answer, self.text, self.text, api_visibility="private"),
                     self.example.input(self.use_example, [self.example, self.text], self.text,
                                        api_visibility="private")):
            pick.then(self.mask, inputs, self.view, **show)
        for event in (self.tab.select, self.text.submit, self.text.blur, self.t.change, self.seed.submit):
            event(self.mask, inputs, self.view, **show)

    def last_answer(self, text: str, request: gr.Request = None) -> dict:
        """The text set to the tab's last answer from Generate; with none yet, a warning and the text stays."""
        answer = self.app.sessions.of(request).answer
        if not answer:
            warn("Generate an answer first; its text then comes here.")
        return {self.text: answer or text}

    def use_example(self, example: str | None, text: str) -> dict:
        """The text set to the example chosen (none chosen: the text stays)."""
        return {self.text: example or text}

    @page_handler
    def mask(self, text, t, seed, model: str | None = None) -> dict:
        """`text` masked at ratio t (one uniform draw per token, from `seed`), the model's one-pass
        reconstruction, and the curve over t (computed once per text and seed)."""
        text = text_input("The text", text, required=True)
        if not text.strip():
            raise gr.Error("Type a text first.")
        try:
            t = finite_number("t", t)
            if t > 1:
                raise ValueError(f"t is a probability, from 0 to 1; got {t:g}")
            seed = seed_number(0 if seed is None or seed == "" else seed)
        except ValueError as e:
            raise gr.Error(str(e)) from None
        choice, loaded = self.app.diffusion_model(model, "the forward process is a diffusion model's training; "
                                                         "choose a diffusion model")
        ids = loaded.tokenizer.encode(text, add_special_tokens=False)
        limit = loaded.model.config.max_sequence_length
        if len(ids) > limit:
            raise gr.Error(f"The text is {len(ids)} tokens; this model reads at most {limit}: shorten it.")
        key = (choice.label, text, seed)
        if key not in self._curves:
            draws = token_draws(len(ids), seed)
            self._curves[key] = (draws, forward_curve(loaded.model, ids, draws, loaded.mask_id))
            while len(self._curves) > KEEP_CURVES:
                self._curves.pop(next(iter(self._curves)))
        draws, curve = self._curves[key]
        masked = draws < t
        r = reconstruct(loaded.model, ids, masked, loaded.mask_id)
        name = self.app.text_of(choice.label, loaded)
        prediction = r["prediction"].tolist()
        return {self.view: dict(
            t=t, label=choice.label, tokens=[name(i) for i in ids], masked=masked.tolist(),
            predictions=[name(i) for i in prediction], correct=[p == i for p, i in zip(prediction, ids)],
            confidence=[round(float(c), 4) for c in r["confidence"]],
            true_probability=[round(float(c), 4) for c in r["true_probability"]], curve=curve)}
