"""The API: what the page does, for programs. /run streams a run in the wire format (trace/wire.py); /denoise
streams one JSON frame per step. Both run any model of the menu, with the page's settings as arguments:
their parameters are made from the rows of controls.CONTROLS, so a new setting reaches the API with its row.
A setting left out (None) takes the chosen model's page default. /inspect and /continue ask a run why and
steer it (app/steer.py): a cell's top candidates at a step, and the run continued from a step with edits.
"""

from __future__ import annotations

import inspect
from typing import Callable, Iterator, Literal, Optional

import gradio as gr

from ..trace.wire import Encoder
from .controls import BY_FIELD, CONTROLS, page_value
from . import steer
from .runs import answer_text, prepare

DENOISE_FIELDS = ("gen_length", "steps", "block_length", "temperature", "cfg_scale", "remasking", "seed")


def _endpoint(name: str, fields, extra: list[inspect.Parameter], body: Callable, doc: str) -> Callable:
    """A function Gradio's gr.api can read (a signature with type hints) taking prompt, `fields` (default
    None: the model's own) and `extra`, that streams what body(prompt, fields: dict, extra: dict) yields."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("prompt", kind, annotation=str)]
    params += [inspect.Parameter(f, kind, default=None, annotation=Optional[BY_FIELD[f].python_type]) for f in fields]
    params += extra
    signature = inspect.Signature(params, return_annotation=Iterator[dict])

    def endpoint(*args, **kwargs):
        given = signature.bind(*args, **kwargs)
        given.apply_defaults()
        values = dict(given.arguments)
        yield from body(values.pop("prompt"), {f: values.pop(f) for f in fields}, values)

    endpoint.__signature__ = signature
    endpoint.__annotations__ = {p.name: p.annotation for p in params} | {"return": Iterator[dict]}
    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = doc
    return endpoint


def api_functions(app) -> dict[str, Callable]:
    """{endpoint name: function} of the app's API, its model argument taking the labels of its menu."""
    labels = tuple(app.choices)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    model = inspect.Parameter("model", kind, default=None, annotation=Optional[Literal[labels]])
    fixed = inspect.Parameter("fixed", kind, default="", annotation=str)
    infill = inspect.Parameter("infill", kind, default=None, annotation=Optional[bool])
    models = "; ".join(labels)

    def job(prompt, fields: dict, extra: dict):
        label = extra.get("model")
        if label is not None and label not in app.choices:
            raise gr.Error(f"{label!r} is not one of the models: {models}")
        choice = app.choices[label or app.default.label]
        fields = {f: page_value(choice.defaults, f) if v is None else v for f, v in fields.items()}
        return prepare(app, choice.label, prompt, fields, fixed=extra.get("fixed") or "")

    def run(prompt, fields, extra) -> Iterator[dict]:
        j = job(prompt, fields, extra)
        encoder, trajectory = Encoder(app.text_of(j.choice.label, j.loaded)), j.trajectory
        yield encoder.start(trajectory.canvas, j.settings, j.choice.label, app.stop_ids(j.loaded))
        for record in j.records:
            trajectory.add(record)
            yield encoder.step(record)
        yield encoder.end("done", answer_text(j.loaded, trajectory))

    def denoise(prompt, fields, extra) -> Iterator[dict]:
        j = job(prompt, fields | {"infill": extra.pop("infill")}, extra)
        text, trajectory = app.text_of(j.choice.label, j.loaded), j.trajectory
        for record in j.records:
            trajectory.add(record)
            view = trajectory.view(record.step)
            yield {"step": record.step, "steps": trajectory.steps, "block": record.block,
                   "forward_passes": record.forward_passes, "tokens": [text(t) for t in view.tokens],
                   "masked": view.masked.tolist(),
                   "confidence": [None if c != c else round(float(c), 5) for c in record.confidence],
                   "committed": record.committed.tolist(), "text": answer_text(j.loaded, trajectory)}

    common = (f"model: one of {models} (default: the first). fixed: tokens fixed before the run, 'position: text, "
              "...'. A setting left out takes the chosen model's page default.")
    return {
        **steer_functions(app),
        "run": _endpoint("run", [c.field for c in CONTROLS], [model, fixed], run,
                         "Stream the run in the compact wire format (README: Wire format): a start message, one "
                         "message per step, an end message. " + common),
        "denoise": _endpoint("denoise", DENOISE_FIELDS, [model, fixed, infill], denoise,
                             "Stream one JSON frame per reverse step: step, steps, block, forward_passes, tokens "
                             "(canvas cells as text), masked, confidence (at this step; null where nothing was "
                             "predicted), committed (positions unmasked at this step), text (the answer so far up "
                             "to EOS, ' ... ' where masks remain; after the last step, the final answer). " + common),
    }


def steer_functions(app) -> dict[str, Callable]:
    """/inspect and /continue: a cell's candidates, and a run continued from a step (app/steer.py)."""

    def inspect_cell(run: str, step: int, position: int) -> dict:
        """The model's top 5 candidates at a canvas position after a step of a run: {step, position, model,
        masked, candidates: [{id, text, p}]}, from the forward pass of the next step on the canvas as it
        stood (CFG as the run's settings, no key/value cache, before sampling). run: a run file's JSON text
        ({format, version, messages}: an export, or /run's messages), or the id of a run a page streams."""
        return steer.inspect(app, run, step, position)

    def continue_run(run: str, step: int, set: list | None = None, remask: list | None = None) -> Iterator[dict]:
        """Continue a run (its id, or a run file's JSON text) from a step, with cells set by hand (`set`:
        [[position, text]], each one token) or masked again (`remask`: [positions]): streams the branch's
        run file messages (the run's up to the step, an edit, the new steps, an end)."""
        job = steer.branch_job(app, dict(run=run, step=step, set=set or [], remask=remask or []))
        encoder, trajectory = Encoder(app.text_of(job.choice.label, job.loaded)), job.trajectory
        yield from job.prefix
        encoder.already_sent(job.prefix)
        yield encoder.edit(job.first_edit)
        for record in job.records:
            trajectory.add(record)
            yield encoder.step(record)
        yield encoder.end("done", answer_text(job.loaded, trajectory))

    return {"inspect": inspect_cell, "continue": continue_run}
