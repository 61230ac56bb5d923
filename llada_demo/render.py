"""Renderers: a Trajectory (or one step of it) in, HTML or Plotly figures out. No model, no Gradio.

Every model- or user-provided string goes through `html.escape` before it reaches HTML.
"""

from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go

# A perceptually even dark-to-bright scale (viridis), readable on light and dark backgrounds.
SCALE = [(0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)), (0.75, (94, 201, 98)),
         (1.0, (253, 231, 37))]
PLOTLY_SCALE = [[p, f"rgb{c}"] for p, c in SCALE]
PROMPT_CELLS_SHOWN = 48  # a long prompt shows its last cells only


def confidence_rgb(value: float) -> tuple[int, int, int]:
    value = 0.0 if value is None or math.isnan(value) else min(max(float(value), 0.0), 1.0)
    for (p0, c0), (p1, c1) in zip(SCALE, SCALE[1:]):
        if value <= p1:
            w = (value - p0) / (p1 - p0)
            return tuple(round(a + (b - a) * w) for a, b in zip(c0, c1))
    return SCALE[-1][1]


def _text_colour(rgb) -> str:
    luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return "#111" if luminance > 140 else "#fff"


class TokenText:
    """Display strings of token ids (decoded one by one, cached)."""

    def __init__(self, tokenizer=None, mask_id: int | None = None):
        self.tokenizer, self.mask_id, self._cache = tokenizer, mask_id, {}

    def __call__(self, token_id: int) -> str:
        token_id = int(token_id)
        if token_id not in self._cache:
            if self.tokenizer is None:
                text = f"#{token_id}"
            else:
                text = self.tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
            self._cache[token_id] = text
        return self._cache[token_id]

    def shown(self, token_id: int) -> str:
        """The text of a cell: newlines and tabs made visible, empty tokens marked."""
        text = self(token_id).replace("\n", "↵").replace("\t", "⇥")
        return text if text.strip() else (text.replace(" ", "␣") or "∅")


def legend_html() -> str:
    stops = ", ".join(f"rgb{c} {int(p * 100)}%" for p, c in SCALE)
    return (
        '<div class="ld-legend">'
        '<span class="ld-cell ld-prompt">prompt</span>'
        '<span class="ld-cell ld-mask"><span class="ld-guess">guess</span></span>'
        '<span class="ld-cell ld-new" style="background:rgb(33,145,140);color:#fff">new</span>'
        f'<span class="ld-scale"><span>confidence 0</span><span class="ld-bar" style="background:linear-gradient('
        f'to right, {stops})"></span><span>1</span></span></div>')


def grid_html(view, text: TokenText, prompt_tokens=(), show_guesses: bool = True, caption: str = "") -> str:
    """The token grid of one step: prompt dimmed, masks with the model's faint guess, committed cells
    coloured by the confidence they were committed with, cells committed at this step highlighted,
    block boundaries drawn and the active block marked. Hover (title) gives token, id, confidence, step."""
    cells = []
    prompt_tokens = list(prompt_tokens)
    hidden = max(0, len(prompt_tokens) - PROMPT_CELLS_SHOWN)
    if hidden:
        cells.append(f'<span class="ld-cell ld-prompt ld-more" title="{hidden} earlier prompt tokens">…</span>')
    for tok in prompt_tokens[hidden:]:
        cells.append(f'<span class="ld-cell ld-prompt" title="prompt · id {int(tok)}">'
                     f'{html.escape(text.shown(tok))}</span>')
    if prompt_tokens:
        cells.append('<span class="ld-sep" aria-hidden="true"></span>')
    a0, a1 = view.block_span
    starts = set(view.block_starts)
    for i in range(len(view.tokens)):
        classes = ["ld-cell"]
        if i in starts and i > 0:
            classes.append("ld-block-start")
        if a0 <= i < a1 and view.step < view.steps:
            classes.append("ld-active")
        conf = float(view.confidence[i])
        conf_txt = "–" if math.isnan(conf) else f"{conf:.3f}"
        if view.masked[i]:
            classes.append("ld-mask")
            guess = int(view.prediction[i])
            inner = ""
            title = "masked"
            if view.step > 0 and guess != text.mask_id:
                title += f" · model's guess {text(guess)!r} (id {guess}, confidence {conf_txt})"
                if show_guesses:
                    inner = f'<span class="ld-guess">{html.escape(text.shown(guess))}</span>'
            cells.append(f'<span class="{" ".join(classes)}" title="{html.escape(title)}">{inner}</span>')
            continue
        tok = int(view.tokens[i])
        step = int(view.commit_step[i])
        if view.committed_now[i]:
            classes.append("ld-new")
        rgb = confidence_rgb(conf)
        when = "given" if step == 0 else f"committed at step {step}"
        title = f"{text(tok)!r} · id {tok} · confidence {conf_txt} · {when}"
        cells.append(f'<span class="{" ".join(classes)}" style="background:rgb{rgb};color:{_text_colour(rgb)}" '
                     f'title="{html.escape(title)}">{html.escape(text.shown(tok))}</span>')
    cap = f'<div class="ld-caption">{html.escape(caption)}</div>' if caption else ""
    return f'<div class="ld-grid">{legend_html()}{cap}<div class="ld-cells">{"".join(cells)}</div></div>'


