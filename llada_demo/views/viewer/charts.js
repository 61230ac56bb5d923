/* The charts of a run: the step x position heatmap while it runs (rows appended, drawn with the live view's
 * frames), and after the run the unmask-order map and the per-step chart. */
(function (L) {
  "use strict";
  const {PLOTLY_SCALE, PLASMA, GREY, GRID, rgbAt, confidenceRgb, quoted, el} = L.util;

  function styled(title, height, extra) {
    return Object.assign({
      title: {text: title, x: 0.01, font: {size: 13}}, height, paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)", font: {color: GREY}, margin: {l: 48, r: 8, t: 28, b: 36},
    }, extra);
  }
  const axis = (o) => Object.assign({gridcolor: GRID, zeroline: false}, o);
  /* The note of an empty Plotly chart, hidden once it shows a run (the layout keeps one shape). */
  const note = (text, visible) => [{text, visible, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
                                    font: {size: 13}}];
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

  /* Axes drawn on a canvas: a title, ticks with their labels and grid lines, axis titles, a second y axis
   * or a colour bar on the right, a legend below and a note in the middle. The after-run charts use them:
   * as Plotly plots, new at a run's end, each cost over 100 ms at the end of a 512-step run
   * (bench/probe_long_tasks.py); these draw in a few. */
  class Axes {
    constructor(div) {
      this.canvas = el("canvas", "ld-axes", div);
    }
    /* spec: {height, margin: {l, r, t, b}, title, note, grid (true: y grid lines), legend: [[colour, label]],
     * x, y, y2: {range: [value at left / top, value at right / bottom], ticks: [[value, label]], title},
     * bar: {stops, range: [lowest, highest], ticks, title}}. Returns the plot area {l, t, w, h} in CSS pixels
     * with x(v), y(v), y2(v) mapping values into it. */
    draw(spec) {
      const width = this.canvas.parentNode.clientWidth || 600, height = spec.height, m = spec.margin;
      const ratio = window.devicePixelRatio || 1;
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
      Object.assign(this.canvas.style, {width: `${width}px`, height: `${height}px`});
      const ctx = this.canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      const a = {l: m.l, t: m.t, w: Math.max(10, width - m.l - m.r), h: Math.max(10, height - m.t - m.b)};
      const map = (range, from, size) => (v) => from + (v - range[0]) / (range[1] - range[0] || 1) * size;
      a.x = map(spec.x.range, a.l, a.w);
      a.y = map(spec.y.range, a.t, a.h);
      a.y2 = spec.y2 ? map(spec.y2.range, a.t, a.h) : null;
      // every upright text's box, by kind, on the canvas (`texts`): the tests check that none overlap
      const texts = this.canvas.texts = [];
      const text = (str, x, y, align, base, size = 11, kind = "label") => {
        ctx.font = `${size}px sans-serif`;
        ctx.textAlign = align;
        ctx.textBaseline = base;
        ctx.fillText(str, x, y);
        const b = ctx.measureText(str);
        texts.push({kind, str, left: x - b.actualBoundingBoxLeft, right: x + b.actualBoundingBoxRight,
                    top: y - b.actualBoundingBoxAscent, bottom: y + b.actualBoundingBoxDescent});
      };
      const turned = (str, x, y, angle) => {
        ctx.save(); ctx.translate(x, y); ctx.rotate(angle);
        ctx.font = "11px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.fillText(str, 0, 0);
        ctx.restore();
      };
      ctx.fillStyle = GREY;
      ctx.strokeStyle = GRID;
      ctx.lineWidth = 1;
      text(spec.title, 8, 6, "left", "top", 13, "title");
      const bottom = a.t + a.h;
      for (const [v, label] of spec.x.ticks) text(label, a.x(v), bottom + 4, "center", "top", 11, "xtick");
      if (spec.x.title) text(spec.x.title, a.l + a.w / 2, bottom + 24, "center", "top", 12, "xtitle");
      for (const [v, label] of spec.y.ticks) {
        text(label, a.l - 5, a.y(v), "right", "middle");
        if (spec.grid) { ctx.beginPath(); ctx.moveTo(a.l, Math.round(a.y(v)) + 0.5); ctx.lineTo(a.l + a.w, Math.round(a.y(v)) + 0.5); ctx.stroke(); }
      }
      if (spec.y.title) turned(spec.y.title, 12, a.t + a.h / 2, -Math.PI / 2);
      if (spec.y2) {
        for (const [v, label] of spec.y2.ticks) text(label, a.l + a.w + 5, a.y2(v), "left", "middle");
        turned(spec.y2.title, width - 10, a.t + a.h / 2, Math.PI / 2);
      }
      if (spec.bar) {  // a vertical colour bar right of the area, its lowest value at the bottom
        const b = spec.bar, x0 = a.l + a.w + 12, [lo, hi] = b.range;
        const grad = ctx.createLinearGradient(0, bottom, 0, a.t);
        for (const [p, rgb] of b.stops) grad.addColorStop(p, `rgb(${rgb.join(",")})`);
        ctx.fillStyle = grad;
        ctx.fillRect(x0, a.t, 12, a.h);
        ctx.fillStyle = GREY;
        const at = (v) => bottom - (hi > lo ? (v - lo) / (hi - lo) : 1) * a.h;
        for (const [v, label] of b.ticks) text(label, x0 + 16, at(v), "left", "middle");
        turned(b.title, width - 10, a.t + a.h / 2, Math.PI / 2);
      }
      let x = a.l;
      for (const [colour, label] of spec.legend || []) {
        ctx.fillStyle = colour;
        ctx.fillRect(x, height - 14, 14, 4);
        ctx.fillStyle = GREY;
        text(label, x + 18, height - 12, "left", "middle", 12, "legend");
        x += 18 + ctx.measureText(label).width + 18;
      }
      if (spec.note) text(spec.note, a.l + a.w / 2, a.t + a.h / 2, "center", "middle", 13);
      return a;
    }
  }
  /* Ticks [[value, label]] from `from` to `to` at wholeTicks' step (and `from` itself). */
  function ticksUpTo(to, from = 0) {
    const {dtick} = wholeTicks(to), out = [];
    for (let v = Math.ceil(from / dtick) * dtick; v <= to; v += dtick) out.push([v, String(v)]);
    return out;
  }

  /* A vertical colour bar: {stops: [[share, "rgb(...)"]], ticks: [[share, label]], title}, lowest at the
   * bottom; placed by its CellPlot. */
  function colourBar(parent, spec) {
    const box = el("div", "ld-colourbar", parent);
    el("div", "ld-colourbar-strip", box).style.background =
      `linear-gradient(to top, ${spec.stops.map(([p, c]) => `${c} ${p * 100}%`).join(", ")})`;
    for (const [p, label] of spec.ticks) el("span", "ld-colourbar-tick", box, label).style.bottom = `${p * 100}%`;
    el("span", "ld-colourbar-title", box, spec.title);
    return box;
  }

  /* A chart's hover tip: `text` as plain text beside the pointer, placed in `host`; null hides it. */
  function showTip(tip, host, e, text) {
    if (text === null) { tip.style.display = "none"; return; }
    tip.textContent = text;
    const box = host.getBoundingClientRect();
    Object.assign(tip.style, {display: "block", left: `${e.clientX - box.left + 12}px`, top: `${e.clientY - box.top + 12}px`});
  }

  /* A chart of cells: the axes are Plotly's (a plot with no trace, its colour bar a gradient beside it) or
   * the caller's; the cells are a canvas laid over the plot area, a block of pixels each, painted by the
   * caller, and the hover text of cell (column, row) is text(column, row), shown as plain text (null:
   * none). A Plotly heatmap re-renders every cell on every update, and its first with data on a page was
   * one long task (docs/performance.md). */
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
      window.Plotly[fresh ? "newPlot" : "react"](this.div, [], layout, {responsive: true, displaylogo: false});
      if (fresh) {
        this.div.on("plotly_afterplot", () => this.place());
        this.bar = colourBar(this.div, bar);
      }
      return this.cells(columns, rows, px);
    }
    /* The cells' canvas for columns x rows cells of px pixels (0: hidden), laid over the plot area: Plotly's,
     * or `area` ({l, t, w, h} in CSS pixels) when the caller drew the axes. Its 2D context (cleared), or null. */
    cells(columns, rows, px, area) {
      this.area = area || null;
      if (this.canvas) this.canvas.style.display = px ? "" : "none";
      if (!px) return null;  // (a hidden canvas gets no hover)
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
      const size = this.area || (this.div._fullLayout && this.div._fullLayout._size);
      if (size && this.bar) Object.assign(this.bar.style, {left: `${size.l + size.w + 12}px`, top: `${size.t}px`, height: `${size.h}px`});
      if (!size || !this.canvas) return;
      Object.assign(this.canvas.style, {left: `${size.l}px`, top: `${size.t}px`, width: `${size.w}px`, height: `${size.h}px`});
    }
    hover(e) {
      const box = this.canvas.getBoundingClientRect();
      const i = Math.floor((e.clientX - box.left) / box.width * this.columns);
      const k = Math.floor((e.clientY - box.top) / box.height * this.rows);
      showTip(this.tip, this.div, e, i >= 0 && i < this.columns && k >= 0 && k < this.rows ? this.text(i, k) : null);
    }
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
      this.orderAxes = new Axes(this.order.div);
      this.progress = el("div", "ld-chart ld-heat", root);
      this.progress.id = id("progress");
      this.progressAxes = new Axes(this.progress);
      this.progressTip = el("div", "ld-tip", this.progress);
      this.progressAxes.canvas.addEventListener("mousemove", (e) => this.progressHover(e));
      this.progressAxes.canvas.addEventListener("mouseleave", () => { this.progressTip.style.display = "none"; });
      el("div", "ld-empty", this.heat.div, "The confidence heatmap appears here when you press Generate.");
      // empty axes as soon as the page is idle: the first Plotly plot of a page costs several times a later
      // one, a long task at the start of a long run otherwise
      setTimeout(() => { if (!this.run && this.plotly) this.axes(null); }, 0);
      this.afterRunOf = null;  // the run the after-run charts show (null: none, empty axes)
      if (!this.only) {
        this.emptyAfterRun();
        // (drawn on canvases at the width they had: again when it changes)
        let width = root.clientWidth;
        new ResizeObserver(() => {
          if (root.clientWidth === width) return;
          width = root.clientWidth;
          this.orderChart(this.afterRunOf);
          this.progressChart(this.afterRunOf);
        }).observe(root);
      }
    }
    /* The after-run charts as empty axes that say when they fill. */
    emptyAfterRun() {
      if (this.only) return;
      this.orderChart(null);
      this.progressChart(null);
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
      this.emptyAfterRun();
      // the axes in a task of their own: with the grid's cells built in the same task, the first frame
      // of a 512-token run was one long task (bench/bench_browser.py, long tasks); and framed after a
      // rendered frame, when the grid's layout is done (before it, the same frame cost a third more)
      requestAnimationFrame(() => setTimeout(() => { if (run === this.run) { this.axes(run); this.update(run, this.final); } }, 0));
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
      const annotations = note("appears here when you press Generate", !run);
      this.cell = Math.max(1, Math.min(6, Math.floor(768 / Math.max(n, total))));
      this.ctx = this.heat.frame(n, total, run ? this.cell : 0,
        {stops: PLOTLY_SCALE, ticks: [[0, "0"], [0.5, "50"], [1, "100"]], title: "conf. %"},
        styled("Confidence at every step", this.height, {
          margin: {l: 48, r: 64, t: 28, b: 36},
          xaxis: axis({title: {text: "answer position"}, range: [-0.5, n - 0.5]}),
          yaxis: axis(Object.assign({title: {text: "step"}, range: [total + 0.5, 0.5]}, wholeTicks(total))),
          annotations,
        }));
      if (this.ctx && run.boundaries) {  // the blocks' boundaries, dotted down the steps still to come (the
        // rows paint over them); drawn here, not as Plotly shapes, whose every update re-lays the plot
        this.ctx.fillStyle = "#e45756";
        for (const b of run.blockStarts) {
          if (b <= 0) continue;
          for (let y = 0; y < total * this.cell; y += 6) this.ctx.fillRect(b * this.cell - 1, y, 2, 3);
        }
      }
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
        // a later task: the final grid and status paint first
        this.finished = true;
        setTimeout(() => { if (run === this.run) { this.orderChart(run); this.progressChart(run); } }, 30);
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
    /* The step each position was committed at, rows of 32 positions; hover: the position's token. null:
     * empty axes. */
    orderChart(run) {
      this.afterRunOf = run;
      const width = 32, n = run ? run.n : 128, rows = Math.max(1, Math.ceil(n / width));
      const last = run ? Math.max(1, run.done) : 1, px = run ? 16 : 0;
      const area = this.orderAxes.draw({
        height: Math.max(220, 26 * rows + 110), margin: {l: 56, r: 70, t: 30, b: 50},
        title: "Unmask order: the step each position was committed", note: run ? null : "appears here when a run ends",
        x: {range: [-0.5, width - 0.5], ticks: [0, 4, 8, 12, 16, 20, 24, 28, 31].map((v) => [v, String(v)]),
            title: `position mod ${width}`},
        y: {range: [-0.5, rows - 0.5], title: "first position",
            ticks: [...Array(rows).keys()].filter((r) => rows <= 24 || r % Math.ceil(rows / 24) === 0).map((r) => [r, String(r * width)])},
        bar: run ? {stops: PLASMA_RGB, range: [1, last], ticks: ticksUpTo(last, 1), title: "step"} : null,
      });
      this.order.div.dataset.positions = run ? n : 0;  // (for the tests: what the chart shows)
      const ctx = this.order.cells(width, rows, px, area);
      this.order.place();
      if (!run) return;
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
    /* Tokens committed at each step (a filled step line) and the masks left after it; null: empty axes. */
    progressChart(run) {
      this.afterRunOf = run;
      let left = run ? run.start.initial.filter((t) => t === run.mask).length : 0;
      const per = [], leftY = [left];
      for (const r of run ? run.records : []) {
        per.push(r.committed.length);
        left -= r.committed.length;
        leftY.push(left);
      }
      const done = Math.max(1, per.length), top = Math.max(1, ...per), masks = Math.max(1, leftY[0]);
      const teal = "rgb(33,145,140)", orange = "#f58518";
      const a = this.progressAxes.draw({
        height: 260, margin: {l: 52, r: 56, t: 30, b: 58}, grid: true,
        title: "Masks left and tokens committed per step", note: run ? null : "appears here when a run ends",
        x: {range: [0, done + 0.5], ticks: ticksUpTo(done), title: "step"},
        y: {range: [top * 1.05, 0], ticks: ticksUpTo(top), title: "committed"},
        y2: {range: [masks * 1.05, 0], ticks: ticksUpTo(masks), title: "masks left"},
        legend: [[teal, "committed this step"], [orange, "masks left"]],
      });
      this.progress.dataset.steps = run ? per.length : 0;  // (for the tests: what the chart shows)
      this.progressData = run ? {per, leftY, area: a} : null;
      if (!run || !per.length) return;
      const ctx = this.progressAxes.canvas.getContext("2d");
      ctx.save();
      ctx.beginPath();
      ctx.rect(a.l, a.t, a.w, a.h);
      ctx.clip();
      ctx.beginPath();  // committed: a step line filled to zero, one path (not a bar per step)
      ctx.moveTo(a.x(0.5), a.y(0));
      per.forEach((c, k) => { ctx.lineTo(a.x(k + 0.5), a.y(c)); ctx.lineTo(a.x(k + 1.5), a.y(c)); });
      ctx.lineTo(a.x(per.length + 0.5), a.y(0));
      ctx.closePath();
      ctx.fillStyle = "rgba(33,145,140,0.4)";
      ctx.fill();
      ctx.strokeStyle = teal;
      ctx.lineWidth = 1;
      ctx.stroke();
      ctx.beginPath();  // masks left
      leftY.forEach((m, k) => (k ? ctx.lineTo(a.x(k), a.y2(m)) : ctx.moveTo(a.x(k), a.y2(m))));
      ctx.strokeStyle = orange;
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.restore();
    }
    progressHover(e) {
      const d = this.progressData, tip = this.progressTip;
      const box = this.progressAxes.canvas.getBoundingClientRect(), x = e.clientX - box.left;
      const k = d ? Math.round((x - d.area.l) / d.area.w * (d.per.length + 0.5)) : 0;
      showTip(tip, this.progress, e, d && k >= 1 && k <= d.per.length
        ? `step ${k} \u00b7 committed ${d.per[k - 1]} \u00b7 masks left ${d.leftY[k]}` : null);
    }
  }

  L.Charts = Charts;
  L.plots = {styled, axis};
})(window.LladaView = window.LladaView || {});
