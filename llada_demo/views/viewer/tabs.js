/* The views of the Forward process and Likelihood tabs, each drawn from its value alone. */
(function (L) {
  "use strict";
  const {el, shown, quoted, plotlyText} = L.util;
  const {styled, axis} = L.plots;

  /* A tab's view: a status line and the parts of `parts`, each [key, tag, class, id] made in `root`;
   * `empty` says what to do, in the part named first, until the first value. */
  class DataView {
    constructor(root, status, parts, empty) {
      root.textContent = "";
      this.summary = el("div", "ld-status", root);
      this.summary.id = status;
      for (const [key, tag, cls, id] of parts) {
        this[key] = el(tag, cls, root);
        this[key].id = id;
      }
      el("div", "ld-empty", this[parts[0][0]], empty);
    }
  }

  /* ---- the forward process: a text masked at ratio t, and the model's one-pass reconstruction ---- */
  class ForwardView extends DataView {
    constructor(root) {
      super(root, "ld-forward-status", [["cells", "div", "ld-grid ld-cells", "ld-forward-grid"],
                                        ["chart", "div", "ld-chart", "ld-forward-chart"]],
            "Open this tab or move the slider to mask a text.");
    }
    /* v: {t, tokens, masked, predictions, correct, confidence, true_probability, curve} from the server */
    show(v) {
      const n = v.tokens.length, masked = v.masked.filter(Boolean).length;
      const right = v.masked.reduce((a, m, i) => a + (m && v.correct[i] ? 1 : 0), 0);
      this.summary.textContent = `t = ${v.t.toFixed(2)}: ${masked} of ${n} tokens masked; one forward pass ` +
        `predicts ${right} of them right`;
      this.cells.textContent = "";
      for (let i = 0; i < n; i++) {
        const pct = (x) => `${(100 * x).toFixed(1)}%`;
        if (v.masked[i]) {
          const c = el("span", `ld-cell ld-mask ${v.correct[i] ? "ld-right" : "ld-wrong"}`, this.cells);
          el("span", "ld-guess", c, shown(v.predictions[i]));
          c.title = `masked \u00b7 predicted ${quoted(v.predictions[i])} (${pct(v.confidence[i])}) \u00b7 ` +
                    `the text has ${quoted(v.tokens[i])} (${pct(v.true_probability[i])})`;
        } else {
          const c = el("span", "ld-cell", this.cells, shown(v.tokens[i]));
          c.title = `${quoted(v.tokens[i])} \u00b7 not masked`;
        }
      }
      if (!window.Plotly) return;
      const ts = v.curve.map((c) => c.t);
      window.Plotly.react(this.chart, [
        {x: ts, y: v.curve.map((c) => (c.accuracy === null ? null : 100 * c.accuracy)), name: "masked tokens right (%)",
         mode: "lines+markers", line: {color: "rgb(33,145,140)"}},
        {x: ts, y: v.curve.map((c) => c.loss), name: "loss: CE on masked / t, per token", mode: "lines+markers",
         line: {color: "#f58518"}, yaxis: "y2"},
      ], styled("Over t: one-pass accuracy and LLaDA's training loss", 300, {
        xaxis: axis({title: {text: "mask ratio t"}, range: [0, 1.02]}),
        yaxis: axis({title: {text: "right (%)"}, range: [0, 100]}),
        // (ticks of its own: an overlaid axis otherwise takes the left axis's grid, at odd values)
        yaxis2: axis({title: {text: "loss (nats)"}, overlaying: "y", side: "right", rangemode: "tozero",
                      tickmode: "auto", nticks: 6, showgrid: false}),
        shapes: [{type: "line", x0: v.t, x1: v.t, y0: 0, y1: 1, yref: "paper", line: {color: "#e45756", dash: "dot"}}],
        legend: {orientation: "h", y: -0.3}, margin: {l: 48, r: 48, t: 28, b: 36},
      }), {responsive: true, displaylogo: false});
    }
  }

  /* ---- likelihood: candidate answers scored by LLaDA's Monte Carlo bound, as samples accumulate ---- */
  /* A prompt's last words (about 28 characters, whole words). */
  const ending = (text) => (text.length > 28 ? "\u2026" + text.slice(-28).replace(/^\S*\s/, "") : text);
  class LikelihoodView extends DataView {
    constructor(root) {
      super(root, "ld-likelihood-status", [["chart", "div", "ld-chart", "ld-likelihood-chart"],
                                           ["ranking", "ol", "ld-ranking", "ld-ranking"],
                                           ["cards", "div", "ld-caption", "ld-likelihood-cards"]],
            "Press Score to estimate each answer's likelihood.");
    }
    /* v: {candidates, tokens, samples, total, estimates, errors, exact, twin, done} from the server */
    show(v) {
      const label = (c) => JSON.stringify(c);
      this.summary.textContent = `${v.state || (v.done ? "done" : "scoring")} \u00b7 ${v.samples}/${v.total} samples ` +
        `per answer \u00b7 log p(answer | prompt) >= the bar (nats)` +
        (v.prompt_tokens ? ` \u00b7 the prompt is ${v.prompt_tokens} tokens; each answer is scored as written after it` : "");
      if (!v.samples) { this.ranking.textContent = ""; return; }  // stopped before the first batch
      if (window.Plotly) {
        if (this.chart.querySelector(".ld-empty")) this.chart.textContent = "";
        const traces = [{type: "bar", orientation: "h", y: v.candidates.map((c) => plotlyText(label(c))),
          x: v.estimates, name: "LLaDA bound (Monte Carlo)", marker: {color: "rgb(33,145,140)"},
          error_x: {type: "data", array: v.errors.map((e) => (e === null ? 0 : e)), visible: true}}];
        if (v.exact) traces.push({type: "bar", orientation: "h", y: v.candidates.map((c) => plotlyText(label(c))),
          x: v.exact, name: `exact: ${plotlyText(v.twin)}`, marker: {color: "#f58518"}});
        window.Plotly.react(this.chart, traces, styled("Estimated log-likelihood of each answer", 120 + 60 * v.candidates.length, {
          barmode: "group", xaxis: axis({title: {text: "nats (higher is more likely)"}}),
          yaxis: axis({autorange: "reversed", automargin: true}), legend: {orientation: "h", y: -0.3},
          margin: {l: 48, r: 8, t: 28, b: 36},
        }), {responsive: true, displaylogo: false});
      }
      this.ranking.textContent = "";
      const order = v.estimates.map((e, i) => i).sort((a, b) => v.estimates[b] - v.estimates[a]);
      for (const i of order) {
        const e = v.errors[i] === null ? "" : ` \u00b1 ${v.errors[i].toFixed(2)}`;
        const twin = v.exact ? ` \u00b7 twin, exact: ${v.exact[i].toFixed(2)}` : "";
        const scored = v.prompt === undefined ? "" : `: ${quoted(ending(v.prompt) + "|" + v.scored[i])}`;
        el("li", null, this.ranking, `${label(v.candidates[i])}: ${v.estimates[i].toFixed(2)}${e} ` +
           `(${v.tokens[i]} tokens${scored})${twin}`);
      }
      this.cards.textContent = v.cards || "";
    }
  }

  /* ---- over training: held-out loss and accuracy by epochs, from the training logs ---- */
  const KIND_COLOURS = {diffusion: ["rgb(33,145,140)", "rgb(59,82,139)"], autoregressive: ["#f58518", "#b279a2"]};
  class CurvesView extends DataView {
    constructor(root) {
      super(root, "ld-curves-status", [["chart", "div", "ld-chart", "ld-curves-chart"],
                                       ["verdict", "div", "ld-caption", "ld-curves-verdict"]],
            "Open this tab to draw the training curves.");
    }
    /* v: {model, runs: [{label, kind, metric, loss_name, points: [{epochs, acc, loss}], kept_epochs,
     *     final: {epochs, loss, ppl, how} | null}], note} from the server */
    show(v) {
      const twinned = v.runs.length && v.runs[0].kind === "diffusion" && v.runs.some((r) => r.kind === "autoregressive");
      this.summary.textContent = v.runs.length ? `${v.model}${twinned ? " and its twin" : ""}: held-out ` +
        "loss (left) and accuracy (right) at each evaluation of training; a star: a run's final evaluation " +
        "(the diffusion model's bound with more draws of t)" : v.note;
      this.verdict.textContent = v.runs.length ? v.note : "";
      if (!window.Plotly) return;
      if (this.chart.querySelector(".ld-empty")) this.chart.textContent = "";
      if (!v.runs.length) { window.Plotly.purge(this.chart); return; }
      // the stars go last, the first run's (the chosen model's) on top: a rerun's final star can sit on it
      const traces = [], stars = [], used = {diffusion: 0, autoregressive: 0};
      for (const [i, r] of v.runs.entries()) {
        const colour = KIND_COLOURS[r.kind][used[r.kind]++ % KIND_COLOURS[r.kind].length];
        const name = plotlyText(r.label), group = name, x = r.points.map((p) => p.epochs);
        const logged = r.points.filter((p) => p.loss !== null);
        if (logged.length) traces.push({x: logged.map((p) => p.epochs), y: logged.map((p) => p.loss), name,
          legendgroup: group, legendrank: i + 1, mode: "lines+markers", line: {color: colour}, marker: {size: 5},
          hovertemplate: `${name}<br>%{x:.1f} epochs: ${plotlyText(r.loss_name)} %{y:.3f}<extra></extra>`});
        if (r.final) stars.unshift({x: [r.final.epochs], y: [r.final.loss], name, legendgroup: group,
          legendrank: i + 1, showlegend: !logged.length, mode: "markers",
          marker: {color: colour, size: 13, symbol: "star"},
          hovertemplate: `${name}<br>final evaluation, ${r.final.epochs.toFixed(1)} epochs: ` +
                         `${r.final.loss.toFixed(3)} nats (perplexity ${r.final.ppl.toFixed(1)}, ` +
                         `${plotlyText(r.final.how)})<extra></extra>`});
        traces.push({x, y: r.points.map((p) => 100 * p.acc), name, legendgroup: group, showlegend: false,
          xaxis: "x2", yaxis: "y2", mode: "lines+markers", line: {color: colour, dash: r.kind === "diffusion" ?
          "solid" : "dot"}, marker: {size: 5},
          hovertemplate: `${name}<br>%{x:.1f} epochs: ${plotlyText(r.metric)} %{y:.1f}%<extra></extra>`});
      }
      const layout = styled("Held-out loss and accuracy over training", 380, {
        xaxis: axis({title: {text: "epochs over the training text"}, domain: [0, 0.45], rangemode: "tozero"}),
        yaxis: axis({title: {text: "loss per token (nats, lower is better)"}}),
        xaxis2: axis({title: {text: "epochs over the training text"}, domain: [0.55, 1], anchor: "y2",
                      rangemode: "tozero"}),
        yaxis2: axis({title: {text: "accuracy (%)"}, anchor: "x2"}),
        annotations: [  // each panel's measure (the two kinds' accuracies are of different tasks)
          {text: "loss: the twin's exact NLL, the diffusion model's bound", x: 0, xanchor: "left"},
          {text: "accuracy: masked tokens at t = 0.15 (diffusion), next token (twin)", x: 0.55, xanchor: "left"},
        ].map((a) => Object.assign({xref: "paper", yref: "paper", y: 1.02, yanchor: "bottom", showarrow: false,
                                    font: {size: 11}}, a)),
        legend: {orientation: "h", y: -0.25}, margin: {l: 56, r: 8, t: 48, b: 36},
      });
      window.Plotly.react(this.chart, traces.concat(stars), layout, {responsive: true, displaylogo: false});
    }
  }

  Object.assign(L, {ForwardView, LikelihoodView, CurvesView});
})(window.LladaView = window.LladaView || {});
