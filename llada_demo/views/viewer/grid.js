/* The token grid of a run: the prompt dimmed, a cell per canvas position, drawn at any step. */
(function (L) {
  "use strict";
  const {el, shown, quoted, confidenceRgb, textColour} = L.util;
  const PROMPT_CELLS_SHOWN = 48;
  const TAIL_MIN = 4;  // trailing end-of-text cells drawn as one cell from this many on
  // what a cell shows, as bits of Grid.draw's flags
  const MASKED = 1, ACTIVE = 2, NEW = 4, GUESS = 8, HIDDEN = 16, BY_HAND = 32, PENDING = 64, SELECTED = 128;

  class Grid {
    /* In `box` (an .ld-cells element); `redraw` is called when the folded end of text opens or closes. */
    constructor(box, redraw) {
      this.box = box;
      this.redraw = redraw;
      this.showGuesses = true;
      this.tailOpen = false;
      this.pending = new Set();  // cells with an edit not yet sent (inspect.js)
      this.selected = null;  // the cell inspected (inspect.js)
      this.shown = null;  // [run, view] last drawn: a masked cell's tooltip is made when it is hovered
      box.addEventListener("mouseover", (e) => {
        const cell = e.target.closest && e.target.closest(".ld-cell.ld-mask[data-pos]");
        if (cell && this.shown) cell.title = this.maskTitle(...this.shown, Number(cell.dataset.pos));
      });
    }
    /* A masked cell's tooltip: the model's guess there at the step shown, and its confidence. */
    maskTitle(run, v, i) {
      const id = v.guess[i], conf = v.conf[i];
      if (v.step === 0 || id === run.mask) return "masked";
      const confTxt = Number.isFinite(conf) ? `confidence ${conf.toFixed(3)}` : "no prediction";
      return `masked \u00b7 model's guess ${quoted(run.text(id))} (id ${id}, ${confTxt})`;
    }
    /* The cells of `run`, blank until drawn. */
    build(run) {
      const box = this.box;
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
      // the canvas's trailing end-of-text cells, drawn as one cell that says how many (a click shows them)
      this.tailCell = el("button", "ld-cell ld-tail", box);
      this.tailCell.type = "button";
      this.tailCell.style.display = "none";
      this.tailCell.addEventListener("click", () => { this.tailOpen = !this.tailOpen; this.tailAt = -1; this.redraw(); });
      this.tailAt = -1;  // where the folded tail starts now (run.n: none)
      this.drawn = new Int32Array(4 * run.n).fill(-2);  // what each cell shows (draw); -2: nothing yet
    }
    /* Cells from `t` on are the trailing end-of-text: hidden behind the tail cell unless it is open. */
    drawTail(n, t) {
      const long = n - t >= TAIL_MIN, at = long && !this.tailOpen ? t : n;
      if (at === this.tailAt && this.tailCell._count === n - t) return;
      this.tailCell.style.display = long ? "" : "none";
      this.tailCell._count = n - t;
      if (long) {
        this.box.insertBefore(this.tailCell, this.tailOpen ? null : this.cells[t]);
        this.tailCell.textContent = this.tailOpen ? "\u25c2 fold the end of text" : `end of text \u00d7 ${n - t}`;
        this.tailCell.title = this.tailOpen ? "show the trailing end-of-text tokens as one cell" :
          `${n - t} end-of-text tokens, committed or guessed, end the answer: click to show them`;
      }
      this.tailAt = at;
    }
    /* `run` at step k; cells committed after step `since` are outlined; `running`: the active block is
     * underlined. Only changed cells are touched: what each cell shows is kept as four numbers (flags,
     * token id, confidence byte, commit step), and its strings are built only when one of them changes
     * (building them for every cell to compare them made more garbage and slower scrubs). A masked cell's
     * confidence changes at every step but shows only in its tooltip, made when it is hovered: so a
     * masked cell is touched only when its guess changes (each touch costs the page a layout and paint). */
    draw(run, k, since, running) {
      const v = run.view(k), d = this.drawn, active = run.start.block_spans[v.block];
      this.shown = [run, v];
      this.drawTail(run.n, run.tail(v, this.showGuesses));
      for (let i = 0; i < run.n; i++) {
        const masked = v.masked[i] === 1, c = v.commit[i], conf = v.conf[i];
        const id = masked ? v.guess[i] : v.token(i);
        const flags = (masked ? MASKED : 0) | (running && k > 0 && i >= active[0] && i < active[1] ? ACTIVE : 0)
                      | (!masked && c > since && c > 0 ? NEW : 0) | (masked && this.showGuesses ? GUESS : 0)
                      | (i >= this.tailAt ? HIDDEN : 0) | (!masked && c > 0 && v.byHand(i) ? BY_HAND : 0)
                      | (this.pending.has(i) ? PENDING : 0) | (i === this.selected ? SELECTED : 0);
        const byte = Number.isFinite(conf) && !masked ? Math.round(conf * 254) : -1, o = 4 * i;
        if (d[o] === flags && d[o + 1] === id && d[o + 2] === byte && d[o + 3] === c) continue;
        d[o] = flags; d[o + 1] = id; d[o + 2] = byte; d[o + 3] = c;
        this.drawCell(run, this.cells[i], flags, id, conf, c, k);
      }
    }
    drawCell(run, cell, flags, id, conf, c, k) {
      let cls = "ld-cell", text = "", title, style = "", guess = null;
      if (cell._starts) cls += " ld-block-start";
      if (flags & ACTIVE) cls += " ld-active";
      if (flags & HIDDEN) cls += " ld-hidden";
      if (flags & PENDING) cls += " ld-pending";
      if (flags & SELECTED) cls += " ld-selected";
      const confTxt = Number.isFinite(conf) ? `confidence ${conf.toFixed(3)}` : "no prediction";
      if (flags & MASKED) {
        cls += " ld-mask";
        title = "";  // (made when hovered: maskTitle)
        if (k > 0 && id !== run.mask && flags & GUESS) guess = shown(run.text(id));
      } else if (c === 0) {  // given before the run (fixed tokens, infill's text): not predicted
        cls += " ld-prompt ld-given";
        text = shown(run.text(id));
        title = `${quoted(run.text(id))} \u00b7 id ${id} \u00b7 given`;
      } else if (flags & BY_HAND) {  // set by hand (a branch's edit): not the model's choice
        cls += " ld-edited";
        text = shown(run.text(id));
        title = `${quoted(run.text(id))} \u00b7 id ${id} \u00b7 set by hand at step ${c}`;
      } else {
        if (flags & NEW) cls += " ld-new";
        const rgb = confidenceRgb(conf);
        style = `background:rgb(${rgb.join(",")});color:${textColour(rgb)}`;
        text = shown(run.text(id));
        title = `${quoted(run.text(id))} \u00b7 id ${id} \u00b7 ${confTxt} \u00b7 committed at step ${c}`;
      }
      if (guess !== null) { cls += " ld-guess"; text = guess; }  // (the cell's own text: no element to make)
      cell.className = cls;
      cell.title = title;
      cell.setAttribute("style", style);
      cell.textContent = text;
    }
  }

  L.Grid = Grid;
})(window.LladaView = window.LladaView || {});
