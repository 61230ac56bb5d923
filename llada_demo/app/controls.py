"""The run settings' controls, made from one table: a SamplingSettings field -> its control.

Every place a run's settings appear is made from CONTROLS: the Generate tab's panel, Compare's B panel,
the values a chosen model brings (its defaults), the line that says what will run, and the /run API's
arguments (app/api.py). What the controls hold is read back into one dict of SamplingSettings fields
before any handler sees it (`Panel.read`), and made into a SamplingSettings in one place (runs.prepare).

Adding a setting: a field on SamplingSettings (sampling/settings.py), a row here, and its test
(tests/test_controls.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..prompts import MASK_PLACEHOLDER
from ..sampling import REMASKING_STRATEGIES, SamplingSettings
from ..sampling.rules import DECODING_RULES
from ..sampling.settings import CACHES

ANSWER = "answer"  # a slider's maximum: the longest answer the app offers (layout.MAX_LENGTH, or less)


@dataclass(frozen=True)
class Control:
    """One SamplingSettings field as a control on the page."""

    field: str
    label: str
    kind: str  # "slider", "dropdown", "checkbox" or "number"
    info: str | None = None
    low: float = 0
    high: float | str = 1  # ANSWER: the longest answer
    step: float = 1
    choices: tuple = ()
    rule: str | None = None  # shown only under this decoding rule

    @property
    def python_type(self) -> type:
        """What the API takes for it."""
        if self.kind == "checkbox":
            return bool
        if self.kind == "dropdown":
            return str
        return int if self.kind == "number" or self.step == 1 else float


CONTROLS = (
    Control("gen_length", "Answer length (tokens)", "slider", low=8, high=ANSWER),
    Control("steps", "Steps", "slider", low=1, high=ANSWER),
    Control("block_length", "Block length", "slider", low=1, high=ANSWER),
    Control("temperature", "Temperature", "slider", high=2, step=0.05),
    Control("cfg_scale", "CFG scale", "slider", high=5, step=0.1),
    Control("remasking", "Remasking strategy", "dropdown", choices=REMASKING_STRATEGIES),
    Control("seed", "Seed", "number"),
    Control("decoding", "Decoding rule", "dropdown", choices=DECODING_RULES,
            info="fixed: LLaDA's, tokens per step from the schedule; threshold or factor: Fast-dLLM's, as many "
                 "as the model is sure of"),
    Control("threshold", "Threshold (confidence)", "slider", step=0.01, rule="threshold"),
    Control("factor", "Factor f", "slider", low=0.05, high=4, step=0.05, rule="factor"),
    Control("stop_at_eos", "Stop at EOS", "checkbox",
            info="end once everything before the first end-of-text is written (the answer cannot change after "
                 "that; not in infill)"),
    Control("cache", "Key/value cache", "dropdown", choices=tuple(c or "none" for c in CACHES),
            info="Fast-dLLM's, approximate: recompute only the block and after (prefix) or the block (dual)"),
    Control("infill", f"Infill mode: fill each {MASK_PLACEHOLDER} in the prompt", "checkbox"),
)
BY_FIELD = {c.field: c for c in CONTROLS}
PLAN_FIELDS = ("gen_length", "steps", "block_length", "decoding", "infill")  # what the plan line reads
SHOWN_AFTER_PLAN = "block_length"  # the plan line stands under the length sliders


def page_value(settings: SamplingSettings, field: str):
    """A setting as its control shows it (no seed: 0; no cache: "none")."""
    value = getattr(settings, field)
    if field == "seed":
        return 0 if value is None else value
    if field == "cache":
        return value or "none"
    return value


def from_page(field: str, value):
    """A control's value as SamplingSettings takes it (an empty seed box: no seed)."""
    if field == "seed" and (value is None or value == ""):
        return None
    return value


