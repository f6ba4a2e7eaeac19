/* s2s attention explorer.
 * Plain JS, no libraries, no network: everything it shows comes from the JSON document
 * embedded in the page (format "s2s-attention/1"). */
(() => {
  "use strict";

  const FORMAT = "s2s-attention/1";
  const SCALE = 10000; // a Map stores round(weight * 10000) as little-endian uint16
  const SVG_NS = "http://www.w3.org/2000/svg";
  const KIND_NAMES = {
    cross: "cross-attention",
    encoder: "encoder self-attention",
    decoder: "decoder self-attention",
  };
  const CAPTIONS = {
    cross: "Each output word (row) attends to the source words (columns).",
    encoder: "Each source word (row) attends to the source words (columns).",
    decoder: "While writing each output word (row), the decoder looks back at <s> and the words it wrote before (columns).",
  };
  const HINT = "Point at a cell, or point at or focus a word.";
  // What a run panel's grid shows when the document holds attribution (--attribution).
  const VIEWS = [
    ["attention", "attention"],
    ["attribution", "attribution"],
    ["both", "both side by side"],
    ["difference", "difference"],
  ];
  const METHOD_NAMES = { grad: "gradient × input", ig: "integrated gradients", occlusion: "occlusion" };
  const VIEW_CAPTIONS = {
    attribution: "What each source word (column) contributed to each output word's log-probability (row): "
      + "red raised it, blue lowered it; the scale is symmetric around 0, as wide as the largest |score|.",
    difference: "Attention minus |attribution| normalised to sum to 1 in each row: red where the decoder looked "
      + "more than the word mattered, blue where a word mattered more than attention says.",
    prefix: "Attention along the search path to the node picked in the beam tree: one row per step of that prefix.",
  };
  // ColorBrewer's RdBu reversed (matplotlib's RdBu_r, as --attribution pictures use): blue < 0 < red.
  const DIVERGING = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b"];
  const DIVERGING_STOPS = DIVERGING.map((hex) => [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16)));
  // Matplotlib's "Blues" on a fixed 0-1 scale; the legend in explorer.css uses the same stops.
  const BLUES = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"];
  const STOPS = BLUES.map((hex) => [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16)));

  /* ---------- DOM helpers ---------- */

  // Children to add: nested lists flattened, null and false (a part that does not apply) left out.
  const present = (children) => children.flat().filter((child) => child != null && child !== false);

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    setProps(node, props);
    node.append(...present(children));
    return node;
  }

  function svgEl(tag, props = {}) {
    const node = document.createElementNS(SVG_NS, tag);
    setProps(node, props);
    return node;
  }

  // Attributes, text and listeners. Never a style attribute: the page's CSP allows styles set through CSSOM only.
  function setProps(node, props) {
    for (const [key, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
  }

  const fmtWeight = (w) => w.toFixed(4);
  const fmtNumber = (x, digits) => (x == null ? "n/a" : x.toFixed(digits));
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function colour(weight, stops = STOPS) {
    const at = Math.min(Math.max(weight, 0), 1) * (stops.length - 1);
    const low = Math.min(Math.floor(at), stops.length - 2);
    const t = at - low;
    const [r, g, b] = stops[low].map((c, k) => Math.round(c + (stops[low + 1][k] - c) * t));
    return `rgb(${r}, ${g}, ${b})`;
  }

  // A signed value on the diverging scale from -bound (blue) through 0 (white) to +bound (red).
  const signedColour = (value, bound) => colour((value / (bound || 1) + 1) / 2, DIVERGING_STOPS);

  // Scroll a list so that item is visible, moving only the list (never the page).
  function revealInList(item, list) {
    const box = list.getBoundingClientRect();
    const at = item.getBoundingClientRect();
    if (at.top < box.top) list.scrollTop -= box.top - at.top + 8;
    else if (at.bottom > box.bottom) list.scrollTop += at.bottom - box.bottom + 8;
  }

  function argmax(count, value) {
    let best = 0;
    for (let k = 1; k < count; k++) if (value(k) > value(best)) best = k;
    return best;
  }

  /* ---------- attention maps ---------- */

  const decodedMaps = new WeakMap();
  const headMeans = new WeakMap();

  // {rows, cols, values}; values are the weights as shown (multiples of 1/10000). Decoded once per Map.
  function decodeMap(map) {
    let decoded = decodedMaps.get(map);
    if (!decoded) {
      decoded = decodeFresh(map);
      decodedMaps.set(map, decoded);
    }
    return decoded;
  }

  function decodeFresh(map) {
    const [rows, cols] = map.shape;
    const bytes = atob(map.b64);
    if (bytes.length !== rows * cols * 2) {
      throw new Error(`a ${rows}×${cols} map holds ${bytes.length} bytes, not ${rows * cols * 2}`);
    }
    // A fresh buffer, so no view starts at an odd offset; DataView reads little-endian on any platform.
    const data = new DataView(new ArrayBuffer(bytes.length));
    for (let k = 0; k < bytes.length; k++) data.setUint8(k, bytes.charCodeAt(k));
    const values = new Float64Array(rows * cols);
    // A signed map (attribution) holds int16 fractions of its bound, the largest |score|.
    if (map.signed) for (let k = 0; k < values.length; k++) values[k] = (data.getInt16(2 * k, true) / SCALE) * map.bound;
    else for (let k = 0; k < values.length; k++) values[k] = data.getUint16(2 * k, true) / SCALE;
    return { rows, cols, values, bound: map.bound };
  }

  // "Average of heads": the mean of the heads' maps, computed once per layer.
  function meanOfHeads(heads) {
    let mean = headMeans.get(heads);
    if (!mean) {
      const maps = heads.map(decodeMap);
      const { rows, cols } = maps[0];
      const values = new Float64Array(rows * cols);
      for (const map of maps) {
        if (map.rows !== rows || map.cols !== cols) throw new Error("the heads of a layer differ in shape");
        for (let k = 0; k < values.length; k++) values[k] += map.values[k];
      }
      for (let k = 0; k < values.length; k++) values[k] /= maps.length;
      mean = { rows, cols, values };
      headMeans.set(heads, mean);
    }
    return mean;
  }

  // settings.layer null means the last layer (the default), whatever the count.
  const layerIndex = (layer, count) => (layer == null || layer >= count ? count - 1 : layer);

  // A Map (kind "single") or a [layer][head] stack.
  function attentionStack(view, hyp, kind) {
    if (kind === "encoder") return view.encoder_self;
    if (kind === "decoder") return hyp.decoder_self;
    return hyp.cross;
  }

  function pickMap(stack, layer, head) {
    if (!Array.isArray(stack)) return decodeMap(stack);
    const heads = stack[layerIndex(layer, stack.length)];
    return head === "avg" ? meanOfHeads(heads) : decodeMap(heads[Math.min(Number(head), heads.length - 1)]);
  }

  // What one view shows for the settings: the map, its words and what the axes mean.
  function attentionSpec(view, hyp, settings) {
    const kind = settings.kind;
    const sourceTokens = hyp.source_tokens || view.source_tokens; // a reference reading counts in its own word units
    const rowTokens = kind === "encoder" ? view.source_tokens : hyp.tokens;
    // decoder self-attention: step t reads <s> and the words written before it
    const colTokens = { cross: sourceTokens, encoder: rowTokens, decoder: hyp.decoder_inputs || rowTokens }[kind];
    return {
      kind,
      map: pickMap(attentionStack(view, hyp, kind), settings.layer, settings.head),
      rowTokens,
      colTokens,
      rowAxis: kind === "encoder" ? "source" : "output",
      colAxis: kind === "decoder" ? "output" : "source",
      gold: kind === "cross" ? hyp.gold : null,
      causal: kind === "decoder",
    };
  }

  /* ---------- attribution beside attention ---------- */

  // The view a panel shows for a hypothesis: attribution views only for cross-attention of a hypothesis that has it.
  const shownView = (hyp, settings) => (hyp.attribution && settings.kind === "cross" ? settings.view || "attention" : "attention");

  // The specs a panel draws: one map, or attention and attribution side by side.
  function matrixSpecs(view, hyp, settings) {
    const spec = attentionSpec(view, hyp, settings);
    const which = shownView(hyp, settings);
    if (which === "attention") return [spec];
    const scores = attributionMap(hyp.attribution);
    const signed = (name, map, caption, bound) => ({ ...spec, name, map, caption, signed: true, bound });
    const name = hyp.attribution_method || hyp.attribution.method;
    const method = METHOD_NAMES[name] || name;
    const attribution = signed("attribution", scores, `Attribution (${method}). ${VIEW_CAPTIONS.attribution}`, scores.bound || 1);
    if (which === "attribution") return [attribution];
    if (which === "both") return [{ ...spec, caption: `Attention. ${CAPTIONS.cross}` }, attribution];
    return [signed("difference", differenceMap(spec.map, scores), `Difference. ${VIEW_CAPTIONS.difference}`, 1)];
  }

  // A signed map (s2s attend), or scores as plain rows ({method, scores}: the served page's poking); its bound
  // is the largest |score|, the half-width of the diverging scale.
  function attributionMap(record) {
    if (!Array.isArray(record.scores)) return decodeMap(record);
    let map = decodedMaps.get(record);
    if (!map) {
      const rows = record.scores.length;
      const cols = rows ? record.scores[0].length : 0;
      const values = Float64Array.from(record.scores.flat());
      map = { rows, cols, values, bound: values.reduce((most, v) => Math.max(most, Math.abs(v)), 0) || 1 };
      decodedMaps.set(record, map);
    }
    return map;
  }

  // attention - |attribution| / (row sum of |attribution|), over the rows and columns both maps have.
  function differenceMap(attention, scores) {
    const rows = Math.min(attention.rows, scores.rows);
    const cols = Math.min(attention.cols, scores.cols);
    const values = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      let total = 0;
      for (let j = 0; j < cols; j++) total += Math.abs(scores.values[i * scores.cols + j]);
      for (let j = 0; j < cols; j++) {
        const share = total > 0 ? Math.abs(scores.values[i * scores.cols + j]) / total : 0;
        values[i * cols + j] = Math.round((attention.values[i * attention.cols + j] - share) * SCALE) / SCALE;
      }
    }
    return { rows, cols, values };
  }

  /* ---------- the heat grid and the line view, highlighted together ---------- */

  // One attention map drawn twice: a heat grid and bertviz-style lines, whose highlights stay in step.
  class AttentionView {
    constructor(readout) {
      this.readout = readout;
      this.node = el("div", { class: "attention" });
      this.hover = null; // what the pointer is on
      this.focus = null; // what the keyboard is on; shown while the pointer is elsewhere
      this.lit = [];
      this.node.addEventListener("mouseover", (event) => this.setHover(this.targetOf(event.target)));
      this.node.addEventListener("mouseleave", () => this.setHover(null));
      this.node.addEventListener("focusin", (event) => {
        this.focus = this.targetOf(event.target);
        this.apply(this.focus);
      });
      this.node.addEventListener("focusout", () => {
        this.focus = null;
        this.apply(this.hover);
      });
    }

    show(spec) {
      this.spec = spec;
      this.hover = this.focus = null;
      this.lit = [];
      const { map } = spec;
      // Labels by position: a map that does not match its words still shows, with a warning.
      const labels = (tokens, count) => Array.from({ length: count }, (_, k) => (k < tokens.length ? tokens[k] : "?"));
      this.rowTokens = labels(spec.rowTokens, map.rows);
      this.colTokens = labels(spec.colTokens, map.cols);
      const mismatch = map.rows !== spec.rowTokens.length || map.cols !== spec.colTokens.length;
      const warning = `The map is ${map.rows}×${map.cols}, but there are ${spec.rowTokens.length} ${spec.rowAxis} words `
        + `and ${spec.colTokens.length} ${spec.colAxis} words.`;
      this.node.dataset.view = spec.name || "attention";
      this.node.replaceChildren(
        ...present([
          mismatch ? el("p", { class: "warning", text: warning }) : null,
          el("p", { class: "caption", "data-testid": "caption", text: spec.caption || CAPTIONS[spec.kind] }),
          this.buildGrid(),
          spec.signed ? this.noLines() : this.buildLines(), // lines draw weights as opacity: no sign to show
        ]),
      );
      this.showReadout(null);
    }

    weight(i, j) {
      return this.spec.map.values[i * this.spec.map.cols + j];
    }

    buildGrid() {
      const { map, rowAxis, colAxis, causal, kind } = this.spec;
      // Focusable word labels; a column label's text is in a span that CSS turns on its side.
      const label = (axis, k, token, content) => {
        const props = { class: `${axis}-label`, scope: axis, tabindex: 0, title: token, "data-testid": `${axis}-label` };
        return el("th", { ...props, [`data-${axis}`]: k }, content);
      };
      const axes = [el("span", { text: `${colAxis} →` }), el("span", { text: `${rowAxis} ↓` })];
      const corner = el("th", { class: "corner", scope: "col" }, axes);
      this.colLabels = this.colTokens.map((token, j) => label("col", j, token, el("span", { text: token })));
      this.rowLabels = this.rowTokens.map((token, i) => label("row", i, token, token));
      if (rowAxis === "output" && this.spec.name !== "prefix") {
        // Output words: a stable hook (class and step) for scripts the served page adds.
        this.rowLabels.forEach((node, i) => {
          node.classList.add("out-word");
          node.dataset.step = String(i);
        });
      }
      this.cells = this.rowLabels.map((_, i) => this.colTokens.map((_, j) => this.buildCell(i, j, causal && j > i)));
      const rows = this.rowLabels.map((rowLabel, i) => el("tr", {}, rowLabel, this.cells[i]));
      for (const [col, row] of this.spec.gold || []) {
        const cell = this.cells[row]?.[col];
        if (!cell) continue;
        cell.append(el("span", { class: "gold", "data-testid": "gold-link", "data-row": row, "data-col": col, title: "gold link" }));
      }
      this.table = el(
        "table",
        { class: "heat", "aria-label": `${KIND_NAMES[kind]}: ${rowAxis} words down, ${colAxis} words across` },
        el("thead", {}, el("tr", {}, corner, this.colLabels)),
        el("tbody", {}, rows),
      );
      const size = map.cols <= 12 ? 26 : map.cols <= 20 ? 22 : map.cols <= 30 ? 18 : 16;
      this.table.style.setProperty("--cell", `${size}px`);
      return el("div", { class: "grid-scroll" }, this.table);
    }

    buildCell(i, j, masked) {
      const w = this.weight(i, j);
      const cell = el("td", { "data-testid": "cell", "data-row": i, "data-col": j, "data-weight": fmtWeight(w) });
      if (masked) cell.classList.add("masked"); // the decoder cannot look ahead
      else cell.style.backgroundColor = this.spec.signed ? signedColour(w, this.spec.bound) : colour(w);
      return cell;
    }

    noLines() {
      this.svg = null;
      this.lines = [];
      this.lineRows = [];
      this.lineCols = [];
      return null;
    }

    // Column words on the left, row words on the right, one line per pair, as opaque as its weight.
    buildLines() {
      const { map, rowAxis, colAxis } = this.spec;
      const pitch = map.cols > 30 || map.rows > 30 ? 16 : 20;
      const width = 150;
      const height = Math.max(map.rows, map.cols) * pitch;
      const y = (k) => k * pitch + pitch / 2;
      const word = (token, attr, k) => el("li", { class: "word", tabindex: 0, title: token, [attr]: k, text: token });
      this.lineCols = this.colTokens.map((token, j) => word(token, "data-col", j));
      this.lineRows = this.rowTokens.map((token, i) => word(token, "data-row", i));
      this.svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, "aria-hidden": "true" });
      this.lines = [];
      for (let i = 0; i < map.rows; i++) {
        const row = [];
        for (let j = 0; j < map.cols; j++) {
          const opacity = this.weight(i, j).toFixed(4);
          row.push(svgEl("line", { x1: 2, y1: y(j), x2: width - 2, y2: y(i), "stroke-opacity": opacity, "data-row": i, "data-col": j }));
        }
        this.svg.append(...row);
        this.lines.push(row);
      }
      const view = el(
        "div",
        { class: "lines", "data-testid": "line-view" },
        el("span", { class: "lines-head left", text: colAxis }),
        el("span"),
        el("span", { class: "lines-head right", text: rowAxis }),
        el("ol", { class: "words left", "aria-label": `${colAxis} words` }, this.lineCols),
        this.svg,
        el("ol", { class: "words right", "aria-label": `${rowAxis} words` }, this.lineRows),
      );
      view.style.setProperty("--pitch", `${pitch}px`);
      return view;
    }

    // The row ({row}), column ({col}) or cell ({row, col}) an element stands for, or null.
    targetOf(node) {
      const hit = node instanceof Element ? node.closest("[data-row], [data-col]") : null;
      if (!hit || !this.node.contains(hit)) return null;
      const row = hit.hasAttribute("data-row") ? Number(hit.dataset.row) : null;
      const col = hit.hasAttribute("data-col") ? Number(hit.dataset.col) : null;
      return { row, col };
    }

    setHover(target) {
      const same = (a, b) => a === b || (a && b && a.row === b.row && a.col === b.col);
      if (same(target, this.hover)) return;
      this.hover = target;
      this.apply(target || this.focus);
    }

    // A row or column lights up in both views and dims the rest; a cell lights up with its line.
    apply(target) {
      for (const [node, name] of this.lit) node.classList.remove(name);
      this.lit = [];
      const light = (nodes, name = "highlight") => {
        for (const node of nodes) {
          if (!node) continue;
          node.classList.add(name);
          this.lit.push([node, name]);
        }
      };
      const { row, col } = target || {};
      if (row != null && col != null) {
        light([this.cells[row]?.[col], this.lines[row]?.[col]]);
        light([this.rowLabels[row], this.colLabels[col], this.lineRows[row], this.lineCols[col]], "mark");
        light([this.svg], "has-highlight");
      } else if (row != null) {
        light([this.rowLabels[row], this.lineRows[row], ...(this.cells[row] || []), ...(this.lines[row] || [])]);
        light([this.table, this.svg], "has-highlight");
      } else if (col != null) {
        light([this.colLabels[col], this.lineCols[col], ...this.cells.map((r) => r[col]), ...this.lines.map((r) => r[col])]);
        light([this.table, this.svg], "has-highlight");
      }
      this.showReadout(target);
    }

    showReadout(target) {
      this.readout.textContent = this.describe(target);
    }

    describe(target) {
      const { row, col } = target || {};
      const { rows, cols } = this.spec.map;
      if (row != null && col != null) {
        return `${this.rowTokens[row]} ← ${this.colTokens[col]}: ${fmtWeight(this.weight(row, col))}`;
      }
      if (this.spec.signed && row != null) {
        const j = argmax(cols, (k) => Math.abs(this.weight(row, k)));
        return `${this.rowTokens[row]}: largest |score| from ${this.colTokens[j]}: ${fmtWeight(this.weight(row, j))}`;
      }
      if (this.spec.signed && col != null) {
        const i = argmax(rows, (k) => Math.abs(this.weight(k, col)));
        return `${this.colTokens[col]} matters most to ${this.rowTokens[i]}: ${fmtWeight(this.weight(i, col))}`;
      }
      if (row != null) {
        const j = argmax(cols, (k) => this.weight(row, k));
        return `${this.rowTokens[row]} attends most to ${this.colTokens[j]}: ${fmtWeight(this.weight(row, j))}`;
      }
      if (col != null) {
        const i = argmax(rows, (k) => this.weight(k, col));
        return `${this.colTokens[col]} is attended most by ${this.rowTokens[i]}: ${fmtWeight(this.weight(i, col))}`;
      }
      return HINT;
    }
  }

  /* ---------- parts of a panel ---------- */

  const optionKeys = new WeakMap();

  function labelledSelect(text, testid, onChange) {
    const select = el("select", { "data-testid": testid });
    select.addEventListener("change", () => onChange(select.value));
    return { select, label: el("label", { class: "control" }, el("span", { text }), select) };
  }

  // Replace a select's options only when they change, so that it keeps its focus and keyboard state.
  function syncOptions(select, options, value) {
    const key = JSON.stringify(options);
    if (optionKeys.get(select) !== key) {
      select.replaceChildren(...options.map(([v, text]) => el("option", { value: v, text })));
      optionKeys.set(select, key);
    }
    select.value = value;
    select.disabled = options.length < 2;
  }

  function panelHeader(title, describe, badge) {
    return el(
      "header",
      { class: "panel-head" },
      el("h2", {}, el("span", { class: "run-name", text: title }), badge ? el("span", { class: "badge", text: badge }) : null),
      describe ? el("p", { class: "describe", text: describe }) : null,
    );
  }

  function runBadge(run) {
    if (run.kind === "single") return "single head";
    return `${run.kind} · ${plural(run.layers, "layer")} × ${plural(run.heads, "head")}`;
  }

  function unknownWarning(words) {
    if (!words || !words.length) return null;
    return el(
      "p",
      { class: "warning", role: "note", "data-testid": "unknown" },
      "⚠ Not in this model's vocabulary: ",
      el("span", { class: "words-inline", text: words.join(", ") }),
    );
  }

  function scaleLegend() {
    return el("span", { class: "scale", title: "colour scale, fixed from 0 to 1" }, "0", el("span", { class: "scale-bar" }), "1");
  }

  function signedLegend(bound, what) {
    const low = `−${fmtNumber(bound, bound >= 10 ? 1 : 3)}`;
    const high = `+${fmtNumber(bound, bound >= 10 ? 1 : 3)}`;
    return el("span", { class: "scale", title: `${what}: colour scale from ${low} to ${high}` }, low,
      el("span", { class: "scale-bar diverging" }), high);
  }

  // Per sentence: how often attention's top source word is attribution's, and with gold links the AER of each.
  function agreementNote(hyp) {
    const agreement = hyp.agreement;
    if (!agreement) return null;
    const parts = [];
    if (agreement.top_match != null) parts.push(`top word agrees ${(agreement.top_match * 100).toFixed(0)}%`);
    if (agreement.aer_attention != null) {
      parts.push(`AER attention ${(agreement.aer_attention * 100).toFixed(1)}%`);
      parts.push(`attribution ${(agreement.aer_attribution * 100).toFixed(1)}%`);
    }
    const title = "share of output words whose most attended source word has the largest |attribution|"
      + (agreement.aer_attention != null ? "; alignment error rate against the gold links of each" : "");
    return el("span", { class: "agreement", "data-testid": "agreement", title }, parts.join(" · "));
  }

  function readoutElement() {
    return el("output", { class: "readout", "data-testid": "readout", "aria-live": "polite" });
  }

  /* ---------- the beam search tree ---------- */

  const TREE_COL = 128; // px between steps
  const TREE_ROW = 19; // px between leaves
  const TREE_WORD = 10; // characters of a word shown in the tree (the title holds it whole)
  const shortWord = (token) => (token.length > TREE_WORD ? `${token.slice(0, TREE_WORD - 1)}…` : token);
  // Where a node's label ends, roughly (12px system font): its edges to the next step start there.
  const labelWidth = (token, logProb) => 10 + 7 * shortWord(token).length + (logProb == null ? 0 : 6 * logProb.toFixed(2).length);

  // The search as a tree, steps left to right: kept hypotheses with their log-probabilities, pruned ones
  // greyed, the chosen translation's path highlighted; a kept node is a button showing its prefix's attention.
  class BeamTree {
    constructor(tree, onPick) {
      this.tree = tree;
      this.nodes = tree.nodes || [];
      this.best = new Set(tree.best || []);
      this.children = this.nodes.map(() => []);
      this.roots = [];
      this.nodes.forEach((node, k) => (node.parent < 0 ? this.roots : this.children[node.parent]).push(k));
      const byScore = (a, b) => this.nodes[b].log_prob - this.nodes[a].log_prob;
      for (const list of [this.roots, ...this.children]) list.sort(byScore);
      this.y = new Array(this.nodes.length);
      let next = 0;
      const place = (k) => {
        const kids = this.children[k];
        this.y[k] = kids.length ? (Math.min(...kids.map(place)) + Math.max(...kids.map((c) => this.y[c]))) / 2 : next++;
        return this.y[k];
      };
      this.roots.forEach(place);
      this.rootY = this.roots.length ? (this.y[this.roots[0]] + this.y[this.roots[this.roots.length - 1]]) / 2 : 0;
      this.groups = [];
      const caption = `Beam search (beam ${tree.beam}): what each step kept (log-probability of the prefix) and pruned `
        + "(grey); the chosen translation's path is highlighted. Click a kept word for its prefix's attention.";
      this.node = el("div", { class: "beam-tree", "data-testid": "beam-tree" },
        el("p", { class: "caption", text: caption }), el("div", { class: "tree-scroll" }, this.draw(Math.max(next, 1), onPick)));
    }

    draw(leaves, onPick) {
      const steps = Math.max(0, ...this.nodes.map((n) => n.step)) + 1;
      const width = 40 + (steps + 1) * TREE_COL;
      const height = leaves * TREE_ROW + 6;
      const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "beam search tree" });
      const at = (k) => (k < 0 ? [8, this.rootY * TREE_ROW + 12] : [8 + (this.nodes[k].step + 1) * TREE_COL, this.y[k] * TREE_ROW + 12]);
      this.nodes.forEach((node, k) => {
        const [x1, y1] = at(node.parent);
        const [x2, y2] = at(k);
        const parent = node.parent < 0 ? null : this.nodes[node.parent];
        const start = x1 + Math.min(labelWidth(parent ? parent.token : "<s>", parent?.log_prob), TREE_COL - 24);
        const onBest = this.best.has(k) && (node.parent < 0 || this.best.has(node.parent));
        const bend = (start + x2) / 2;
        svg.append(svgEl("path", {
          class: `edge${node.kept ? "" : " pruned"}${onBest ? " best" : ""}`,
          d: `M${start},${y1} C${bend},${y1} ${bend},${y2} ${x2 - 5},${y2}`,
        }));
      });
      svg.append(this.label(at(-1), "<s>", null, { class: "tree-node root" }));
      this.nodes.forEach((node, k) => svg.append(this.nodeGroup(node, k, at(k), onPick)));
      return svg;
    }

    nodeGroup(node, k, [x, y], onPick) {
      const keptKids = this.children[k].filter((c) => this.nodes[c].kept).length;
      const classes = ["tree-node", node.kept ? "kept" : "pruned", this.best.has(k) ? "best" : "", keptKids > 1 ? "branch" : ""];
      const props = { class: classes.filter(Boolean).join(" "), "data-testid": "tree-node", "data-node": k, "data-step": node.step };
      const title = `${node.token}: log-probability ${node.log_prob.toFixed(4)}${node.kept ? "" : " (pruned)"}`;
      if (node.kept) Object.assign(props, { tabindex: 0, role: "button", "aria-label": title });
      const group = this.label([x, y], node.token, node.log_prob, props);
      group.append(svgEl("title", { text: title }));
      if (node.kept) {
        group.addEventListener("click", () => onPick(k));
        group.addEventListener("keydown", (event) => {
          if (event.key !== "Enter" && event.key !== " ") return;
          event.preventDefault();
          onPick(k);
        });
      }
      this.groups[k] = group;
      return group;
    }

    label([x, y], token, logProb, props) {
      const group = svgEl("g", props);
      group.append(svgEl("circle", { cx: x, cy: y, r: 3.5 }));
      const text = svgEl("text", { x: x + 7, y: y + 4 });
      text.append(svgEl("tspan", { class: "token", text: shortWord(token) }));
      if (logProb != null) text.append(svgEl("tspan", { class: "score", dx: 4, text: logProb.toFixed(2) }));
      group.append(text);
      return group;
    }

    // The node picked (or none): marked in the tree, with its path.
    mark(picked) {
      const path = new Set(picked == null ? [] : this.path(picked));
      this.groups.forEach((group, k) => group && group.classList.toggle("picked", path.has(k)));
    }

    path(k) {
      const path = [];
      for (let at = k; at >= 0; at = this.nodes[at].parent) path.unshift(at);
      return path;
    }

    // The grid for a prefix: its words down, the source tokens across, each step's attention as its row.
    prefixSpec(k) {
      const path = this.path(k);
      const cols = this.tree.source_tokens.length;
      const values = new Float64Array(path.length * cols);
      path.forEach((n, i) => this.nodes[n].attention.forEach((w, j) => (values[i * cols + j] = w)));
      const rowTokens = path.map((n) => this.nodes[n].token);
      return {
        kind: "cross", name: "prefix", map: { rows: path.length, cols, values }, rowTokens, colTokens: this.tree.source_tokens,
        rowAxis: "output", colAxis: "source", gold: null, causal: false, caption: VIEW_CAPTIONS.prefix,
      };
    }
  }

  /* ---------- one run's panel ---------- */

  // A run's output for the current sentence: hypotheses, pickers and the attention views.
  // settings ({layer, head, kind}) belong to the run and outlive the panel, so a choice stays from sentence to sentence.
  class RunPanel {
    constructor(run, view, settings) {
      this.view = view;
      this.settings = settings;
      this.hypIndex = 0;
      this.readout = readoutElement();
      this.attention = new AttentionView(this.readout);
      this.second = new AttentionView(this.readout); // attribution, when both are side by side
      this.maps = el("div", { class: "maps", "data-testid": "maps" }, this.attention.node);
      this.prefixNode = null; // a beam-tree node whose prefix the grid shows instead of the hypothesis
      this.status = el("div", { class: "status" });
      this.node = el("section", { class: "panel", "data-testid": "run-panel", "data-run": run.name, "aria-label": `run ${run.name}` });
      // Always the same slots in the same order, so that panels side by side line up (CSS subgrid).
      const header = panelHeader(run.name, run.describe, runBadge(run));
      const warning = unknownWarning(view.unknown) || el("div");
      const hyps = view.hypotheses || [];
      if (!hyps.length) {
        this.node.append(header, warning, el("p", { class: "empty", text: "No output for this sentence." }));
        return;
      }
      this.hypButtons = hyps.map((hyp, k) => this.hypothesisButton(hyp, k));
      this.tree = view.search_tree ? new BeamTree(view.search_tree, (k) => this.showPrefix(k)) : null;
      this.node.append(
        header,
        warning,
        el("ol", { class: "hypotheses", "aria-label": "outputs" }, this.hypButtons.map((b) => el("li", {}, b))),
        this.controls(hyps[0]),
        el("div", { class: "readout-bar" }, this.readout, this.status),
        // One slot (the panels' subgrid has six): the grid or grids, then the search tree.
        el("div", { class: "matrix-area" }, this.maps, this.tree?.node),
      );
      this.redraw();
    }

    hypothesisButton(hyp, k) {
      return el(
        "button",
        { type: "button", class: "hypothesis", "data-testid": "hypothesis", title: hyp.text, onclick: () => this.selectHypothesis(k) },
        el("span", { class: "hyp-label", text: hyp.label }),
        el("span", { class: "hyp-text", text: hyp.text }),
        hyp.score == null ? null : el("span", { class: "hyp-score", title: "score", text: fmtNumber(hyp.score, 3) }),
      );
    }

    selectHypothesis(k) {
      this.hypIndex = k;
      this.prefixNode = null;
      this.redraw();
    }

    // The attention of the prefix that ends at beam-tree node k: one row per step along its path.
    showPrefix(k) {
      this.prefixNode = k;
      this.redraw();
    }

    // Pickers only where they apply: layers and heads for stacked maps, the kind where there is self-attention.
    controls(hyp) {
      const bar = el("div", { class: "controls" });
      const changed = (key, parse) => (value) => {
        this.settings[key] = parse(value);
        this.prefixNode = null;
        this.redraw();
      };
      if ((this.view.hypotheses || []).some((h) => h.attribution)) {
        this.viewSelect = labelledSelect("Show", "matrix-view", changed("view", String));
        bar.append(this.viewSelect.label);
      }
      if (this.view.encoder_self || hyp.decoder_self) {
        this.kindSelect = labelledSelect("Attention", "attention-kind", changed("kind", String));
        bar.append(this.kindSelect.label);
      }
      if (Array.isArray(hyp.cross)) {
        this.layerSelect = labelledSelect("Layer", "layer", changed("layer", Number));
        this.headSelect = labelledSelect("Head", "head", changed("head", String));
        bar.append(this.layerSelect.label, this.headSelect.label);
      }
      return bar;
    }

    redraw() {
      const hyp = this.view.hypotheses[this.hypIndex];
      this.hypButtons.forEach((button, k) => {
        button.classList.toggle("active", k === this.hypIndex);
        button.setAttribute("aria-pressed", String(k === this.hypIndex));
      });
      try {
        this.syncControls(hyp);
        const specs = this.prefixNode != null ? [this.tree.prefixSpec(this.prefixNode)] : matrixSpecs(this.view, hyp, this.settings);
        this.status.replaceChildren(...this.statusParts(hyp, specs));
        this.attention.show(specs[0]);
        if (specs[1]) this.second.show(specs[1]);
        this.maps.replaceChildren(...present([this.attention.node, specs[1] ? this.second.node : null]));
        this.maps.classList.toggle("side-by-side", specs.length > 1);
        this.tree?.mark(this.prefixNode);
      } catch (error) {
        this.attention.node.replaceChildren(el("p", { class: "warning", text: `Cannot show this attention: ${error.message}` }));
      }
    }

    syncControls(hyp) {
      if (this.viewSelect) {
        syncOptions(this.viewSelect.select, VIEWS, shownView(hyp, this.settings));
        this.viewSelect.select.disabled = !hyp.attribution || this.settings.kind !== "cross";
      }
      const kinds = [["cross", KIND_NAMES.cross]];
      if (this.view.encoder_self) kinds.push(["encoder", KIND_NAMES.encoder]);
      if (hyp.decoder_self) kinds.push(["decoder", KIND_NAMES.decoder]);
      if (!kinds.some(([kind]) => kind === this.settings.kind)) this.settings.kind = "cross";
      if (this.kindSelect) syncOptions(this.kindSelect.select, kinds, this.settings.kind);
      if (!this.layerSelect) return;
      // Encoder and decoder may differ in layers and heads: the pickers follow the kind shown.
      const stack = attentionStack(this.view, hyp, this.settings.kind);
      const layer = layerIndex(this.settings.layer, stack.length);
      const heads = stack[layer].length;
      if (this.settings.head !== "avg" && Number(this.settings.head) >= heads) this.settings.head = "avg";
      // numbered from 0, as --layer and --head count and the PNG titles say
      const layers = stack.map((_, k) => [String(k), k === stack.length - 1 ? `${k} (last)` : String(k)]);
      syncOptions(this.layerSelect.select, layers, String(layer));
      const headOptions = [["avg", "average of heads"], ...stack[layer].map((_, k) => [String(k), `head ${k}`])];
      syncOptions(this.headSelect.select, headOptions, this.settings.head);
    }

    statusParts(hyp, specs) {
      const parts = specs.map((spec) => (spec.signed ? signedLegend(spec.bound, spec.name) : scaleLegend()));
      if (this.prefixNode != null) {
        const back = el("button", { type: "button", class: "back", "data-testid": "prefix-back", text: "back to the output" });
        back.addEventListener("click", () => this.selectHypothesis(this.hypIndex));
        return [...parts, back];
      }
      if (hyp.attribution && this.settings.kind === "cross") parts.push(agreementNote(hyp));
      if (hyp.gold && hyp.gold.length && this.settings.kind === "cross") {
        parts.push(el("span", { class: "gold-key" }, el("span", { class: "gold" }), "gold link"));
      }
      if (hyp.aer != null) {
        const aer = `AER ${(hyp.aer * 100).toFixed(1)}%`;
        parts.push(el("span", { class: "aer", "data-testid": "aer", title: "alignment error rate of this sentence" }, aer));
      }
      return parts;
    }
  }

  /* ---------- training mode ---------- */

  // One probe sentence at one validation: the output the model gave then, and its attention.
  class ProbePanel {
    constructor(training, probe) {
      this.probe = probe;
      this.readout = readoutElement();
      this.attention = new AttentionView(this.readout);
      this.output = el("p", { class: "probe-output" });
      this.node = el(
        "section",
        { class: "panel wide", "data-testid": "run-panel", "data-run": training.run, "aria-label": `run ${training.run}` },
        panelHeader(training.run, "attention on a probe sentence while the model learns"),
        this.output,
        el("div", { class: "readout-bar" }, this.readout, el("div", { class: "status" }, scaleLegend())),
        this.attention.node,
      );
    }

    showFrame(index, step) {
      const frame = this.probe.frames[index];
      if (!frame) {
        this.output.textContent = `No output recorded at step ${step}.`;
        this.attention.node.replaceChildren();
        return;
      }
      this.output.replaceChildren(el("span", { class: "muted", text: `output at step ${step}: ` }), el("span", { text: frame.text }));
      const view = { source_tokens: this.probe.source_tokens };
      const hyp = { tokens: frame.tokens, cross: frame.cross };
      try {
        this.attention.show(attentionSpec(view, hyp, { kind: "cross", layer: null, head: "avg" }));
      } catch (error) {
        this.attention.node.replaceChildren(el("p", { class: "warning", text: `Cannot show this attention: ${error.message}` }));
      }
    }
  }

  // The validation slider with its numbers, and a small chart of loss and BLEU.
  class TrainingBar {
    constructor(validations, onChange) {
      this.validations = validations;
      this.slider = el("input", {
        type: "range",
        min: 0,
        max: Math.max(validations.length - 1, 0),
        step: 1,
        id: "training-slider",
        "data-testid": "training-slider",
      });
      this.slider.addEventListener("input", () => onChange(Number(this.slider.value)));
      this.info = el("div", { class: "training-info", "data-testid": "training-info", "aria-live": "polite" });
      this.chart = curveChart(validations);
      const label = el("label", { class: "slider", for: "training-slider" }, el("span", { text: "Validation" }), this.slider);
      this.node = el("div", { class: "training-bar" }, el("div", { class: "slider-block" }, label, this.info), this.chart.node);
    }

    show(index) {
      const v = this.validations[index];
      this.slider.value = String(index);
      this.slider.setAttribute("aria-valuetext", `step ${v.step}`);
      this.info.replaceChildren(
        el("strong", { text: `step ${v.step}` }),
        el("span", { text: `validation loss ${fmtNumber(v.val_loss, 3)}` }),
        el("span", { text: `BLEU ${fmtNumber(v.val_bleu, 2)}` }),
        el("span", { class: "muted", text: `${index + 1} of ${this.validations.length}` }),
      );
      this.chart.mark(index);
    }
  }

  // Loss (falling) and BLEU (rising) over the validations, each scaled to its own range.
  function curveChart(validations) {
    const width = 220;
    const height = 44;
    const x = (k) => 4 + (validations.length < 2 ? 0 : (k * (width - 8)) / (validations.length - 1));
    const node = svgEl("svg", {
      class: "curves",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": "validation loss and BLEU over training",
    });
    for (const [key, name] of [["val_loss", "loss"], ["val_bleu", "bleu"]]) {
      const points = validations.map((v, k) => [k, v[key]]).filter(([, value]) => Number.isFinite(value));
      if (!points.length) continue;
      const values = points.map(([, value]) => value);
      const low = Math.min(...values);
      const span = Math.max(...values) - low || 1;
      const y = (value) => height - 4 - ((value - low) * (height - 8)) / span;
      const path = points.map(([k, value]) => `${x(k).toFixed(1)},${y(value).toFixed(1)}`).join(" ");
      node.append(svgEl("polyline", { class: name, points: path }));
    }
    const marker = svgEl("line", { class: "marker", y1: 0, y2: height });
    node.append(marker);
    const legend = el(
      "span",
      { class: "curve-legend" },
      el("span", { class: "key loss", text: "loss" }),
      el("span", { class: "key bleu", text: "BLEU" }),
    );
    return {
      node: el("div", { class: "chart" }, node, legend),
      mark(k) {
        marker.setAttribute("x1", x(k).toFixed(1));
        marker.setAttribute("x2", x(k).toFixed(1));
      },
    };
  }

  /* ---------- the page ---------- */

  // Keys belong to the element that has focus when it uses them itself (a select, the slider, a text field).
  function ownsArrowKeys(node) {
    return node instanceof Element && node.closest("input, select, textarea, [contenteditable]:not([contenteditable='false'])") !== null;
  }

  class Explorer {
    constructor(doc, root) {
      this.doc = doc;
      this.runs = doc.runs || [];
      this.sentences = doc.sentences || [];
      this.training = doc.training || null;
      this.settings = this.runs.map(() => ({ layer: null, head: "avg", kind: "cross", view: "attention" }));
      this.position = { sentences: 0, training: 0 };
      // Training opens on the last validation: the model as trained; the slider goes back from there.
      this.validation = this.training ? Math.max(this.training.validations.length - 1, 0) : 0;
      this.mode = this.sentences.length ? "sentences" : this.training ? "training" : "empty";
      this.list = el("ol", { class: "items" });
      this.listHeading = el("h2", { class: "list-heading", id: "list-heading" });
      this.nav = el("nav", { class: "sidebar", "aria-labelledby": "list-heading" }, this.listHeading, this.list);
      this.main = el("main", { class: "content" });
      root.replaceChildren(this.header(), el("div", { class: "body" }, this.nav, this.main));
      document.addEventListener("keydown", (event) => this.onKey(event));
      this.render();
    }

    header() {
      this.modeButtons = [];
      if (this.sentences.length && this.training) {
        for (const [mode, text] of [["sentences", "Sentences"], ["training", "While it learns"]]) {
          const button = el("button", { type: "button", class: "mode", "data-mode": mode, onclick: () => this.setMode(mode), text });
          this.modeButtons.push(button);
        }
      }
      this.keysHint = el("p", { class: "keys" });
      return el(
        "header",
        { class: "top" },
        el("h1", { text: this.doc.title || "Attention explorer" }),
        this.modeButtons.length ? el("div", { class: "modes", role: "group", "aria-label": "view" }, this.modeButtons) : null,
        this.keysHint,
      );
    }

    setMode(mode) {
      this.mode = mode;
      this.render();
    }

    render() {
      for (const button of this.modeButtons) button.setAttribute("aria-pressed", String(button.dataset.mode === this.mode));
      const training = this.mode === "training";
      this.keysHint.textContent = training ? "← → validation · ↑ ↓ probe · Tab: the words" : "↑ ↓ or ← → sentence · Tab: the words";
      this.listHeading.textContent = training ? "Probes" : "Sentences";
      if (this.mode === "empty") {
        this.items = [];
        this.list.replaceChildren();
        this.main.replaceChildren(el("p", { class: "empty", text: "This document holds no sentences and no training record." }));
        return;
      }
      const sources = training ? this.training.probes.map((p) => p.source) : this.sentences.map((s) => s.source);
      this.items = sources.map((source, k) =>
        el(
          "button",
          { type: "button", class: "item", "data-testid": "sentence-item", title: source, onclick: () => this.select(k) },
          el("span", { class: "item-number", text: k + 1 }),
          " ", // read as "1 the red car", not "1the red car"
          el("span", { class: "item-text", text: source }),
        ),
      );
      this.list.replaceChildren(...this.items.map((item) => el("li", {}, item)));
      if (training) this.trainingBar = new TrainingBar(this.training.validations, (k) => this.setValidation(k));
      this.select(this.position[this.mode]);
    }

    select(k) {
      if (!this.items.length) {
        this.main.replaceChildren(...present([this.trainingBar?.node, el("p", { class: "empty", text: "Nothing to show." })]));
        return;
      }
      k = Math.min(Math.max(k, 0), this.items.length - 1);
      this.position[this.mode] = k;
      this.items.forEach((item, n) => {
        item.classList.toggle("active", n === k);
        if (n === k) item.setAttribute("aria-current", "true");
        else item.removeAttribute("aria-current");
      });
      revealInList(this.items[k], this.nav);
      if (this.mode === "training") this.showProbe(k);
      else this.showSentence(k);
    }

    showSentence(k) {
      const sentence = this.sentences[k];
      const panels = this.runs.map((run, r) => {
        const view = (sentence.views || [])[r];
        if (view) return new RunPanel(run, view, this.settings[r]).node;
        return el(
          "section",
          { class: "panel", "data-testid": "run-panel", "data-run": run.name },
          panelHeader(run.name, run.describe),
          el("p", { class: "empty", text: "No view of this sentence." }),
        );
      });
      const heading = sentenceHeading(`Sentence ${k + 1} of ${this.sentences.length}`, sentence.source);
      this.main.replaceChildren(heading, el("div", { class: "panels" }, panels));
    }

    showProbe(k) {
      const probe = this.training.probes[k];
      this.probePanel = new ProbePanel(this.training, probe);
      this.main.replaceChildren(
        this.trainingBar.node,
        sentenceHeading(`Probe ${k + 1} of ${this.training.probes.length}`, probe.source),
        el("div", { class: "panels" }, this.probePanel.node),
      );
      this.setValidation(this.validation);
    }

    setValidation(k) {
      const count = this.training.validations.length;
      if (!count) return;
      this.validation = Math.min(Math.max(k, 0), count - 1);
      this.trainingBar.show(this.validation);
      this.probePanel?.showFrame(this.validation, this.training.validations[this.validation].step);
    }

    onKey(event) {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      if (this.mode === "empty" || ownsArrowKeys(event.target)) return;
      const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault(); // the arrows would scroll the content as well
      if (this.mode === "training" && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
        this.setValidation(this.validation + step);
        return;
      }
      // Keyboard users in the list stay in the list: focus follows the current item.
      const listHadFocus = this.items.includes(document.activeElement);
      this.select(this.position[this.mode] + step);
      if (listHadFocus) this.items[this.position[this.mode]].focus({ preventScroll: true });
    }
  }

  function sentenceHeading(where, source) {
    return el("div", { class: "sentence" }, el("p", { class: "where", text: where }), el("p", { class: "source", text: source }));
  }

  function start() {
    const root = document.getElementById("app");
    try {
      const doc = JSON.parse(document.getElementById("s2s-document").textContent);
      if (doc.format !== FORMAT) throw new Error(`unknown document format ${JSON.stringify(doc.format)}`);
      new Explorer(doc, root);
    } catch (error) {
      root.replaceChildren(el("p", { class: "warning", text: `This page cannot be shown: ${error.message}` }));
      throw error;
    }
  }

  start();
})();
