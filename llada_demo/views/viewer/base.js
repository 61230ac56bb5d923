/* llada-demo's renderer draws a run in the browser from the messages of trace/wire.py; nothing is drawn on
 * the server. Its files, loaded in this order (views/page.py), each add to window.LladaView:
 *   base.js    colours, text and DOM helpers (LladaView.util)
 *   run.js     a run as the browser keeps it, the mirror of trace.Trajectory, and the check of run files
 *   grid.js    the token grid of a run at any step
 *   inspect.js the panel of a cell clicked: its history, the model's top 5, edits and Continue from here
 *   live.js    a live view: status, grid and replay, fed by the run's messages as they come
 *   charts.js  the step x position heatmap, and after the run the unmask-order map and the per-step chart
 *   tabs.js    the Forward process and Likelihood tabs' views, drawn from their values
 *   mount.js   how the page and a standalone export put them together
 * Every text from the model or the user is set with textContent or escaped for Plotly: never HTML.
 * Needs window.Plotly (plotly.min.js, shipped inside the plotly Python package) for the charts only.
 */
(function (L) {
  "use strict";

  const SCALE = [[0, [68, 1, 84]], [0.25, [59, 82, 139]], [0.5, [33, 145, 140]], [0.75, [94, 201, 98]],
                 [1, [253, 231, 37]]];
  const PLOTLY_SCALE = SCALE.map(([p, c]) => [p, `rgb(${c.join(",")})`]);
  // plasma, for the unmask order (plotly.js has no plasma of its own)
  const PLASMA = [[0, "#0d0887"], [0.25, "#7e03a8"], [0.5, "#cc4778"], [0.75, "#f89540"], [1, "#f0f921"]];
  const GREY = "#8a8f98", GRID = "rgba(138,143,152,0.25)";

  /* The colour at v (0..1) of a scale [[position, [r, g, b]], ...]. */
  function rgbAt(scale, v) {
    v = Number.isFinite(v) ? Math.min(Math.max(v, 0), 1) : 0;
    for (let i = 0; i < scale.length - 1; i++) {
      const [p0, c0] = scale[i], [p1, c1] = scale[i + 1];
      if (v <= p1) {
        const w = (v - p0) / (p1 - p0);
        return c0.map((a, j) => Math.round(a + (c1[j] - a) * w));
      }
    }
    return scale[scale.length - 1][1];
  }
  const confidenceRgb = (v) => rgbAt(SCALE, v);
  const textColour = (c) => (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2] > 140 ? "#111" : "#fff");

  /* A cell's text: newlines and tabs made visible, blank tokens marked. */
  function shown(text) {
    const t = text.replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
    return t.trim() ? t : (t.replace(/ /g, "\u2423") || "\u2205");
  }
  const quoted = (s) => JSON.stringify(s);
  /* Text for Plotly labels, which read tags (<b>, <br>) but only some entities: tags are escaped. */
  const plotlyText = (s) => String(s).replace(/[&<>]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[c]));

  function base64Bytes(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function el(tag, cls, parent, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function legend(parent) {
    const box = el("div", "ld-legend", parent);
    el("span", "ld-cell ld-prompt", box, "prompt");
    el("span", "ld-guess", el("span", "ld-cell ld-mask", box), "guess");
    const nw = el("span", "ld-cell ld-new", box, "new");
    nw.style.background = "rgb(33,145,140)";
    nw.style.color = "#fff";
    const scale = el("span", "ld-scale", box);
    el("span", null, scale, "confidence 0");
    const bar = el("span", "ld-bar", scale);
    bar.style.background = `linear-gradient(to right, ${SCALE.map(([p, c]) => `rgb(${c.join(",")}) ${p * 100}%`).join(", ")})`;
    el("span", null, scale, "1");
  }

  L.util = {SCALE, PLOTLY_SCALE, PLASMA, GREY, GRID, rgbAt, confidenceRgb, textColour, shown, quoted, plotlyText,
            base64Bytes, el, legend};
  L.shown = shown;
})(window.LladaView = window.LladaView || {});