def make(control: Control, value, longest: int, prefix: str = "", visible: bool = True) -> gr.components.Component:
    label, high = prefix + control.label, longest if control.high == ANSWER else control.high
    if control.kind == "slider":
        return gr.Slider(control.low, high, value=value, step=control.step, label=label, info=control.info,
                         visible=visible)
    if control.kind == "dropdown":
        return gr.Dropdown(list(control.choices), value=value, label=label, info=control.info, visible=visible)
    if control.kind == "checkbox":
        return gr.Checkbox(value=value, label=label, info=control.info, visible=visible)
    if control.kind == "number":
        return gr.Number(value=value, precision=0, label=label, info=control.info, visible=visible)
    raise ValueError(f"unknown kind of control {control.kind!r}")


class Panel:
    """Controls for some of the table's fields, made and laid out where it is built (inside a layout's
    `with` block), with the decoding rule showing only its own parameter. `controls`: field -> component."""

    def __init__(self, settings: SamplingSettings, longest: int, fields=None, prefix: str = "", plan=None):
        rows = [BY_FIELD[f] for f in (fields or BY_FIELD)]
        self.longest = longest
        self.controls: dict[str, gr.components.Component] = {}
        for row in rows:
            shown = row.rule is None or settings.decoding == row.rule
            self.controls[row.field] = make(row, page_value(settings, row.field), longest, prefix, shown)
            if row.field == SHOWN_AFTER_PLAN and plan is not None:
                self.plan = gr.Markdown(plan)
        ruled = {f: c for f, c in self.controls.items() if BY_FIELD[f].rule}
        if "decoding" in self.controls and ruled:
            self.controls["decoding"].change(self.show_rule, self.controls["decoding"], list(ruled.values()),
                                             show_progress="hidden", api_visibility="private")

    def show_rule(self, decoding: str) -> dict:
        """Only the chosen rule's own parameter (threshold, factor) is shown."""
        return {c: gr.update(visible=BY_FIELD[f].rule == decoding) for f, c in self.controls.items()
                if BY_FIELD[f].rule}

    @property
    def inputs(self) -> set:
        return set(self.controls.values())

    def read(self, values: dict) -> dict:
        """{field: value} from an event's {component: value} (what Gradio gives a handler of set inputs)."""
        return {f: from_page(f, values[c]) for f, c in self.controls.items()}

    def show(self, settings: SamplingSettings) -> dict:
        """{component: value} that sets these controls to `settings` (a chosen model's defaults)."""
        out = {c: page_value(settings, f) for f, c in self.controls.items()}
        if "decoding" in self.controls:
            out.update({c: gr.update(value=out[c], visible=BY_FIELD[f].rule == settings.decoding)
                        for f, c in self.controls.items() if BY_FIELD[f].rule})
        return out


def plan_text(fields: dict, causal: bool = False) -> str:
    """What will really run, shown under the sliders; or what to change. `fields`: the panel's values
    (missing ones: SamplingSettings' defaults); `causal`: the chosen model writes left to right."""
    if fields.get("infill"):
        return (f"Infill: each {MASK_PLACEHOLDER} in the prompt is one token to fill; answer length is not used, "
                "steps are capped at the number of masks.")
    try:
        settings = SamplingSettings(**{f: from_page(f, fields[f]) for f in PLAN_FIELDS if f in fields})
        if causal:
            n = settings.gen_length
            return (f"Will run: one token per step, left to right, in one block: {n} step{'s' * (n != 1)} "
                    "(an autoregressive model: steps, block length and decoding rule do not apply).")
        plan = settings.plan()
    except ValueError as e:
        return f"⚠️ {e}"
    dynamic = settings.rule().dynamic
    text = "Will run: " + plan.describe(dynamic) + "."
    notes = plan.notes[1:] if dynamic else plan.notes  # (the dynamic rule's own note is the line itself)
    if notes:
        text += "  \n" + "  \n".join(f"Adjusted: {n}." for n in notes)
    return text