def empty_grid_html(message: str) -> str:
    return f'<div class="ld-grid"><div class="ld-empty">{html.escape(message)}</div></div>'


def _style(fig: go.Figure, title: str, height: int, **layout) -> None:
    """Transparent backgrounds and mid-grey text and grid: legible in light and dark themes alike."""
    grey, grid = "#8a8f98", "rgba(138,143,152,0.25)"
    fig.update_layout(template="none", height=height, title=dict(text=title, x=0.01, font=dict(size=13)),
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", font=dict(color=grey), **layout)
    fig.update_xaxes(gridcolor=grid, zeroline=False)
    fig.update_yaxes(gridcolor=grid, zeroline=False)


def _percent(matrix: np.ndarray) -> np.ndarray:
    # uint8 percent: gr.Plot re-sends the whole figure, and plotly ships numpy uint8 as packed bytes
    return np.rint(np.nan_to_num(matrix, nan=0.0) * 100).astype(np.uint8)


def heatmap_figure(trajectory, text: TokenText | None = None, final: bool = False) -> go.Figure:
    """Confidence by step (rows) x position (columns), rows filling in as the run goes; dots mark the
    step at which each position was committed; dotted lines are block boundaries. The final figure
    also carries each cell's predicted token for hover."""
    matrix = trajectory.confidence_matrix()
    n, steps = trajectory.length, max(trajectory.steps, 1)
    z = _percent(matrix)
    heat = dict(z=z, x0=0, dx=1, y0=1, dy=1, zmin=0, zmax=100, colorscale=PLOTLY_SCALE,
                colorbar=dict(title=dict(text="conf. %", side="right"), thickness=12, len=0.9))
    if final and text is not None and z.size <= 65536:
        preds = np.stack([f["prediction"] for f in trajectory.frames]) if trajectory.frames else z
        heat["text"] = [[html.escape(text(t)) for t in row] for row in preds]  # plotly reads tags in hover text
        heat["hovertemplate"] = "position %{x} · step %{y}<br>%{text}: %{z}%<extra></extra>"
    else:
        heat["hovertemplate"] = "position %{x} · step %{y}<br>confidence %{z}%<extra></extra>"
    fig = go.Figure(go.Heatmap(**heat))
    if trajectory.frames:
        commit = trajectory.frames[-1]["commit_step"]
        done = np.nonzero(commit > 0)[0]
        fig.add_trace(go.Scatter(x=done.astype(np.int32), y=commit[done].astype(np.int32), mode="markers",
                                 marker=dict(size=4, color="white", line=dict(width=1, color="black")),
                                 hovertemplate="position %{x} committed at step %{y}<extra></extra>",
                                 name="committed", showlegend=False))
    for start in trajectory.block_starts[1:]:
        fig.add_vline(x=start - 0.5, line=dict(color="#e45756", width=1, dash="dot"))
    _style(fig, "Confidence at every step", 320, margin=dict(l=48, r=8, t=28, b=36),
           xaxis=dict(title="answer position", range=[-0.5, n - 0.5]),
           yaxis=dict(title="step", range=[steps + 0.5, 0.5]))
    return fig


def order_figure(trajectory, text: TokenText, width: int = 32) -> go.Figure:
    """Unmask-order map: the step at which each position was committed, wrapped in rows of `width`."""
    commit = trajectory.frames[-1]["commit_step"] if trajectory.frames else np.zeros(0, np.int16)
    tokens = trajectory.final_tokens()
    n = len(commit)
    rows = max(1, math.ceil(n / width))
    # plain lists with None for empty cells: small, and plotly.js failed to scale axes on a float32
    # array holding NaN
    z = [[None] * width for _ in range(rows)]
    labels = [["" for _ in range(width)] for _ in range(rows)]
    for i in range(n):
        r, c = divmod(i, width)
        z[r][c] = int(commit[i]) if commit[i] > 0 else None
        labels[r][c] = html.escape(f"position {i} · {text(tokens[i])!r} · step {int(commit[i])}")
    fig = go.Figure(go.Heatmap(z=z, x=list(range(width)), y=list(range(rows)), text=labels, hovertemplate="%{text}<extra></extra>", colorscale="Plasma",
                               colorbar=dict(title=dict(text="step", side="right"), thickness=12), xgap=1, ygap=1))
    _style(fig, "Unmask order: the step each position was committed", max(220, 26 * rows + 120),
           margin=dict(l=48, r=8, t=28, b=30), xaxis=dict(title=f"position mod {width}"),
           yaxis=dict(title="first position", autorange="reversed", tickmode="array", tickvals=list(range(rows)),
                      ticktext=[str(r * width) for r in range(rows)]))
    return fig


def progress_figure(trajectory) -> go.Figure:
    """Masks left after each step (line) and tokens committed at each step (bars)."""
    left = trajectory.masks_left()
    per_step = trajectory.committed_per_step()
    fig = go.Figure()
    fig.add_trace(go.Bar(x=np.arange(1, len(per_step) + 1), y=per_step, name="committed this step",
                         marker_color="rgb(33,145,140)", opacity=0.7))
    fig.add_trace(go.Scatter(x=np.arange(len(left)), y=left, name="masks left", mode="lines",
                             line=dict(color="#f58518", width=2), yaxis="y2"))
    _style(fig, "Masks left and tokens committed per step", 260, margin=dict(l=48, r=48, t=28, b=36),
           xaxis=dict(title="step"), yaxis=dict(title="committed"),
           yaxis2=dict(title="masks left", overlaying="y", side="right", rangemode="tozero"),
           legend=dict(orientation="h", y=-0.3))
    return fig


def answer_length_to_eos(tokens, stop_ids) -> int:
    """Answer tokens before the first EOS/EoT."""
    for i, tok in enumerate(tokens):
        if int(tok) in stop_ids:
            return i
    return len(tokens)


def useful_tokens(tokens, stop_ids, mask_id) -> int:
    """Committed tokens before the first EOS/EoT: what tokens/s counts."""
    head = np.asarray(tokens[:answer_length_to_eos(tokens, stop_ids)])
    return int((head != mask_id).sum())


def status_text(trajectory, stop_ids=(), running: bool = True) -> str:
    """Step i/n · block b/B · forward passes · elapsed · tokens/s counted to EOS."""
    if not trajectory.frames:
        return "waiting for the first step…"
    f = trajectory.frames[-1]
    useful = useful_tokens(trajectory.final_tokens(), set(stop_ids), trajectory.mask_id)
    rate = useful / trajectory.elapsed if trajectory.elapsed > 0 else 0.0
    state = "running" if running else "done"
    return (f"{state} · step {trajectory.steps_done}/{trajectory.steps} · block {f['block'] + 1}/{f['blocks']} · "
            f"{trajectory.forward_passes} forward passes · {trajectory.elapsed:.2f} s · "
            f"{rate:.1f} tokens/s (to EOS)")


CSS = """
.ld-grid { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.ld-cells { display: flex; flex-wrap: wrap; gap: 3px; align-items: stretch; line-height: 1.5; }
.ld-cell { display: inline-block; min-width: 1.6em; min-height: 1.5em; padding: 1px 4px; border-radius: 4px;
  white-space: pre; text-align: center; box-sizing: border-box; border: 1px solid transparent; }
.ld-prompt { opacity: 0.55; background: var(--background-fill-secondary, #f1f1f4);
  color: var(--body-text-color, #222); }
.ld-mask { background: repeating-linear-gradient(135deg, rgba(127,127,127,.18) 0 4px, rgba(127,127,127,.08) 4px 8px);
  border: 1px dashed rgba(127,127,127,.55); color: var(--body-text-color, #222); }
.ld-guess { opacity: 0.45; font-style: italic; }
.ld-active { box-shadow: inset 0 -3px 0 #e45756; }
.ld-block-start { margin-left: 10px; position: relative; }
.ld-block-start::before { content: ""; position: absolute; left: -7px; top: -2px; bottom: -2px; width: 2px;
  background: #e45756; border-radius: 1px; }
.ld-new { outline: 2px solid #f58518; outline-offset: 1px; animation: ld-pop 0.45s ease-out; }
@keyframes ld-pop { from { transform: scale(1.3); } to { transform: scale(1); } }
.ld-sep { flex-basis: 100%; height: 4px; }
.ld-legend { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 8px; font-size: 12px; }
.ld-scale { display: inline-flex; align-items: center; gap: 6px; }
.ld-bar { display: inline-block; width: 120px; height: 10px; border-radius: 5px; }
.ld-caption { font-size: 12px; opacity: .8; margin-bottom: 6px; }
.ld-empty { opacity: .6; padding: 24px; text-align: center; }
.ld-banner { font-size: 13px; opacity: .85; }
"""
