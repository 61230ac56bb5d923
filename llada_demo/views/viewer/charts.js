/* The charts of a run: the step x position heatmap while it runs (rows appended, drawn with the live view's
 * frames), and after the run the unmask-order map and the per-step chart. */
(function (L) {
  "use strict";
  const {PLOTLY_SCALE, PLASMA, GREY, GRID, rgbAt, confidenceRgb, quoted, el, whenIdle} = L.util;

  function styled(title, height, extra) {
    return Object.assign({
      title: {text: title, x: 0.01, font: {size: 13}}, height, paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)", font: {color: GREY}, margin: {l: 48, r: 8, t: 28, b: 36},
    }, extra);
  }
  const axis = (o) => Object.assign({gridcolor: GRID, zeroline: false}, o);
  /* Ticks for a count up to `max`: at a round step (1, 2, 5, 10, 20, ...), never between whole numbers. */
  function wholeTicks(max) {
    const target = Math.max(1, max / 6), power = Math.pow(10, Math.floor(Math.log10(target)));
    return {tick0: 0, dtick: [1, 2, 5, 10].map((m) => m * power).find((d) => d >= target)};
  }

  /* Each confidence byte as the viridis colour, for the heatmap raster, by the run's scale (254: version 2,
   * whose 255 is "no prediction", drawn grey; 255: version 1). */
  const NO_PREDICTION_RGB = [200, 200, 206];
  const BYTE_RGB = {
    254: Array.from({length: 256}, (_, q) => (q === 255 ? NO_PREDICTION_RGB : confidenceRgb(q / 254))),
    255: Array.from({length: 256}, (_, q) => confidenceRgb(q / 255)),
  };
  const PLASMA_RGB = PLASMA.map(([p, hex]) => [p, [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))]);

  /* A chart of cells: Plotly draws the axes and the colour bar (a heatmap trace of one hidden cell); the
   * cells are a canvas laid over the plot area, a block of pixels each, painted by the caller, and the
   * hover text of cell (column, row) is text(column, row), shown as plain text (null: none). A Plotly
   * heatmap re-renders every cell on every update, and its first with data on a page is one long task
   * (docs/performance.md). */
  class CellPlot {
    constructor(div) {
      this.div = div;
      this.canvas = null;
      this.text = () => null;
    }
    /* Axes for columns x rows cells (row 0 on top), each px canvas pixels square; with px 0 the axes
     * alone. A plot already there is updated in place (Plotly.react is cheaper than a new plot).
     * Returns the canvas's 2D context (cleared), or null. */
    frame(columns, rows, px, bar, layout) {
      const fresh = !this.div._fullLayout;
      if (fresh) this.div.textContent = "";
      window.Plotly[fresh ? "newPlot" : "react"](this.div, [Object.assign(
        // (one cell outside the axes' ranges: with no valid cell Plotly hides the colour bar)
        {type: "heatmap", z: [[bar.zmin]], x: [-10], y: [-10], hoverinfo: "skip", showscale: true}, bar)],
        layout, {responsive: true, displaylogo: false});
      if (fresh) this.div.on("plotly_afterplot", () => this.place());
      if (!px) return null;
      if (!this.canvas) {
        this.canvas = el("canvas", "ld-heat-cells", this.div);
        this.tip = el("div", "ld-tip", this.div);
        this.canvas.addEventListener("mousemove", (e) => this.hover(e));
        this.canvas.addEventListener("mouseleave", () => { this.tip.style.display = "none"; });
      }
      Object.assign(this, {columns, rows, px});
      this.canvas.width = columns * px;  // (resizing clears it)
      this.canvas.height = rows * px;
      this.place();
      return this.canvas.getContext("2d");
    }
    place() {
      const size = this.div._fullLayout && this.div._fullLayout._size;
      if (!size || !this.canvas) return;
      Object.assign(this.canvas.style, {left: `${size.l}px`, top: `${size.t}px`, width: `${size.w}px`, height: `${size.h}px`});
    }
    hover(e) {
      const box = this.canvas.getBoundingClientRect();
      const i = Math.floor((e.clientX - box.left) / box.width * this.columns);
      const k = Math.floor((e.clientY - box.top) / box.height * this.rows);
      const text = i >= 0 && i < this.columns && k >= 0 && k < this.rows ? this.text(i, k) : null;
      if (text === null) { this.tip.style.display = "none"; return; }
      this.tip.textContent = text;
      const host = this.div.getBoundingClientRect();
      Object.assign(this.tip.style, {display: "block", left: `${e.clientX - host.left + 12}px`, top: `${e.clientY - host.top + 12}px`});
    }
    clear() {
      if (window.Plotly) window.Plotly.purge(this.div);
      this.div.textContent = "";
      this.canvas = null;
    }
  }

  /* Once per page, while it is idle: the after-run charts of a two-token run drawn once off screen, by
   * the code that draws them after a run, then removed: the first plot of a kind on a page costs several
   * times a later one, and would come as one long task at the end of a long run (docs/performance.md). */
  function warmAfterRunCharts() {
    if (warmAfterRunCharts.done || !window.Plotly) return;
    warmAfterRunCharts.done = true;
    const box = el("div", null, document.body);
    Object.assign(box.style, {position: "absolute", left: "-10000px", top: "0", width: "900px"});
    box.setAttribute("aria-hidden", "true");
    const run = new L.Run({texts: {}, initial: [0, 1], mask_id: 1, steps_per_block: [1], block_spans: [[1, 2]]});
    run.add({step: 1, block: 0, forward_passes: 1, elapsed: 0, committed: [1], tokens: [2], guesses: [],
             confidence: "//8="});
    const charts = new Charts(box, {prefix: "ld-warm-"});
    charts.run = run;  // (no empty axes for it)
    whenIdle(() => {
      charts.orderChart(run);
      whenIdle(() => {
        charts.progressChart(run);
        whenIdle(() => { charts.order.clear(); window.Plotly.purge(charts.progress); box.remove(); });
      });
    });
  }

  class Charts {
    /* options.prefix: of the charts' ids (default "ld-": ld-heatmap, ld-order, ld-progress);
     * options.heatmapOnly: the heatmap alone, options.height tall (Compare's runs, side by side). */
    constructor(root, options = {}) {
      const id = (name) => `${options.prefix || "ld-"}${name}`;
      this.root = root;
      this.only = !!options.heatmapOnly;
      this.height = options.height || 320;
      root.textContent = "";
      this.heat = new CellPlot(el("div", "ld-chart ld-heat", root));
      this.heat.div.id = id("heatmap");
      this.heat.text = (i, k) => this.hoverText(i, k);
      this.order = new CellPlot(el("div", "ld-chart ld-heat", root));
      this.order.div.id = id("order");
      this.progress = el("div", "ld-chart", root);
      this.progress.id = id("progress");
      el("div", "ld-empty", this.heat.div, "The confidence heatmap appears here when you press Generate.");
      // empty axes as soon as the page is idle: the first Plotly plot of a page costs several times a later
      // one, a long task at the start of a long run otherwise
      setTimeout(() => { if (!this.run && this.plotly) this.axes(null); }, 0);
      if (!this.only) whenIdle(() => warmAfterRunCharts());
    }
    get plotly() { return window.Plotly; }
    /* Plotly draws the axes, the colour bar and the block boundaries once a run; the cells are painted
     * on the canvas of a CellPlot, one row per step. */
    begin(run) {
      this.run = run;
      this.rows = 0;
      this.finished = false;
      this.final = false;
      this.ctx = null;
      if (this.rowMark) this.rowMark.style.display = "none";
      this.order.clear();
      if (this.plotly) this.plotly.purge(this.progress);
      this.progress.textContent = "";
      // the axes in a task of their own: with the grid's cells built in the same task, the first frame
      // of a 512-token run was one long task (bench/bench_browser.py, long tasks)
      setTimeout(() => { if (run === this.run) { this.axes(run); this.update(run, this.final); } }, 0);
    }
    /* The heatmap's axes for `run` (null: empty axes, before any run), `rows` steps tall (default: the
     * steps its plan allows; a run that ended sooner is framed again to its own steps). */
    axes(run, rows) {
      if (!this.plotly) {
        this.heat.div.textContent = "";
        el("div", "ld-empty", this.heat.div, "Plotly did not load: the charts are not drawn.");
        return;
      }
      const n = run ? run.n : 128, total = rows || (run ? run.total : 128);
      this.frameRows = total;
      const shapes = run && run.boundaries ? run.blockStarts.slice(1).map((s) => ({
        type: "line", x0: s - 0.5, x1: s - 0.5, y0: 0, y1: 1, yref: "paper", line: {color: "#e45756", width: 1, dash: "dot"}})) : [];
      const annotations = run ? [] : [{text: "appears here when you press Generate", showarrow: false,
                                       xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: {size: 13}}];
      this.cell = Math.max(1, Math.min(6, Math.floor(768 / Math.max(n, total))));
      this.ctx = this.heat.frame(n, total, run ? this.cell : 0,
        {zmin: 0, zmax: 100, colorscale: PLOTLY_SCALE, colorbar: {title: {text: "conf. %", side: "right"}, thickness: 12, len: 0.9}},
        styled("Confidence at every step", this.height, {
          xaxis: axis({title: {text: "answer position"}, range: [-0.5, n - 0.5]}),
          yaxis: axis(Object.assign({title: {text: "step"}, range: [total + 0.5, 0.5]}, wholeTicks(total))), shapes,
          annotations,
        }));
    }
    /* Paint the rows that arrived (a few microseconds a row); called at most once a frame. */
    update(run, final) {
      if (run !== this.run) return;
      this.final = this.final || final;
      if (!this.plotly || !this.ctx) return;  // the axes come a task after begin(), then paint what came
      if (final && run.end && run.done && run.done < this.frameRows) {
        // a run that ended before its plan's last step (a threshold rule, Stop at EOS, Stop): its own steps
        this.axes(run, run.done);
        this.rows = 0;
      }
      const c = this.cell, ctx = this.ctx, colours = BYTE_RGB[run.scale];
      for (; this.rows < run.done; this.rows++) {
        const r = run.records[this.rows], y = this.rows * c;
        const img = ctx.createImageData(run.n * c, c), px = img.data;
        for (let i = 0; i < run.n; i++) {
          const rgb = colours[r.conf[i]];
          for (let dy = 0; dy < c; dy++) {
            for (let dx = 0; dx < c; dx++) {
              const o = 4 * (dy * run.n * c + i * c + dx);
              px[o] = rgb[0]; px[o + 1] = rgb[1]; px[o + 2] = rgb[2]; px[o + 3] = 255;
            }
          }
        }
        ctx.putImageData(img, 0, y);
        ctx.fillStyle = "#fff";
        const d = Math.max(1, Math.round(c / 3));
        for (const p of r.committed) ctx.fillRect(p * c + (c - d) / 2, y + (c - d) / 2, d, d);  // a dot at each commit
        ctx.fillStyle = "#e45756";  // the block boundaries (Plotly's own shapes lie under this canvas)
        if (run.boundaries) for (const b of run.blockStarts) if (b > 0) ctx.fillRect(b * c - 1, y, 2, c);  // (2: the canvas is drawn scaled down)
        if (run.branchedAt !== null && this.rows === run.branchedAt) {  // where a branch left its run
          ctx.fillStyle = "#f58518";
          ctx.fillRect(0, y, run.n * c, Math.max(1, Math.round(c / 3)));
        }
      }
      if (final && !this.finished && run.end && !this.only) {
        // later tasks, each its own: the final grid and status paint first, and no single long task
        this.finished = true;
        setTimeout(() => { if (run === this.run) this.orderChart(run); }, 30);
        setTimeout(() => { if (run === this.run) this.progressChart(run); }, 60);
      }
    }
    /* The replay's step: its row outlined on the heatmap. */
    markStep(k) {
      const plot = this.heat, canvas = plot.canvas;
      if (!canvas || !this.run || !plot.rows) return;
      if (!this.rowMark) this.rowMark = el("div", "ld-heat-row", plot.div);
      const box = canvas.style, top = parseFloat(box.top), height = parseFloat(box.height) / plot.rows;
      Object.assign(this.rowMark.style, {display: k > 0 ? "block" : "none", left: box.left, width: box.width,
                                         top: `${top + (k - 1) * height}px`, height: `${Math.max(height, 2)}px`});
    }
    hoverText(i, k) {
      const run = this.run;
      if (!run || k >= this.rows) return null;
      const r = run.records[k], c = run.commitStep[i];
      const p = run.probability(r.conf[i]);
      let what = Number.isFinite(p) ? `confidence ${Math.round(p * 100)}%` : "no prediction";
      if (c === k + 1) what += ` \u00b7 committed ${quoted(run.text(run.commitToken[i]))}`;
      return `position ${i} \u00b7 step ${k + 1} \u00b7 ${what}`;
    }
    /* The step each position was committed at, rows of 32 positions; hover: the position's token. */
    orderChart(run) {
      const width = 32, n = run.n, rows = Math.max(1, Math.ceil(n / width)), last = Math.max(1, run.done), px = 16;
      const ctx = this.order.frame(width, rows, px,
        {zmin: 1, zmax: last, colorscale: PLASMA,
         colorbar: Object.assign({title: {text: "step", side: "right"}, thickness: 12}, wholeTicks(last))},
        styled("Unmask order: the step each position was committed", Math.max(220, 26 * rows + 120), {
          margin: {l: 48, r: 8, t: 28, b: 46},
          xaxis: axis({title: {text: `position mod ${width}`, standoff: 12}, range: [-0.5, width - 0.5]}),
          yaxis: axis({title: {text: "first position"}, range: [rows - 0.5, -0.5], tickmode: "array",
                       tickvals: [...Array(rows).keys()], ticktext: [...Array(rows).keys()].map((r) => String(r * width))}),
        }));
      for (let i = 0; i < n; i++) {
        const s = run.commitStep[i];
        if (s <= 0) continue;  // given, or still masked (a stopped run): no colour
        const [r, g, b] = rgbAt(PLASMA_RGB, last > 1 ? (s - 1) / (last - 1) : 1);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect((i % width) * px, Math.floor(i / width) * px, px - 1, px - 1);  // a 1-pixel gap between cells
      }
      this.order.text = (column, row) => {
        const i = row * width + column, s = i < n ? run.commitStep[i] : null;
        if (s === null) return null;
        const when = s > 0 ? `step ${s}` : s === 0 ? "given" : "still masked";
        return `position ${i} \u00b7 ${s < 0 ? "masked" : quoted(run.text(run.commitToken[i]))} \u00b7 ${when}`;
      };
    }
    progressChart(run) {
      let left = run.start.initial.filter((t) => t === run.mask).length;
      const steps = [], per = [], leftX = [0], leftY = [left];
      for (const r of run.records) {
        steps.push(r.step); per.push(r.committed.length);
        left -= r.committed.length; leftX.push(r.step); leftY.push(left);
      }
      this.plotly.newPlot(this.progress, [
        // a filled step line, not bars: one path instead of a bar per step (a 512-step run's bar chart
        // was one long task, much of it loading Plotly's bar code)
        {type: "scatter", mode: "lines", x: steps.map((k) => k - 0.5).concat(steps.slice(-1).map((k) => k + 0.5)),
         y: per.concat(per.slice(-1)), name: "committed this step", line: {shape: "hv", color: "rgb(33,145,140)", width: 1},
         fill: "tozeroy", fillcolor: "rgba(33,145,140,0.4)", hovertemplate: "%{y}<extra>committed</extra>"},
        {type: "scatter", x: leftX, y: leftY, name: "masks left", mode: "lines", line: {color: "#f58518", width: 2}, yaxis: "y2"},
      ], styled("Masks left and tokens committed per step", 260, {
        margin: {l: 48, r: 48, t: 28, b: 36},
        xaxis: axis(Object.assign({title: {text: "step"}}, wholeTicks(run.done))),
        yaxis: axis(Object.assign({title: {text: "committed"}, rangemode: "tozero"}, wholeTicks(Math.max(1, ...per)))),
        yaxis2: axis(Object.assign({title: {text: "masks left"}, overlaying: "y", side: "right", rangemode: "tozero"},
                                   wholeTicks(leftY[0]))),
        legend: {orientation: "h", y: -0.3},
      }), {responsive: true, displaylogo: false});
    }
  }

  L.Charts = Charts;
  L.plots = {styled, axis};
})(window.LladaView = window.LladaView || {});
