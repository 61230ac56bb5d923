"""Asking a run why, and steering it: the model's candidates at any cell and step (inspect), and a run
continued from a step of another with cells set or masked again by hand (a branch).

A run is found by its id among the runs the server keeps (stream.Outboxes), or given whole as a run file
(an export opened in the page): either way it is read back with trace.wire.decode_run, checked.
"""

from __future__ import annotations

import json

import gradio as gr

from ..prompts import typed_ids
from ..sampling import Resume, candidates_at, denoise
from ..trace import Trajectory
from ..trace.trajectory import Edit
from ..trace.wire import RunFileError, decode_run, run_document
from .runs import Job

TOP = 5


def trajectory_of(app, run: str, upto: int | None = None) -> tuple[Trajectory, list[dict]]:
    """The run `run` names (the id of a run the server keeps, or a run file's text), up to step `upto`
    and an edit made there (all of it: None): (its Trajectory, its messages, with no end message)."""
    if not isinstance(run, str) or not run:
        raise gr.Error("name a run: the id of a run this server keeps, or a run file's JSON")
    outbox = app.outboxes.get(run)
    try:
        if outbox is not None:
            messages = list(outbox.log)
        elif run.lstrip().startswith("{"):
            document = json.loads(run)
            messages = document.get("messages") if isinstance(document, dict) else None
            if not isinstance(messages, list):
                raise RunFileError("a run file is {format, version, messages}")
        else:
            raise gr.Error("that run is no longer kept here: open its exported JSON, and inspect it from there")
        messages = _upto([m for m in messages if not (isinstance(m, dict) and m.get("type") == "end")], upto)
        document = run_document(messages) if outbox is not None else dict(document, messages=messages)
        return decode_run(document)[0], messages
    except json.JSONDecodeError as e:
        raise gr.Error(f"a run file must be JSON: {e}") from None
    except RunFileError as e:
        raise gr.Error(str(e)) from None


def _upto(messages: list, step: int | None) -> list:
    """The messages of a run up to the record of `step` and an edit after it (a run read only as far as it
    is needed: a continuation or a cell's candidates at `step`)."""
    if step is None:
        return messages
    for i, m in enumerate(messages):
        if isinstance(m, dict) and m.get("type") == "step" and isinstance(m.get("step"), int) and m["step"] > step:
            return messages[:i]
    return messages


def setup_prompt(trajectory: Trajectory):
    """What the sampler reads before the canvas: the prompt, or (infill) the text with its masks."""
    settings = trajectory.settings
    return trajectory.canvas.initial if settings is not None and settings.infill else trajectory.canvas.prompt


def inspect(app, run: str, step, position) -> dict:
    """The model's top candidates at canvas `position` after step `step` of `run`: the forward pass of
    step + 1 on the canvas as it stood (CFG as the run's settings; no key/value cache; before sampling),
    with what the run shows there."""
    try:
        step, position = int(step), int(position)
    except (TypeError, ValueError):
        raise gr.Error(f"step and position must be whole numbers, got {step!r} and {position!r}") from None
    trajectory = trajectory_of(app, run, upto=step)[0]
    if not 0 <= step <= trajectory.steps_done:
        raise gr.Error(f"step {step} is not one of the run's (0..{trajectory.steps_done})")
    if not 0 <= position < trajectory.length:
        raise gr.Error(f"position {position} is outside the canvas (0..{trajectory.length - 1})")
    choice, loaded = app.model(trajectory.label or None)
    view = trajectory.view(step)
    try:
        ids, probabilities = candidates_at(loaded, setup_prompt(trajectory), view.tokens, position,
                                           settings=trajectory.settings, top=TOP)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    text = app.text_of(choice.label, loaded)
    return dict(step=step, position=position, model=choice.label, masked=bool(view.masked[position]),
                candidates=[dict(id=i, text=text(i), p=round(p, 5)) for i, p in zip(ids, probabilities)])


def edited_branch(loaded, trajectory: Trajectory, step: int, set_=(), remask=()) -> Trajectory:
    """The branch of `trajectory` at `step` with the edit the page sends: [[position, typed text], ...] to
    set (each must be one token), and positions to mask again (they must be committed there)."""
    view, tokens = trajectory.view(step), []
    for item in set_:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and _whole(item[0]) and isinstance(item[1], str)):
            raise gr.Error(f"a token to set is [position, text], got {item!r}")
        position, typed = item
        ids = typed_ids(loaded.tokenizer, typed)
        if len(ids) != 1:
            pieces = " + ".join(json.dumps(loaded.tokenizer.decode([i])) for i in ids) or "nothing"
            raise gr.Error(f"{typed!r} is {len(ids)} tokens here ({pieces}): type one token (a word may need its "
                           "leading space, as ' God')")
        tokens.append((position, ids[0]))
    if not (isinstance(remask, (list, tuple)) and all(_whole(p) for p in remask)):
        raise gr.Error(f"the cells to mask again are a list of positions, got {remask!r}")
    remask = tuple(remask)
    for p in remask:
        if not 0 <= p < trajectory.length or view.masked[p] or trajectory.canvas.initial[p] != trajectory.mask_id:
            raise gr.Error(f"position {p} is not a committed cell the run filled: only those can be masked again")
    positions = [p for p, _ in tokens] + list(remask)
    if len(set(positions)) != len(positions):
        raise gr.Error("each cell can be changed once in an edit")
    try:
        return trajectory.branch(Edit(step=step, set=tuple(tokens), remask=remask))  # (it checks the positions)
    except ValueError as e:
        raise gr.Error(str(e)) from None


def branch_job(app, request: dict) -> Job:
    """The job that continues a run from a step with the edits asked for: {run (an id or a run file's
    text), step, set: [[position, text]], remask: [positions], page_run (the id the page keeps it by)}.
    Its first messages (`prefix`) are the run's up to the step, which the page has already."""
    if not isinstance(request, dict):
        raise gr.Error("a continuation is {run, step, set, remask}")
    step = request.get("step")
    if not isinstance(step, int) or isinstance(step, bool):
        raise gr.Error(f"step must be a whole number, got {step!r}")
    parent, messages = trajectory_of(app, request.get("run"), upto=step)
    if not 0 <= step <= parent.steps_done:
        raise gr.Error(f"step {step!r} is not one of the run's (0..{parent.steps_done})")
    choice, loaded = app.model(parent.label or None)
    branch = edited_branch(loaded, parent, step, request.get("set") or (), request.get("remask") or ())
    view = branch.view(step)
    passes = parent.records[step - 1].forward_passes if step else 0
    records = denoise(loaded, setup_prompt(parent), settings=parent.settings,
                      resume=Resume(tokens=view.tokens, step=step, block=view.block, forward_passes=passes))
    prefix = [m for m in messages if not (m.get("type") == "edit" and m.get("step") == step)]  # (the page has them)
    # the page names the run it continues as it keeps it (the server's run id, or its own for an opened file)
    page_run = request.get("page_run") or request.get("run")
    job = Job(choice, loaded, parent.settings, records, branch, prefix=prefix, first_edit=branch.edits[-1],
              branch_of=page_run if isinstance(page_run, str) else None)
    return job


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
