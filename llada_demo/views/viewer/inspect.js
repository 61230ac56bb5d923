/* Ask a cell why, and steer the run: a panel beside a live view's grid for the cell clicked, at the step
 * shown. From the records the page holds (no request): the cell's confidence at every step, the step it
 * was committed at, what the model guessed there over the steps, and what the shown step committed. From
 * the server (the live view's `inspect`): the model's top 5 candidates there. In replay, with steering on
 * (the Generate tab): set the cell to a token or mask it again, as many cells as wanted, then continue the
 * run from the shown step (the live view's `continueFrom`), a branch of it. */
(function (L) {
  "use strict";
  const {el, quoted} = L.util;

  class Inspector {
    constructor(live, parent) {
      this.live = live;
      this.box = el("div", "ld-inspect", parent);
      this.box.style.display = "none";
      this.position = null;
      this.pending = {set: new Map(), remask: new Set()};  // edits at this.editStep, not yet sent
      this.editStep = null;
      this.answers = new Map();  // "run:step:cell" -> the server's answer (a Promise)
    }
    get run() { return this.live.run; }

    open(i) {
      this.position = i;
      this.box.style.display = "";
      this.select(i);
      this.draw();
    }
    close() {
      this.position = null;
      this.box.style.display = "none";
      this.box.textContent = "";
      this.select(null);
    }
    select(i) {  // the cell inspected, outlined in the grid
      if (this.live.grid.selected === i) return;
      this.live.grid.selected = i;
      this.live.redraw();
    }
    /* The shown step changed (a scrub, a new step, another run): the panel follows it, and edits made at
     * another step are dropped. */
    refresh() {
      if (this.editStep !== null && this.editStep !== this.live.shownStep()) this.clearEdits();
      if (this.position !== null && this.run && this.position < this.run.n) this.draw();
    }
    draw() {
      const run = this.run, i = this.position, k = this.live.shownStep(), v = run.view(k), box = this.box;
      box.textContent = "";
      const head = el("div", "ld-inspect-head", box);
      el("b", null, head, `position ${i}`);
      el("span", null, head, ` \u00b7 step ${k}/${run.done} \u00b7 ` + (v.masked[i] ?
        (v.guess[i] !== run.mask ? `masked, the model guesses ${quoted(run.text(v.guess[i]))}` : "masked") :
        `${quoted(run.text(v.token(i)))}, ` + (v.commit[i] === 0 ? "given" : v.byHand(i) ?
          `set by hand at step ${v.commit[i]}` : `committed at step ${v.commit[i]}`)));
      const close = el("button", "ld-button ld-inspect-close", head, "\u00d7");
      close.type = "button";
      close.title = "close";
      close.addEventListener("click", () => this.close());
      const c = run.view(run.done).commit[i];  // its commit, as the run ended
      this.sparkline(el("canvas", "ld-spark", box), i, k, c);
      el("div", "ld-inspect-note", box, `its confidence at steps 1\u2013${run.done}: the dot at step ${k}` +
         (c > 0 ? `, the bar at its commit (step ${c})` : ""));
      el("div", "ld-inspect-line", box, this.guessesText(i, k));
      const now = k > 0 ? run.records[k - 1].committed : [];
      el("div", "ld-inspect-line", box, now.length ? `step ${k} committed ${now.length}: ` +
        now.slice(0, 12).map((p) => `${p} ${quoted(run.text(v.token(p)))}`).join(", ") + (now.length > 12 ? ", \u2026" : "") :
        `step ${k} committed nothing`);
      this.topFive(el("div", "ld-inspect-top", box), i, k);
      if (this.live.options.steer) this.editControls(el("div", "ld-inspect-edit", box), i, k, v);
    }
    /* The cell's confidence at every step so far: a line, the shown step a dot, its commit (step c) a bar. */
    sparkline(canvas, i, k, c) {
      const run = this.run, w = 260, h = 44;
      Object.assign(canvas, {width: w, height: h});
      canvas.title = "its confidence at every step (the dot: the step shown; the bar: its commit)";
      const ctx = canvas.getContext("2d"), n = run.done, x = (s) => (n > 1 ? (s - 1) / (n - 1) : 0.5) * (w - 8) + 4;
      const y = (p) => h - 4 - p * (h - 8);
      ctx.strokeStyle = "rgba(127,127,127,.35)";
      ctx.strokeRect(0.5, 0.5, w - 1, h - 1);
      ctx.strokeStyle = "rgb(33,145,140)";
      ctx.beginPath();
      let drawing = false;
      for (let s = 1; s <= n; s++) {
        const p = run.probability(run.records[s - 1].conf[i]);
        if (!Number.isFinite(p)) { drawing = false; continue; }
        if (drawing) ctx.lineTo(x(s), y(p)); else ctx.moveTo(x(s), y(p));
        drawing = true;
      }
      ctx.stroke();
      if (c > 0) { ctx.fillStyle = "#f58518"; ctx.fillRect(x(c) - 1, 2, 2, h - 4); }
      if (k > 0) {
        const p = run.probability(run.records[k - 1].conf[i]);
        ctx.fillStyle = "#e45756";
        ctx.beginPath();
        ctx.arc(x(k), Number.isFinite(p) ? y(p) : h / 2, 3, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    /* What the model guessed under the mask, step by step, as runs of one guess. */
    guessesText(i, k) {
      const run = this.run, spans = [];
      for (let s = 1; s <= Math.max(k, 1) && s <= run.done; s++) {
        const v = run.view(s), id = v.masked[i] ? v.guess[i] : null;
        if (id === null || id === run.mask) continue;
        const last = spans[spans.length - 1];
        if (last && last.id === id && last.to === s - 1) last.to = s; else spans.push({id, from: s, to: s});
      }
      if (!spans.length) return "no guess under a mask there up to this step";
      return "guessed: " + spans.map((g) => `${g.from === g.to ? g.from : `${g.from}\u2013${g.to}`} ` +
                                          quoted(run.text(g.id))).join(", ");
    }
    /* The model's top 5 there, asked of the server: the forward pass of the next step on this canvas. */
    topFive(box, i, k) {
      const ask = this.live.inspectCell;
      if (!ask) { el("span", "ld-inspect-note", box, "top 5: the app's server gives them (not in a saved page)"); return; }
      el("span", "ld-inspect-note", box, "asking the model\u2026");
      const key = `${this.live.runKey(this.run)}:${k}:${i}`;
      this.asked = key;
      if (!this.answers.has(key)) {  // one request per run, step and cell (a redraw asks no more)
        if (this.answers.size > 200) this.answers.clear();
        this.answers.set(key, ask(this.live.runRef(this.run, k), k, i));
      }
      this.answers.get(key).then((r) => {
        if (this.asked !== key) return;
        box.textContent = "";
        if (!r || r.error) { el("span", "ld-inspect-note", box, `top 5: ${r ? r.error : "no answer"}`); return; }
        const t = (this.run.start.settings || {}).temperature;
        el("div", null, box, (k < this.run.done || !this.run.end ? `the model's top 5 for step ${k + 1}` :
           "the model's top 5 on the canvas the run ended with") +
           (t > 0 ? ` (its probabilities before sampling at temperature ${t}):` : ":"));
        r.candidates.forEach((c, n) => {
          this.run.texts.set(c.id, c.text);
          el("span", "ld-top", box, `${n + 1}. ${quoted(c.text)} ${(100 * c.p).toFixed(1)}%`);
        });
      }, (e) => { if (this.asked === key) { box.textContent = ""; el("span", "ld-inspect-note", box, `top 5: ${e}`); } });
    }
    /* Set the cell, mask it again, the pending edits, Continue from here. */
    editControls(box, i, k, v) {
      if (this.live.state === "running" || !this.live.replaying && k !== this.run.done) {
        el("span", "ld-inspect-note", box, "to edit: stop or let the run end, then pick a step in the replay");
        return;
      }
      const row = el("div", "ld-inspect-row", box);
      el("span", null, row, "set to ");
      const input = el("input", "ld-inspect-input", row);
      Object.assign(input, {type: "text", placeholder: "one token", value: this.pending.set.get(i) || ""});
      const set = el("button", "ld-button", row, "set");
      set.type = "button";
      set.addEventListener("click", () => { if (input.value) this.addEdit(i, k, input.value); });
      if (!v.masked[i] && v.commit[i] > 0) {
        const remask = el("button", "ld-button", row, "mask again");
        remask.type = "button";
        remask.addEventListener("click", () => this.addEdit(i, k, null));
      }
      const edits = [...[...this.pending.set].map(([p, t]) => `${p} \u2192 ${quoted(t)}`),
                     ...[...this.pending.remask].map((p) => `${p} masked again`)];
      const go = el("div", "ld-inspect-row", box);
      el("span", null, go, edits.length ? `edits at step ${this.editStep}: ${edits.join(", ")} ` : "no edit yet ");
      if (edits.length) {
        const clear = el("button", "ld-button", go, "clear");
        clear.type = "button";
        clear.addEventListener("click", () => { this.clearEdits(); this.draw(); });
      }
      const cont = el("button", "ld-button ld-continue", go, "Continue from here");
      cont.type = "button";
      cont.addEventListener("click", () => this.continueRun(k));
      const s = this.run.start.settings || {};
      if (s.temperature > 0 || s.remasking === "random")  // (sampler.denoise: resume)
        el("div", "ld-inspect-note", box, "this run samples (temperature or random remasking): a continuation " +
           "draws noise of its own from the seed and the step, so with no edit it may still differ; at temperature 0 " +
           "with low-confidence remasking it repeats the run exactly");
    }
    addEdit(i, k, text) {
      if (this.editStep !== k) this.clearEdits();
      this.editStep = k;
      if (text === null) { this.pending.set.delete(i); this.pending.remask.add(i); }
      else { this.pending.remask.delete(i); this.pending.set.set(i, text); }
      this.live.grid.pending = new Set([...this.pending.set.keys(), ...this.pending.remask]);
      this.live.redraw();
      this.draw();
    }
    clearEdits() {
      this.pending = {set: new Map(), remask: new Set()};
      this.editStep = null;
      if (this.live.grid.pending.size) { this.live.grid.pending = new Set(); this.live.redraw(); }
    }
    continueRun(k) {
      const run = this.run;
      // the edits stay until the branch begins (reset): a refused one is corrected, not typed again
      this.live.continueFrom({run: this.live.runRef(run, k), page_run: this.live.runKey(run), step: k,
                              set: [...this.pending.set].map(([p, t]) => [p, t]), remask: [...this.pending.remask]});
    }
    /* A run begins in the view (a new one, or a branch): no panel, no edit. */
    reset() {
      this.pending = {set: new Map(), remask: new Set()};
      this.editStep = null;
      this.live.grid.pending = new Set();
      this.position = null;
      this.box.style.display = "none";
      this.box.textContent = "";
      this.live.grid.selected = null;
    }
  }

  L.Inspector = Inspector;
})(window.LladaView = window.LladaView || {});
