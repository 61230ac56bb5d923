"""The page's drawn views as Gradio components: gr.HTML elements whose JavaScript (views/viewer/, with
plotly.js from the plotly package) draws runs and charts in the browser from the data handlers send.
"""

from __future__ import annotations

import json

import gradio as gr

from ..views.page import PLOTLY_JS, VIEWER_JS
from . import steer

# Every view loads plotly.js and the renderer through `head`: Gradio runs a component's js_on_load only
# after the scripts of its own head have loaded (scripts are loaded once per page).
HEAD = "".join(f'<script src="gradio_api/file={path}"></script>' for path in (PLOTLY_JS, *VIEWER_JS))

# A live view's js_on_load: mount it (options as LladaView.mountLive takes them) and follow its runs.
# Steps come through the run's own stream (app/stream.py) once the page has the run's id from the start
# value; Gradio values carry them only while no stream is open.
LIVE_JS = """
const live = LladaView.mountLive(element.querySelector('.ld-live-root'), Object.assign({}, OPTIONS));
live.fetchMissing = (run, start, end) => server.resend([run, start, end]).then(t => (t ? JSON.parse(t) : null));
live.inspectCell = (run, step, position) => server.inspect([run, step, position]).then(t => JSON.parse(t));
if (live.options.steer) live.continueFrom = (asked) => trigger('submit', asked);
let followed = null, source = null;
const follow = (run, from) => {
  if (typeof EventSource === 'undefined') return;
  const mine = source = new EventSource(`llada-demo/runs/${run}?from=${from}`);
  mine.onmessage = (e) => {
    const p = JSON.parse(e.data);
    live.receive({run, first: p.first, messages: p.messages});
    if (p.messages.some((m) => m.type === 'end')) { mine.close(); if (source === mine) source = null; }
  };
};
const take = () => {
  const v = props.value;
  if (!(v && typeof v === 'object' && v.messages)) return;
  const messages = JSON.parse(v.messages);
  live.receive({run: v.run, first: v.first, messages, branch_of: v.branch_of, at: v.at});
  const ended = messages.some((m) => m.type === 'end');
  if (ended || v.run !== followed) { if (source) source.close(); source = null; }  // a stream that failed too
  if (!ended && v.run !== followed) follow(v.run, v.first + messages.length);
  followed = v.run;
};
take();
watch('value', take);
"""


def live_view(app, elem_id: str, options: dict | None = None, charts: bool = False) -> gr.HTML:
    """A live view: status, token grid and replay (LladaView.mountLive with `options`; "prefix" names
    its elements' ids, "link" scrubs it with the views of the same link, "opened" the ids of the
    textboxes an opened run file fills), with its own heatmap below it when `charts`. The page calls
    `server.resend` for messages it missed and `server.inspect` for a cell's candidates (steer.inspect)."""

    if not (hasattr(app, "resend") and hasattr(app, "outboxes")):
        raise TypeError(f"live_view takes the DemoApp (its resend and its runs), got {app!r}")

    def resend(request):  # plain functions named as the page calls them (Gradio cannot mark a bound method)
        return app.resend(request)

    def inspect(request):
        """[run, step, position] -> steer.inspect's answer as JSON text, or {"error": why}."""
        try:
            run, step, position = request
            return json.dumps(steer.inspect(app, run, step, position))
        except (gr.Error, TypeError, ValueError) as e:
            return json.dumps({"error": getattr(e, "message", None) or str(e)})

    template = '<div class="ld-live-root"></div>' + ('<div class="ld-charts-root"></div>' if charts else "")
    script = LIVE_JS.replace("OPTIONS", json.dumps(options or {}) + (
        ", {charts: element.querySelector('.ld-charts-root')}" if charts else ""))
    return gr.HTML(None, html_template=template, head=HEAD, js_on_load=script, elem_id=elem_id,
                   apply_default_css=False, server_functions=[resend, inspect])


def side_view(title: str, prefix: str, elem_id: str, answer_label: str, app, link: str | None = None,
              heatmap: bool = False) -> tuple[gr.HTML, gr.Textbox]:
    """One of runs side by side (Compare, Reversal): a column with a title, a live view and its answer box."""
    with gr.Column(min_width=320, elem_classes=["ld-side"]):
        gr.Markdown(title, elem_classes=["ld-side-title"])
        view = live_view(app, elem_id, dict(prefix=prefix, **({"link": link} if link else {})), charts=heatmap)
        answer = gr.Textbox(label=answer_label, lines=2, interactive=False)
    return view, answer


def data_view(root: str, mount: str, field: str, elem_id: str) -> gr.HTML:
    """A view drawn from its value alone (Forward process, Likelihood): mounted with LladaView[mount] on
    an element of class `root`, showing every value that has `field`."""
    script = f"""
const view = LladaView.{mount}(element.querySelector('.{root}'));
const take = () => {{ const v = props.value; if (v && typeof v === 'object' && v.{field}) view.show(v); }};
take();
watch('value', take);
"""
    return gr.HTML(None, html_template=f'<div class="{root}"></div>', head=HEAD, js_on_load=script, elem_id=elem_id,
                   apply_default_css=False)


def charts_view() -> gr.HTML:
    """The Generate tab's charts (heatmap, unmask order, per-step counts), drawn for its live view."""
    return gr.HTML(None, html_template='<div class="ld-charts-root"></div>', head=HEAD,
                   js_on_load="LladaView.mountCharts(element.querySelector('.ld-charts-root'));", elem_id="ld-charts",
                   apply_default_css=False)


# Toasts of an earlier action are closed when the next one starts (they outlived it otherwise)
CLOSE_TOASTS = "() => { document.querySelectorAll('.toast-close').forEach((b) => b.click()); }"
