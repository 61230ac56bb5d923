/* A run as the browser keeps it (the mirror of trace.Trajectory: the state at any step), and the check
 * of a run file before anything is drawn from it. */
(function (L) {
  "use strict";
  const {base64Bytes} = L.util;

  /* ---- run files: checked whole before anything is drawn ----------------------------------------- */
  // The limits of trace/wire.py (MAX_RUN_BYTES, MAX_CANVAS, MAX_PROMPT, MAX_ID; a test checks they agree),
  // and the same checks as its decode_run: a file that fails any of them leaves the run on screen as it was.
  const MAX_RUN_BYTES = 20 * 1048576, MAX_CANVAS = 4096, MAX_PROMPT = 8192, MAX_ID = 2147483647;

  /* An edit message, as trace/wire.py's check_edit: positions the run fills, each once; a remasked one
   * committed. Updates `masked`; returns the change in the number of masks. */
  function checkEdit(m, step, masked, fills, n) {
    const w = `edit message at step ${step}`, isInt = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
    if (m.step !== step) throw new Error(`${w}: 'step' must be ${step}, the last step before it`);
    const set = m.set === undefined ? [] : m.set, remask = m.remask === undefined ? [] : m.remask;
    if (!Array.isArray(set) || !set.every((x) => Array.isArray(x) && x.length === 2 && isInt(x[0], 0, n - 1) &&
                                             isInt(x[1], 0, MAX_ID))) {
      throw new Error(`${w}: 'set' must be a list of [position, token id], positions from 0 to ${n - 1}`);
    }
    if (!Array.isArray(remask) || remask.length > MAX_CANVAS || !remask.every((p) => isInt(p, 0, n - 1))) {
      throw new Error(`${w}: 'remask' must be a list of at most ${MAX_CANVAS} whole numbers from 0 to ${n - 1}`);
    }
    const positions = [...set.map((x) => x[0]), ...remask];
    if (new Set(positions).size !== positions.length || !positions.every((p) => fills[p])) {
      throw new Error(`${w}: an edit may change each position the run fills once`);
    }
    if (remask.some((p) => masked[p])) throw new Error(`${w}: 'remask' must list committed positions`);
    let change = 0;
    for (const [p] of set) { change -= masked[p]; masked[p] = 0; }
    for (const p of remask) { masked[p] = 1; change++; }
    return change;
  }

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
    if (![1, 2, 3].includes(doc.version)) {
      fail("run file", `llada-demo-run version ${JSON.stringify(doc.version)}; this page reads versions 1, 2, 3`);
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
    const masked = Uint8Array.from(s.initial, (t) => (t === s.mask_id ? 1 : 0)), fills = masked.slice();
    let left = masked.reduce((a, b) => a + b, 0), step = 0, ended = false;
    for (let i = 1; i < ms.length; i++) {
      const m = ms[i];
      if (m.type === "end") {
        if (i !== ms.length - 1) fail("run file", "the end message must be the last");
        ended = true;
        if ((m.state !== "done" && m.state !== "stopped") || (m.answer !== undefined && typeof m.answer !== "string")) {
          fail("end message", "'state' must be done or stopped, 'answer' a string");
        }
        continue;
      }
      if (m.type === "edit" && doc.version >= 3) {
        if (ended) fail("run file", "an edit after the end message");
        left += checkEdit(m, step, masked, fills, n);
        continue;
      }
      if (m.type !== "step") {
        fail(`message ${i}`, `type ${JSON.stringify(m.type)}; after the start come steps (and edits), then one end`);
      }
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
  const BY_HAND = -1;  // the commit "confidence" of a cell set by hand: the model did not choose it

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
      // confidence bytes: version 2 on, p * 254 and 255 for "no prediction"; version 1, p * 255
      this.scale = (start.version || 1) >= 2 ? 254 : 255;
      this.none = this.scale === 254 ? 255 : -1;
      const blocks = start.block_spans.map((s) => s[1] - s[0]);
      this.boundaries = Math.min(...blocks) >= 2;  // blocks of one token: no boundary at every cell
      this.messages = [start];  // as received: a run file of this run up to any step is a prefix of them
      this.records = [];
      this.edits = [];  // a branch's: [{step, set, remask}], each after the record of its step
      this.before = new Map();  // an edited cell's states before each edit: [[edit step, token, commit, conf]]
      this.end = null;
      const n = this.n;
      this.commitStep = new Int32Array(n);  // after the last record: 0 given, -1 masked, k committed at k
      this.commitToken = Int32Array.from(start.initial);
      this.commitConf = new Int16Array(n);  // the byte a cell was committed with (BY_HAND: set by hand)
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
      this.messages.push(m);
      this.addTexts(m.texts);
      this.addRecord({step: m.step, block: m.block, forward_passes: m.forward_passes, elapsed: m.elapsed,
                      committed: m.committed, tokens: m.tokens, guesses: m.guesses, conf: base64Bytes(m.confidence)});
    }
    addRecord(r) {
      this.records.push(r);
      for (let j = 0; j < r.committed.length; j++) {
        const i = r.committed[j];
        this.commitStep[i] = r.step;
        this.commitToken[i] = r.tokens[j];
        this.commitConf[i] = r.conf[i];
      }
    }
    /* An edit message (a branch's start): cells set by hand, committed at its step; cells masked again. */
    edit(m) {
      this.messages.push(m);
      this.addTexts(m.texts);
      const e = {step: m.step, set: m.set || [], remask: m.remask || []};
      for (const i of [...e.set.map((x) => x[0]), ...e.remask]) {
        if (!this.before.has(i)) this.before.set(i, []);
        this.before.get(i).push([e.step, this.commitToken[i], this.commitStep[i], this.commitConf[i]]);
      }
      for (const [i, token] of e.set) { this.commitToken[i] = token; this.commitStep[i] = e.step; this.commitConf[i] = BY_HAND; }
      for (const i of e.remask) { this.commitToken[i] = this.mask; this.commitStep[i] = -1; this.commitConf[i] = 0; }
      this.edits.push(e);
    }
    get done() { return this.records.length; }
    get branchedAt() { return this.edits.length ? this.edits[0].step : null; }
    /* This run up to step k (its records and the edits before k): where a branch from step k starts (its
     * own edit at k, sent by the server, takes in one made here at k before). */
    clone(k) {
      const out = new Run(this.start);
      out.texts = new Map(this.texts);
      for (const m of this.messages.slice(1)) {
        if (m.type === "step" && m.step <= k) { out.addRecord(this.records[m.step - 1]); out.messages.push(m); }
        else if (m.type === "edit" && m.step < k) out.edit(m);  // (kept in its messages too)
      }
      out.parent = this;
      return out;
    }
    /* The run file of this run up to step k (what the server reads to inspect or continue it). */
    document(k) {
      const upto = this.messages.filter((m) => m.type === "start" || (m.type === "step" && m.step <= k) ||
                                               (m.type === "edit" && m.step <= k));
      return {format: "llada-demo-run", version: 3, messages: upto};
    }
    /* A confidence byte as a probability; NaN where the step predicted nothing. */
    probability(byte) { return byte === this.none ? NaN : byte / this.scale; }
    /* Where the canvas's trailing end-of-text tokens start at step k (given, committed, or the guess under
     * a mask when `guesses`), or n if there are none. */
    tail(v, guesses) {
      let t = this.n;
      while (t > 0 && this.stopIds.has(v.masked[t - 1] ? (guesses ? v.guess[t - 1] : -1) : v.token(t - 1))) t--;
      return t;
    }
    /* Cell i's [token, commit step, commit byte] at step k, with the edits made at k or not (an edited cell
     * is taken back to before its first edit after k). */
    cellAt(i, k, withEditsAtK) {
      const states = this.before.get(i);
      if (states) {
        for (const [step, token, c, conf] of states) {
          if (step > k || (step === k && !withEditsAtK)) return [token, c, conf];
        }
      }
      return [this.commitToken[i], this.commitStep[i], this.commitConf[i]];
    }
    /* The canvas at step k (0..done; a branch's edits at k included): what trace.Trajectory.view(k) gives
     * on the server. */
    view(k) {
      k = Math.max(0, Math.min(k, this.done));
      const n = this.n, masked = new Uint8Array(n), commit = new Int32Array(n), guess = new Int32Array(n);
      const conf = new Float32Array(n), token = new Int32Array(n), hand = new Uint8Array(n);
      const rec = k > 0 ? this.records[k - 1] : null;
      let g = 0;
      for (let i = 0; i < n; i++) {
        let t = this.commitToken[i], c = this.commitStep[i], byte = this.commitConf[i], seen = c;
        if (this.before.has(i)) {
          [t, c, byte] = this.cellAt(i, k, true);
          seen = this.cellAt(i, k, false)[1];  // as the record's guesses saw it (before the edits at k)
        }
        c = c > k ? -1 : c;
        const g0 = (seen > k ? -1 : seen) < 0 && rec ? rec.guesses[g++] : this.mask;
        commit[i] = c;
        token[i] = c < 0 ? this.mask : t;
        if (c < 0) {
          masked[i] = 1;
          guess[i] = g0;
          conf[i] = rec ? this.probability(rec.conf[i]) : NaN;
        } else {
          guess[i] = this.mask;
          hand[i] = c > 0 && byte === BY_HAND ? 1 : 0;
          conf[i] = c === 0 || hand[i] ? NaN : this.probability(byte);
        }
      }
      return {step: k, block: rec ? rec.block : 0, masked, commit, guess, conf, token: (i) => token[i],
              byHand: (i) => hand[i] === 1};
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
      const branch = this.branchedAt === null ? "" : ` \u00b7 a branch from step ${this.branchedAt}`;
      return `${state} \u00b7 step ${this.done}/${this.total} \u00b7 block ${r.block + 1}/${blocks} \u00b7 ` +
             `${r.forward_passes} forward passes \u00b7 ${r.elapsed.toFixed(2)} s \u00b7 ${rate.toFixed(1)} tokens/s (to EOS)` +
             early + branch;
    }
  }

  Object.assign(L, {Run, checkRun, MAX_RUN_BYTES});
})(window.LladaView = window.LladaView || {});
