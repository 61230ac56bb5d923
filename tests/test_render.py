"""Renderers: every token string reaches HTML escaped, whatever the tokenizer decodes it to."""

import numpy as np

from llada_demo import render
from llada_demo.trajectory import StepView, Trajectory

HOSTILE = '<img src=x onerror="alert(1)"><b>'


class HostileTokenizer:
    """Decodes every id to markup, as a byte-level tokenizer may for a token of '<b>'."""

    def decode(self, ids, **kwargs):
        return HOSTILE


def _view(n=4, mask_id=9):
    tokens = np.array([1, 2, mask_id, mask_id])
    return StepView(step=2, steps=4, block=0, blocks=1, block_span=(0, n), block_starts=(0,), tokens=tokens,
                    masked=tokens == mask_id, prediction=np.array([1, 2, 3, 3]),
                    confidence=np.array([0.9, 0.5, 0.2, 0.1], np.float32), committed_now=np.array([0, 1, 0, 0], bool),
                    commit_step=np.array([1, 2, -1, -1], np.int16))


def test_grid_escapes_tokens_in_cells_guesses_and_titles():
    text = render.TokenText(HostileTokenizer(), mask_id=9)
    html = render.grid_html(_view(), text, prompt_tokens=[5, 6], show_guesses=True, caption=HOSTILE)
    assert "<img" not in html and "<b>" not in html
    assert html.count("&lt;img") >= 2 + 2 + 2 + 1  # prompt cells, committed cells, guesses, caption


def test_plot_hover_text_is_escaped():
    trajectory = Trajectory.start_for([5, 6], 4, mask_id=9)
    trajectory.append(dict(tokens=np.array([1, 2, 9, 9]), prediction=np.array([1, 2, 3, 3]),
                           committed=np.array([1, 1, 0, 0], bool), commit_step=np.array([1, 1, -1, -1], np.int16),
                           block=0, blocks=1, block_span=(0, 4), steps=2, forward_passes=1, elapsed=0.1, notes=(),
                           block_starts=(0,)), np.array([0.9, 0.8, 0.2, 0.1], np.float32))
    text = render.TokenText(HostileTokenizer(), mask_id=9)
    heat = render.heatmap_figure(trajectory, text, final=True).to_json()
    order = render.order_figure(trajectory, text).to_json()
    for fig in (heat, order):
        assert "<img" not in fig and "\\u003cimg" not in fig and "&lt;img" in fig
