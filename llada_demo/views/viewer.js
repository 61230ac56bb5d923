/* llada-demo's renderer: draws a run in the browser from the messages of trace/wire.py.
 *
 * The page (and a standalone export) holds the run's messages; nothing is drawn on the server.
 *   LladaView.Run    the run as the browser keeps it: the mirror of trace.Trajectory (state at any step).
 *   LladaView.Live   status, token grid and replay controls in one element; draws at most once a frame,
 *                    updating only the cells that changed.
 *   LladaView.Charts the step x position heatmap (rows appended, redraws throttled), and after the run
 *                    the unmask-order map and the per-step chart; fed by a Live.
 * Every text from the model or the user is set with textContent or escaped for Plotly: never HTML.
 * Needs window.Plotly (plotly.min.js, shipped inside the plotly Python package) for the charts only.
 */
(function () {
  "use strict";

  const SCALE = [[0, [68, 1, 84]], [0.25, [59, 82, 139]], [0.5, [33, 145, 140]], [0.75, [94, 201, 98]],
                 [1, [253, 231, 37]]];
  const PLOTLY_SCALE = SCALE.map(([p, c]) => [p, `rgb(${c.join(",")})`]);
  // plasma, for the unmask order (plotly.js has no plasma of its own)
  const PLASMA = [[0, "#0d0887"], [0.25, "#7e03a8"], [0.5, "#cc4778"], [0.75, "#f89540"], [1, "#f0f921"]];
  const PROMPT_CELLS_SHOWN = 48;
  const TAIL_MIN = 4;  // trailing end-of-text cells drawn as one cell from this many on
  // what a grid cell shows, as bits of Live.drawGrid's flags
  const MASKED = 1, ACTIVE = 2, NEW = 4, GUESS = 8, HIDDEN = 16;
  // ms between drawings of a streaming run (grid, heatmap rows and status in one frame): every frame that
  // changes the page pays a layout, a paint and the compositor, whatever changed, so frames are what the
  // page's CPU follows (bench/bench_browser.py; docs/performance.md)
  const GRID_INTERVAL = 100;
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

  /* ---- run files: checked whole before anything is drawn ----------------------------------------- */
  // The limits of trace/wire.py (MAX_RUN_BYTES, MAX_CANVAS, MAX_PROMPT, MAX_ID; a test checks they agree),
  // and the same checks as its decode_run: a file that fails any of them leaves the run on screen as it was.
  const MAX_RUN_BYTES = 20 * 1048576, MAX_CANVAS = 4096, MAX_PROMPT = 8192, MAX_ID = 2147483647;

  function checkRun(doc) {
    const fail = (where, what) => { throw new Error(`${where}: ${what}`); };
    const isInt = (v, lo = 0, hi = MAX_ID) => Number.isInteger(v) && v >= lo && v <= hi;
    const isObject = (v) => !!v && typeof v === "object" && !Array.isArray(v);
    const ints = (m, key, where, lo = 0, hi = MAX_ID, most = MAX_CANVAS) => {
      const v = m[key];
      if (!Array.isArray(v) || v.length > most || !v.every((x) => isInt(x, lo, hi))) {
        fail(where, `'${key}' must be a list of at most ${most} whole numbers from ${lo} to ${hi}`);
      }
      return v;
    };
    const texts = (m, where) => {
      const v = m.texts === undefined ? {} : m.texts;
      if (!isObject(v) || !Object.entries(v).every(([k, t]) => /^\d+$/.test(k) && typeof t === "string")) {
        fail(where, "'texts' must map token ids to strings");
      }
    };
    if (!isObject(doc) || doc.format !== "llada-demo-run") fail("run file", "not a llada-demo-run file");
    if (doc.version !== 1 && doc.version !== 2) {
      fail("run file", `llada-demo-run version ${JSON.stringify(doc.version)}; this page reads versions 1, 2`);
    }
    const ms = doc.messages;
    if (!Array.isArray(ms) || !ms.every(isObject)) fail("run file", "'messages' must be a list of objects");
    if (!ms.length || ms[0].type !== "start") fail("run file", "the run has no start message");
    const s = ms[0], at = "start message";
    if (s.label !== undefined && typeof s.label !== "string") fail(at, "'label' must be a string");
    if (s.settings !== undefined && s.settings !== null && !isObject(s.settings)) fail(at, "'settings' must be an object or null");
    ints(s, "prompt", at, 0, MAX_ID, MAX_PROMPT);
    const n = ints(s, "initial", at).length;
    if (n < 1) fail(at, `'initial' (the canvas) must hold 1 to ${MAX_CANVAS} positions`);
    if (!isInt(s.mask_id)) fail(at, "'mask_id' must be a whole number");
    const spans = s.block_spans, per = s.steps_per_block;
    if (!Array.isArray(spans) || spans.length < 1 || spans.length > n || !spans.every((b) =>
      Array.isArray(b) && b.length === 2 && isInt(b[0], 0, n) && isInt(b[1], 0, n) && b[0] < b[1])) {
      fail(at, `'block_spans' must be a list of [start, end) positions inside the canvas (0..${n})`);
    }
    if (!spans.every((b, i) => i === 0 || spans[i - 1][1] <= b[0])) fail(at, "'block_spans' must be in order, not overlapping");
    if (!Array.isArray(per) || per.length !== spans.length || !per.every((k) => isInt(k, 1)) ||
        per.reduce((a, b) => a + b, 0) > n) {
      fail(at, `'steps_per_block' must give each block 1 step or more, ${n} in all at most (one token a step)`);
    }
    const total = per.reduce((a, b) => a + b, 0);
    if (s.notes !== undefined && !(Array.isArray(s.notes) && s.notes.every((x) => typeof x === "string"))) fail(at, "'notes' must be strings");
    if (s.stop_ids !== undefined) ints(s, "stop_ids", at, 0, MAX_ID, 64);
    texts(s, at);
    const masked = Uint8Array.from(s.initial, (t) => (t === s.mask_id ? 1 : 0));
    let left = masked.reduce((a, b) => a + b, 0), step = 0, ended = false;
    for (let i = 1; i < ms.length; i++) {
      const m = ms[i];
      if (m.type === "end") {
        if (i !== ms.length - 1) fail("run file", "the end message must be the last");
        if ((m.state !== "done" && m.state !== "stopped") || (m.answer !== undefined && typeof m.answer !== "string")) {
          fail("end message", "'state' must be done or stopped, 'answer' a string");
        }
        ended = true;
        continue;
      }
      if (m.type !== "step") fail(`message ${i}`, `type ${JSON.stringify(m.type)}; after the start come steps and one end`);
      const w = `step message ${++step}`;
      if (m.step !== step) fail(w, `'step' must be ${step} (steps come in order from 1)`);
      if (step > total) fail(w, `the start message plans ${total} steps, not more`);
      if (!isInt(m.block, 0, spans.length - 1)) fail(w, `'block' must be from 0 to ${spans.length - 1}`);
      if (!isInt(m.forward_passes, 1)) fail(w, "'forward_passes' must be a whole number, 1 or more");
      if (typeof m.elapsed !== "number" || !Number.isFinite(m.elapsed) || m.elapsed < 0) {
        fail(w, "'elapsed' must be a finite number of seconds, 0 or more");
      }
      const committed = ints(m, "committed", w, 0, n - 1);
      if (new Set(committed).size !== committed.length || !committed.every((p) => masked[p])) {
        fail(w, "'committed' must list positions still masked, each once");
      }
      if (ints(m, "tokens", w).length !== committed.length) fail(w, "'tokens' must give one id per committed position");
      for (const p of committed) masked[p] = 0;
      left -= committed.length;
      if (ints(m, "guesses", w).length !== left) fail(w, `'guesses' must give one id per position still masked (${left})`);
      let bytes = -1;
      try { bytes = typeof m.confidence === "string" ? atob(m.confidence).length : -1; } catch (e) { bytes = -1; }
      if (bytes !== n) fail(w, `'confidence' must be base64 of one byte per canvas position (${n})`);
      texts(m, w);
    }
    return {steps: step, ended};
  }

  /* ---- the run ------------------------------------------------------------------------------ */
  class Run {
    constructor(start) {
      this.start = start;
      this.texts = new Map();
      this.addTexts(start.texts);
      this.n = start.initial.length;
      this.mask = start.mask_id;
      this.total = start.steps_per_block.reduce((a, b) => a + b, 0);
      this.blockStarts = start.block_spans.map((s) => s[0]);
      this.stopIds = new Set(start.stop_ids || []);
      // confidence bytes: version 2, p * 254 and 255 for "no prediction"; version 1, p * 255
      this.scale = (start.version || 1) >= 2 ? 254 : 255;
      this.none = this.scale === 254 ? 255 : -1;
      const blocks = start.block_spans.map((s) => s[1] - s[0]);
      this.boundaries = Math.min(...blocks) >= 2;  // blocks of one token: no boundary at every cell
      this.records = [];
      this.end = null;
      const n = this.n;
      this.commitStep = new Int32Array(n);  // after the last record: 0 given, -1 masked, k committed at k
      this.commitToken = Int32Array.from(start.initial);
      this.commitConf = new Uint8Array(n);  // the byte a cell was committed with (given cells: none)
      for (let i = 0; i < n; i++) this.commitStep[i] = start.initial[i] !== this.mask ? 0 : -1;
    }
    addTexts(texts) {
      for (const id in texts || {}) this.texts.set(Number(id), texts[id]);
    }
    text(id) {
      const t = this.texts.get(id);
      return t === undefined ? `#${id}` : t;
    }
    add(m) {
      this.addTexts(m.texts);
      const r = {step: m.step, block: m.block, forward_passes: m.forward_passes, elapsed: m.elapsed,
                 committed: m.committed, tokens: m.tokens, guesses: m.guesses, conf: base64Bytes(m.confidence)};
      this.records.push(r);
      for (let j = 0; j < r.committed.length; j++) {
        const i = r.committed[j];
        this.commitStep[i] = r.step;
        this.commitToken[i] = r.tokens[j];
        this.commitConf[i] = r.conf[i];
      }
    }
    get done() { return this.records.length; }
    /* A confidence byte as a probability; NaN where the step predicted nothing. */
    probability(byte) { return byte === this.none ? NaN : byte / this.scale; }
    /* Where the canvas's trailing end-of-text tokens start at step k (given, committed, or the guess under
     * a mask when `guesses`), or n if there are none. */
    tail(v, guesses) {
      let t = this.n;
      while (t > 0 && this.stopIds.has(v.masked[t - 1] ? (guesses ? v.guess[t - 1] : -1) : v.token(t - 1))) t--;
      return t;
    }
    /* The canvas at step k (0..done): what trace.Trajectory.view(k) gives on the server. */
    view(k) {
      k = Math.max(0, Math.min(k, this.done));
      const n = this.n, masked = new Uint8Array(n), commit = new Int32Array(n), guess = new Int32Array(n);
      const conf = new Float32Array(n);
      const rec = k > 0 ? this.records[k - 1] : null;
      let g = 0;
      for (let i = 0; i < n; i++) {
        const c = this.commitStep[i] > k ? -1 : this.commitStep[i];
        commit[i] = c;
        if (c < 0) {
          masked[i] = 1;
          guess[i] = rec ? rec.guesses[g++] : this.mask;
          conf[i] = rec ? this.probability(rec.conf[i]) : NaN;
        } else {
          guess[i] = this.mask;
          conf[i] = commit[i] === 0 ? NaN : this.probability(this.commitConf[i]);
        }
      }
      return {step: k, block: rec ? rec.block : 0, masked, commit, guess, conf,
              token: (i) => (commit[i] < 0 ? this.mask : this.commitToken[i])};
    }
    /* Answer tokens before the first EOS/EoT that are committed at step k: what tokens/s counts. */
    useful(k) {
      let count = 0;
      for (let i = 0; i < this.n; i++) {
        const c = this.commitStep[i] > k ? -1 : this.commitStep[i];
        if (c >= 0 && this.stopIds.has(this.commitToken[i])) break;
        if (c >= 0) count++;
      }
      return count;
    }
    status(k, state) {
      if (k === 0 && !this.done) return state === "running" ? "waiting for the first step\u2026" : "";
      const r = this.records[k - 1] || this.records[this.done - 1];
      const rate = r.elapsed > 0 ? this.useful(this.done) / r.elapsed : 0;
      const blocks = this.start.block_spans.length;
      const settings = this.start.settings || {};
      const early = state === "done" && this.done < this.total && settings.stop_at_eos ? " \u00b7 stopped at EOS" : "";
      return `${state} \u00b7 step ${this.done}/${this.total} \u00b7 block ${r.block + 1}/${blocks} \u00b7 ` +
             `${r.forward_passes} forward passes \u00b7 ${r.elapsed.toFixed(2)} s \u00b7 ${rate.toFixed(1)} tokens/s (to EOS)` +
             early;
    }
  }

  /* ---- DOM helpers --------------------------------------------------------------------------- */
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

  /* ---- live view: status, grid, replay ------------------------------------------------------- */
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
      this.replay.addEventListener("input", () => {
        this.stopPlay();
        const k = Number(this.replay.value);
        this.scrub(k);
        for (const other of this.linked) if (other.run && other.state !== "running") other.scrub(Math.min(k, other.run.done));
      });
      this.play.addEventListener("click", () => (this.timer ? this.stopPlay() : this.startPlay()));
      this.run = null;
      this.charts = [];
      this.showGuesses = true;
      this.state = "idle";
      this.runId = null;
      this.fetchMissing = null;
    }
    /* A payload from the server: {run, first, messages}, `first` being the index of its first message
     * in the run. Messages this view missed (it mounted after the run began, or a value was dropped on
     * the way) are asked for with fetchMissing(run, start, end) -> Promise of messages, set by the page. */
    receive(payload) {
      if (!payload || !payload.messages) return;
      if (payload.run !== this.runId) { this.runId = payload.run; this.applied = 0; this.backlog = []; this.fetching = false; }
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
      else if (m.type === "end" && this.run) this.finish(m);
    }
    begin(start) {
      this.stopPlay();
      this.run = new Run(start);
      this.state = "running";
      this.drawn = null;  // what each cell shows now (buildCells)
      this.lastDrawn = 0;
      this.lastGrid = 0;
      this.buildCells();
      this.replay.disabled = true;
      this.play.disabled = true;
      this.replay.max = 0; this.replay.value = 0; this.replayOut.textContent = "0";
      this.caption.textContent = "";
      this.statusEl.textContent = this.run.status(0, "running");
      for (const c of this.charts) c.begin(this.run);
      this.request();
    }
    finish(end) {
      this.run.end = end;
      this.state = end.state;
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
      if (file.size > MAX_RUN_BYTES) { refuse(`larger than ${MAX_RUN_BYTES / 1048576} MB`); return; }
      if (this.state === "running") { refuse("a run is streaming here; open the file when it has ended"); return; }
      file.text().then((text) => {
        let doc;
        try { doc = JSON.parse(text); } catch (e) { throw new Error("not JSON"); }
        checkRun(doc);
        this.runId = null;
        this.load(doc.messages);
        this.drawLive(true);  // the run as it ended (and the after-run charts), then the replay at its last step
        this.scrub(this.run.done);
        this.fillOpened();
      }).catch((e) => refuse(e.message));
    }
    /* An opened run's prompt and answer in the page's textboxes (options.opened: {prompt, answer} ids). */
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
    /* The grid, the heatmap's new rows and the status together, at most GRID_INTERVAL apart while a run
     * streams (`force`: now), at once when it ends or stops. Cells committed since the last drawn grid
     * are outlined. */
    drawLive(force = false) {
      if (!this.run || this.replaying) return;
      const k = this.run.done, now = performance.now(), running = this.state === "running";
      if (running && !force && now - this.lastGrid < GRID_INTERVAL) {
        if (!this.gridTimer) {
          this.gridTimer = setTimeout(() => { this.gridTimer = null; this.request(); }, GRID_INTERVAL - (now - this.lastGrid));
        }
        return;
      }
      this.drawGrid(k, this.lastDrawn);
      this.lastDrawn = k;
      this.lastGrid = now;
      for (const c of this.charts) c.update(this.run, !running);
      this.statusEl.textContent = this.run.status(k, this.state);
    }
    scrub(k) {
      if (!this.run) return;
      this.replaying = true;
      this.replay.value = k;
      this.replayOut.textContent = String(k);
      this.caption.textContent = `replay \u00b7 step ${k}/${this.run.done}`;
      if (this.state !== "running") this.statusEl.textContent = this.run.status(this.run.done, this.state);
      this.drawGrid(k, k - 1);
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
      this.showGuesses = !!on;
      if (!this.run) return;
      const replaying = this.replaying;
      this.buildCells();
      if (replaying) this.scrub(Number(this.replay.value));
      else this.drawLive();
    }
    buildCells() {
      const run = this.run, box = this.cellsEl;
      box.textContent = "";
      const prompt = run.start.prompt, hidden = Math.max(0, prompt.length - PROMPT_CELLS_SHOWN);
      if (hidden) {
        const more = el("span", "ld-cell ld-prompt ld-more", box, "\u2026");
        more.title = `${hidden} earlier prompt tokens`;
      }
      for (const id of prompt.slice(hidden)) {
        const c = el("span", "ld-cell ld-prompt", box, shown(run.text(id)));
        c.title = `prompt \u00b7 id ${id}`;
      }
      if (prompt.length) el("span", "ld-sep", box).setAttribute("aria-hidden", "true");
      this.cells = [];
      const starts = new Set(run.boundaries ? run.blockStarts : []);
      for (let i = 0; i < run.n; i++) {
        const c = el("span", "ld-cell", box);
        c.dataset.pos = i;
        c._starts = starts.has(i) && i > 0;
        this.cells.push(c);
      }
      // the answer's trailing end-of-text cells, drawn as one cell that says how many (a click shows them)
      this.tailCell = el("button", "ld-cell ld-tail", box);
      this.tailCell.type = "button";
      this.tailCell.style.display = "none";
      this.tailCell.addEventListener("click", () => { this.tailOpen = !this.tailOpen; this.tailAt = -1; this.redraw(); });
      this.tailAt = -1;  // where the collapsed tail starts now (run.n: none)
      this.drawn = new Int32Array(4 * run.n).fill(-2);  // what each cell shows (drawGrid); -2: nothing yet
      this.replaying = false;
    }
    redraw() {
      if (this.replaying) this.scrub(Number(this.replay.value));
      else this.drawLive(true);
    }
    /* Cells from `t` on are the trailing end-of-text: hidden behind the tail cell unless it is open
     * (drawGrid hides the cells from this.tailAt on). */
    drawTail(t) {
      const n = this.run.n, long = n - t >= TAIL_MIN, at = long && !this.tailOpen ? t : n;
      if (at === this.tailAt && this.tailCell._count === n - t) return;
      this.tailCell.style.display = long ? "" : "none";
      this.tailCell._count = n - t;
      if (long) {
        this.cellsEl.insertBefore(this.tailCell, this.tailOpen ? null : this.cells[t]);
        this.tailCell.textContent = this.tailOpen ? "\u25c2 fold the end of text" : `end of text \u00d7 ${n - t}`;
        this.tailCell.title = this.tailOpen ? "show the trailing end-of-text tokens as one cell" :
          `${n - t} end-of-text tokens, committed or guessed, end the answer: click to show them`;
      }
      this.tailAt = at;
    }
    /* Draw step k; cells committed after step `since` are outlined. Only changed cells are touched: what
     * each cell shows is kept as four numbers (flags, token id, confidence byte, commit step), and its
     * strings are built only when one of them changes (building them for every cell to compare them made
     * more garbage and slower scrubs: bench/bench_browser.py, 512x512 scrub). */
    drawGrid(k, since) {
      const run = this.run, v = run.view(k), d = this.drawn;
      this.drawTail(run.tail(v, this.showGuesses));
      const spans = run.start.block_spans, active = spans[v.block];
      const running = k < run.total && !(this.state !== "running" && k === run.done && !this.replaying);
      for (let i = 0; i < run.n; i++) {
        const masked = v.masked[i] === 1, c = v.commit[i], conf = v.conf[i];
        const id = masked ? v.guess[i] : v.token(i);
        const flags = (masked ? MASKED : 0) | (running && k > 0 && i >= active[0] && i < active[1] ? ACTIVE : 0)
                      | (!masked && c > since && c > 0 ? NEW : 0) | (masked && this.showGuesses ? GUESS : 0)
                      | (i >= this.tailAt ? HIDDEN : 0);
        const byte = Number.isFinite(conf) ? Math.round(conf * 254) : -1, o = 4 * i;
        if (d[o] === flags && d[o + 1] === id && d[o + 2] === byte && d[o + 3] === c) continue;
        d[o] = flags; d[o + 1] = id; d[o + 2] = byte; d[o + 3] = c;
        const cell = this.cells[i];
        let cls = "ld-cell", text = "", title, style = "", guess = null;
        if (cell._starts) cls += " ld-block-start";
        if (flags & ACTIVE) cls += " ld-active";
        if (flags & HIDDEN) cls += " ld-hidden";
        const confTxt = Number.isFinite(conf) ? `confidence ${conf.toFixed(3)}` : "no prediction";
        if (masked) {
          cls += " ld-mask";
          title = "masked";
          if (k > 0 && id !== run.mask) {
            title += ` \u00b7 model's guess ${quoted(run.text(id))} (id ${id}, ${confTxt})`;
            if (this.showGuesses) guess = shown(run.text(id));
          }
        } else if (c === 0) {  // given before the run (fixed tokens, infill's text): not predicted
          cls += " ld-prompt ld-given";
          text = shown(run.text(id));
          title = `${quoted(run.text(id))} \u00b7 id ${id} \u00b7 given`;
        } else {
          if (flags & NEW) cls += " ld-new";
          const rgb = confidenceRgb(conf);
          style = `background:rgb(${rgb.join(",")});color:${textColour(rgb)}`;
          text = shown(run.text(id));
          title = `${quoted(run.text(id))} \u00b7 id ${id} \u00b7 ${confTxt} \u00b7 committed at step ${c}`;
        }
        cell.className = cls;
        cell.title = title;
        cell.setAttribute("style", style);
        if (guess !== null) {
          cell.textContent = "";
          el("span", "ld-guess", cell, guess);
        } else {
          cell.textContent = text;
        }
      }
    }
  }

  /* ---- charts: heatmap while running, order map and per-step chart after ------------------ */
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
   * heatmap re-renders every cell on every update (1.5 s of the page's CPU per 128-step run, 265 ms tasks
   * at 512 x 512), and the first heatmap with data on a page took a ~110 ms task. */
  class CellPlot {
    constructor(div) {
      this.div = div;
      this.canvas = null;
      this.text = () => null;
    }
    /* Axes for columns x rows cells (row 0 on top), each px canvas pixels square; with px 0 the axes
     * alone. A plot already there is updated in place (Plotly.react, ~20 ms against ~30 for a new one).
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

  const whenIdle = (f) => (window.requestIdleCallback ? requestIdleCallback(f, {timeout: 2000}) : setTimeout(f, 200));

  /* Once per page, while it is idle: the after-run charts of a two-token run drawn once off screen, by
   * the code that draws them after a run, then removed. The first plot of a kind on a page costs 2-3x
   * a later one (a 512-token run's unmask-order map took a 103 ms task at the run's end, a later one
   * 30-45 ms). */
  function warmAfterRunCharts() {
    if (warmAfterRunCharts.done || !window.Plotly) return;
    warmAfterRunCharts.done = true;
    const box = el("div", null, document.body);
    Object.assign(box.style, {position: "absolute", left: "-10000px", top: "0", width: "900px"});
    box.setAttribute("aria-hidden", "true");
    const run = new Run({texts: {}, initial: [0, 1], mask_id: 1, steps_per_block: [1], block_spans: [[1, 2]]});
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
      // empty axes as soon as the page is idle: the first Plotly plot of a page costs ~3x a later one
      // (76 against 25 ms in headless Chromium; a 103 ms task at the start of a 512 x 512 run)
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
      this.order.clear();
      if (this.plotly) this.plotly.purge(this.progress);
      this.progress.textContent = "";
      // the axes in a task of their own: with the grid's cells built in the same task, the first frame
      // of a 512-token run took one ~100 ms task (bench/bench_browser.py, long tasks)
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
        if (run.boundaries) for (const b of run.blockStarts) if (b > 0) ctx.fillRect(b * c - 1, y, 1, c);
      }
      if (final && !this.finished && run.end && !this.only) {
        // later tasks, each its own: the final grid and status paint first, and no single long task
        this.finished = true;
        setTimeout(() => { if (run === this.run) this.orderChart(run); }, 30);
        setTimeout(() => { if (run === this.run) this.progressChart(run); }, 60);
      }
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
        // was an 80 ms task, 30 ms of it loading the bar code)
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

  /* ---- the forward process: a text masked at ratio t, and the model's one-pass reconstruction ---- */
  class ForwardView {
    constructor(root) {
      root.textContent = "";
      this.summary = el("div", "ld-status", root);
      this.summary.id = "ld-forward-status";
      this.cells = el("div", "ld-grid ld-cells", root);
      this.cells.id = "ld-forward-grid";
      this.chart = el("div", "ld-chart", root);
      this.chart.id = "ld-forward-chart";
      el("div", "ld-empty", this.cells, "Open this tab or move the slider to mask a text.");
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
  class LikelihoodView {
    constructor(root) {
      root.textContent = "";
      this.summary = el("div", "ld-status", root);
      this.summary.id = "ld-likelihood-status";
      this.chart = el("div", "ld-chart", root);
      this.chart.id = "ld-likelihood-chart";
      this.ranking = el("ol", "ld-ranking", root);
      this.ranking.id = "ld-ranking";
      this.cards = el("div", "ld-caption", root);
      this.cards.id = "ld-likelihood-cards";
      el("div", "ld-empty", this.chart, "Press Score to estimate each answer's likelihood.");
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

  /* ---- wiring ------------------------------------------------------------------------------- */
  // One live view per page; charts placed elsewhere on the page find it through here.
  const registry = {live: null, charts: [], links: {}};
  /* The page's live view (registered; the charts of the page draw its run), or with options.prefix
   * another one (Compare's A and B), which draws only its own heatmap, in the element options.charts
   * if given; options.link scrubs it with the views mounted with the same link name. */
  function mountLive(root, options = {}) {
    const live = new Live(root, options);
    if (!options.prefix) {
      registry.live = live;
      live.charts = registry.charts;
    } else if (options.charts) {
      live.charts = [new Charts(options.charts, {prefix: options.prefix, heatmapOnly: true, height: 240})];
    }
    if (options.link) {
      const group = (registry.links[options.link] = registry.links[options.link] || []);
      for (const other of group) { other.linked.push(live); live.linked.push(other); }
      group.push(live);
    }
    return live;
  }
  function mountCharts(root) {
    const charts = new Charts(root);
    registry.charts.push(charts);
    return charts;
  }
  /* A standalone page: the whole run is in the page. */
  function standalone(liveRoot, chartsRoot, messages) {
    const live = new Live(liveRoot);
    live.charts = [new Charts(chartsRoot)];
    live.load(messages);
    return live;
  }

  const mountForward = (root) => new ForwardView(root);
  const mountLikelihood = (root) => new LikelihoodView(root);
  window.LladaView = {Run, Live, Charts, ForwardView, LikelihoodView, mountLive, mountCharts, mountForward,
                      mountLikelihood, standalone, registry, shown, checkRun};
})();
