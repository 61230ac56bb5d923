/* A live view: status, token grid and replay controls in one element, fed by a run's messages as they
 * come (from the page's stream or Gradio's values, with what it missed fetched again), or by a whole run
 * (an opened file, a standalone page). It draws at most once a frame, and while runs stream at most
 * every Live.interval ms, the page's live views together. */
(function (L) {
  "use strict";
  const {el, legend} = L.util;
  // ms between drawings of a streaming run (grid, heatmap rows and status in one frame): every frame that
  // changes the page pays a layout, a paint and the compositor, whatever changed, so frames are what the
  // page's CPU follows (docs/performance.md)
  const GRID_INTERVAL = 100;  // (Live.interval: a page or a benchmark may set another)
  // The page's drawing clock, shared by its live views: views side by side (Compare, Reversal) that wait
  // for their next drawing are drawn together, in one frame, so that they pay one layout and paint
  const clock = {last: -Infinity, timer: null, waiting: new Set()};

  class Live {
    /* options.prefix: of its elements' ids ("ld-": ld-status, ld-grid, ld-replay, ld-play, ...). */
    constructor(root, options = {}) {
      const id = (name) => `${options.prefix || "ld-"}${name}`;
      this.root = root;
      this.options = options;
      this.linked = [];  // views scrubbed together with this one (Compare)
      root.textContent = "";
      this.statusEl = el("div", "ld-status", root, "Ready.");
      this.statusEl.id = id("status");
      const grid = el("div", "ld-grid", root);
      grid.id = id("grid");
      legend(grid);
      this.caption = el("div", "ld-caption", grid);
      this.cellsEl = el("div", "ld-cells", grid);
      el("div", "ld-empty", this.cellsEl, "The token grid appears here when you press Generate.");
      this.grid = new L.Grid(this.cellsEl, () => this.redraw());
      this.cellsEl.addEventListener("click", (e) => {  // a cell clicked is inspected (inspect.js)
        const cell = e.target.closest && e.target.closest(".ld-cell[data-pos]");
        if (cell && this.run) this.inspector.open(Number(cell.dataset.pos));
      });
      this.inspector = new L.Inspector(this, root);
      const controls = el("div", "ld-controls", root);
      const label = el("label", "ld-replay-label", controls, "Replay: step ");
      this.replay = el("input", null, label);
      Object.assign(this.replay, {type: "range", id: id("replay"), min: 0, max: 0, value: 0, step: 1, disabled: true});
      this.replayOut = el("output", "ld-replay-out", label, "0");
      this.play = el("button", "ld-button", controls, "Play");
      this.play.id = id("play");
      this.play.type = "button";
      this.play.disabled = true;
      const sp = el("label", "ld-speed-label", controls, " speed ");
      this.speed = el("input", null, sp);
      Object.assign(this.speed, {type: "number", id: id("speed"), min: 1, max: 240, value: 12, step: 1});
      el("span", null, sp, " steps/s");
      const open = el("label", "ld-open", controls, " open a run (.json) ");
      this.file = el("input", null, open);
      Object.assign(this.file, {type: "file", accept: ".json,application/json", id: id("open")});
      this.file.addEventListener("change", () => this.openFile(this.file.files[0]));
      this.branchesEl = el("div", "ld-branches", controls);  // a run and its branches, one shown at a time
      this.branchesEl.id = id("branches");
      this.replay.addEventListener("input", () => {
        this.stopPlay();
        const k = Number(this.replay.value);
        this.scrub(k);
        for (const other of this.linked) if (other.run && other.state !== "running") other.scrub(Math.min(k, other.run.done));
      });
      this.play.addEventListener("click", () => (this.timer ? this.stopPlay() : this.startPlay()));
      this.run = null;
      this.charts = [];
      this.state = "idle";
      this.runId = null;
      this.runs = new Map();  // the runs this view holds, by key: the server's run id, or its own for a file
      this.opened = 0;
      this.fetchMissing = null;  // (run, start, end) -> Promise of messages: set by the page
      this.inspectCell = null;  // (run, step, position) -> Promise of the server's top 5: set by the page
      this.continueFrom = null;  // ({run, page_run, step, set, remask}) -> a branch: set by the page
    }
    /* The step shown: the replay's, or the run's last. */
    shownStep() { return !this.run ? 0 : this.replaying ? Number(this.replay.value) : this.run.done; }
    runKey(run) { return run.key; }
    /* How the server finds `run` up to step k: its id if the server streamed it, else its run file. */
    runRef(run, k) { return run.served ? run.key : JSON.stringify(run.document(k)); }
    /* A payload from the server: {run, first, messages}, `first` being the index of its first message
     * in the run. Messages this view missed (it mounted after the run began, or a value was dropped on
     * the way) are asked for with fetchMissing(run, start, end) -> Promise of messages, set by the page. */
    receive(payload) {
      if (!payload || !payload.messages) return;
      if (payload.run !== this.runId) {
        this.runId = payload.run; this.applied = 0; this.backlog = []; this.fetching = false;
        const parent = payload.branch_of && this.runs.get(payload.branch_of);
        if (parent) {  // a branch: the run it continues is here up to its step, not sent again
          this.beginRun(parent.clone(payload.at), payload.run);
          this.applied = payload.first;
        }
      }
      this.backlog.push(payload);
      this.drain();
    }
    drain() {
      while (this.backlog.length && !this.fetching) {
        const p = this.backlog[0], run = this.runId;
        if (p.first > this.applied && this.fetchMissing) {
          this.fetching = true;
          const upto = p.first;
          this.fetchMissing(run, this.applied, upto).then((ms) => ms, () => null).then((ms) => {
            if (run !== this.runId) return;
            this.fetching = false;
            if (ms && ms.length === upto - this.applied) for (const m of ms) this.apply(m);
            else console.warn(`llada-demo: messages ${this.applied}..${upto} of this run could not be fetched`);
            this.applied = Math.max(this.applied, upto);
            this.drain();
          });
          return;
        }
        this.backlog.shift();
        for (const m of p.messages.slice(Math.max(0, this.applied - p.first))) this.apply(m);
        this.applied = Math.max(this.applied, p.first + p.messages.length);
      }
    }
    apply(m) {
      this.applied++;
      this.message(m);
    }
    message(m) {
      if (m.type === "start") this.begin(m);
      else if (m.type === "step" && this.run) { this.run.add(m); this.state = "running"; this.request(); }
      else if (m.type === "edit" && this.run) { this.run.edit(m); this.request(); }
      else if (m.type === "end" && this.run) this.finish(m);
    }
    begin(start) {
      this.beginRun(new L.Run(start), this.runId);
    }
    /* A run starts here, kept under `key` (the server's run id; a file's: one of this view's own). */
    beginRun(run, key) {
      this.stopPlay();
      run.served = key !== null && key !== undefined;
      run.key = run.served ? key : `file-${++this.opened}`;
      this.runs.set(run.key, run);
      this.run = run;
      this.inspector.reset();
      this.state = "running";
      this.lastDrawn = 0;
      this.buildCells();
      this.replay.disabled = true;
      this.play.disabled = true;
      this.replay.max = 0; this.replay.value = 0; this.replayOut.textContent = "0";
      this.caption.textContent = "";
      this.statusEl.textContent = this.run.done ? this.run.status(this.run.done, "running") : this.run.status(0, "running");
      for (const c of this.charts) c.begin(this.run);
      this.drawBranches();
      this.request();
    }
    /* The runs of the shown run's family (the run it branched from, and theirs): one button each. */
    drawBranches() {
      const root = (r) => (r.parent ? root(r.parent) : r), mine = root(this.run);
      const family = [...this.runs.values()].filter((r) => root(r) === mine);
      this.branchesEl.textContent = "";
      if (family.length < 2) return;
      el("span", null, this.branchesEl, "runs: ");
      family.forEach((r, n) => {
        const b = el("button", "ld-button" + (r === this.run ? " ld-chosen" : ""), this.branchesEl,
                     n === 0 ? "original" : `branch ${n} (from step ${r.branchedAt})`);
        b.type = "button";
        b.disabled = this.state === "running";
        b.addEventListener("click", () => this.show(r));
      });
    }
    /* Show another run this view holds (a branch, or the original), as it ended. */
    show(run) {
      if (this.state === "running" || run === this.run) return;
      this.stopPlay();
      this.run = run;
      this.inspector.reset();
      this.buildCells();
      for (const c of this.charts) c.begin(run);
      this.finish(run.end || {type: "end", state: "stopped", answer: ""});
      this.drawBranches();
      this.fillOpened();  // (its answer in the answer box)
    }
    finish(end) {
      this.run.end = end;
      this.state = end.state;
      this.drawBranches();
      const k = this.run.done;
      this.replay.max = k; this.replay.value = k; this.replayOut.textContent = String(k);
      this.replay.disabled = k === 0;
      this.play.disabled = k === 0;
      this.request();
    }
    /* Load a whole run (a JSON export, or a standalone page's run) for replay. */
    load(messages) {
      for (const m of messages) this.message(m);
      if (this.run && !this.run.end) this.finish({type: "end", state: "stopped", answer: ""});
    }
    /* A JSON export chosen by the user: checked whole (checkRun), then replayed here; nothing is sent to
     * the server. A file that fails a check leaves the run on screen as it was and says why. */
    openFile(file) {
      if (!file) return;
      const refuse = (why) => { this.statusEl.textContent = `could not open ${file.name}: ${why}`; };
      this.file.value = "";  // the same file may be chosen again
      if (file.size > L.MAX_RUN_BYTES) { refuse(`larger than ${L.MAX_RUN_BYTES / 1048576} MB`); return; }
      if (this.state === "running") { refuse("a run is streaming here; open the file when it has ended"); return; }
      file.text().then((text) => {
        let doc;
        try { doc = JSON.parse(text); } catch (e) { throw new Error("not JSON"); }
        L.checkRun(doc);
        this.runId = null;  // (a run of its own: the server does not know it)
        this.load(doc.messages);
        this.drawLive(true);  // the run as it ended (and the after-run charts), then the replay at its last step
        this.scrub(this.run.done);
        this.fillOpened();
      }).catch((e) => refuse(e.message));
    }
    /* An opened or chosen run's prompt and answer in the page's textboxes (options.opened: {prompt, answer} ids). */
    fillOpened() {
      const ids = this.options.opened, run = this.run;
      if (!ids) return;
      const special = /^<\|[^|]*\|>$/;  // the prompt's BOS and a chat template's markers are not what was typed
      const prompt = run.start.prompt.map((id) => run.text(id)).filter((t) => !special.test(t)).join("");
      for (const [key, text] of [["prompt", prompt], ["answer", (run.end && run.end.answer) || ""]]) {
        const box = ids[key] && document.querySelector(`#${ids[key]} textarea, #${ids[key]} input`);
        if (!box) continue;
        box.value = text;
        box.dispatchEvent(new Event("input", {bubbles: true}));
      }
    }
    request() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.drawLive(); });
    }
    /* The grid, the heatmap's new rows and the status together, at most Live.interval apart while a run
     * streams (`force`: now), at once when it ends or stops. Cells committed since the last drawn grid
     * are outlined. */
    drawLive(force = false) {
      if (!this.run || this.replaying) return;
      const k = this.run.done, now = performance.now(), running = this.state === "running";
      const wait = Live.interval - (now - clock.last);
      if (running && !force && wait > 0) {
        clock.waiting.add(this);
        if (!clock.timer) {
          clock.timer = setTimeout(() => requestAnimationFrame(() => {
            clock.timer = null;
            const views = [...clock.waiting];
            clock.waiting.clear();
            for (const view of views) view.drawLive(true);
          }), wait);
        }
        return;
      }
      if (running) clock.last = now;
      clock.waiting.delete(this);
      this.drawGrid(k, this.lastDrawn);
      this.lastDrawn = k;
      for (const c of this.charts) c.update(this.run, !running);
      this.statusEl.textContent = this.run.status(k, this.state);
      if (!running) this.inspector.refresh();  // (while a run streams, a panel open stays at its step)
    }
    scrub(k) {
      if (!this.run) return;
      this.replaying = true;
      this.replay.value = k;
      this.replayOut.textContent = String(k);
      this.caption.textContent = `replay \u00b7 step ${k}/${this.run.done}`;
      if (this.state !== "running") this.statusEl.textContent = this.run.status(this.run.done, this.state);
      this.drawGrid(k, k - 1);
      for (const c of this.charts) c.markStep(k);
      this.inspector.refresh();
    }
    startPlay() {
      if (!this.run || !this.run.done) return;
      let k = Number(this.replay.value);
      if (k >= this.run.done) k = 0;
      this.scrub(k);
      this.play.textContent = "Pause";
      const tick = () => {
        if (k >= this.run.done) { this.stopPlay(); return; }
        this.scrub(++k);
        this.timer = setTimeout(tick, 1000 / Math.max(Number(this.speed.value) || 12, 0.1));
      };
      this.timer = setTimeout(tick, 1000 / Math.max(Number(this.speed.value) || 12, 0.1));
    }
    stopPlay() {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.play.textContent = "Play";
    }
    setGuesses(on) {
      this.grid.showGuesses = !!on;
      if (!this.run) return;
      const replaying = this.replaying;
      this.buildCells();
      if (replaying) this.scrub(Number(this.replay.value));
      else this.drawLive();
    }
    buildCells() {
      this.grid.build(this.run);
      this.replaying = false;
    }
    redraw() {
      if (this.replaying) this.scrub(Number(this.replay.value));
      else this.drawLive(true);
    }
    /* The grid at step k, cells committed after step `since` outlined (the active block underlined while
     * the run goes on). */
    drawGrid(k, since) {
      const run = this.run;
      this.grid.draw(run, k, since, k < run.total && !(this.state !== "running" && k === run.done && !this.replaying));
    }
  }

  Live.interval = GRID_INTERVAL;
  L.Live = Live;
})(window.LladaView = window.LladaView || {});
