// The report's timeline: draws only the visible time window of the run on a
// canvas, merging ops that share a pixel, so a 100,000-op history stays
// responsive. Text from the history reaches the page only via textContent.
(function () {
  "use strict";
  var t0 = performance.now();
  var D = JSON.parse(document.getElementById("sb-data").textContent);
  var parseMs = performance.now() - t0;
  var O = D.ops, N = O.s.length, END = Math.max(D.end, 1);
  var LABEL_W = 150, AXIS_H = 22, FAULT_H = 18, ROW_H = 30;
  var OP_Y = 3, OP_H = 13, HOLD_Y = 18, HOLD_H = 10;
  // Faults in force together each get a band row (see fault_rows in page.rs).
  var FAULT_ROWS = Math.max(D.fault_rows || 1, 1);
  var TOP = AXIS_H + FAULT_H * FAULT_ROWS;
  var DENSE_OP = "#94a3b8", DENSE_HOLD = "#cbd5e1";
  var nLanes = D.lanes.length;
  var E = new Float64Array(N);
  var laneOps = [], laneHolds = [], i;
  for (i = 0; i < nLanes; i++) { laneOps.push([]); laneHolds.push([]); }
  for (i = 0; i < N; i++) {
    E[i] = O.d[i] < 0 ? END : O.s[i] + O.d[i];
    laneOps[O.l[i]].push(i);
  }
  var H = D.holds, nHolds = H.s.length;
  for (i = 0; i < nHolds; i++) laneHolds[H.l[i]].push(i);

  var wrap = document.getElementById("tl-wrap");
  var canvas = document.getElementById("tl-canvas");
  var overlay = document.getElementById("tl-overlay");
  var tip = document.getElementById("tl-tip");
  var detail = document.getElementById("tl-detail");
  var rangeEl = document.getElementById("tl-range");
  var ctx = canvas.getContext("2d");
  var W = 800, HEIGHT = TOP + Math.max(nLanes, 1) * ROW_H + 16;
  var view = { a: 0, b: END };
  var selected = [];
  var isSelected = new Uint8Array(N + 1);
  var HUES = [];
  for (i = 0; i < 36; i++) HUES.push("hsl(" + i * 10 + ",70%,45%)");
  var pending = false;

  function plotW() { return Math.max(W - LABEL_W - 8, 50); }
  function xOf(t) { return LABEL_W + (t - view.a) / (view.b - view.a) * plotW(); }
  function tOf(x) { return view.a + (x - LABEL_W) / plotW() * (view.b - view.a); }
  function secs(us, digits) { return (us / 1e6).toFixed(digits) + " s"; }
  function tokenColour(tok) {
    if (tok < 0) return "#64748b";
    // Ten-degree hue steps: neighbouring tokens differ by about 140 degrees,
    // and few distinct colours keep drawing to one path per colour.
    return HUES[Math.round((tok * 137.508) % 360 / 10) % 36];
  }
  function niceStep(range, ticks) {
    var raw = range / ticks, mag = Math.pow(10, Math.floor(Math.log10(raw))), n = raw / mag;
    return (n < 1.5 ? 1 : n < 3.5 ? 2 : n < 7.5 ? 5 : 10) * mag;
  }
  function laneLabel(procs) {
    var names = procs.map(function (p) { return "p" + p; });
    var s = names.join(" ");
    if (s.length <= 19) return s;
    return names[0] + " … " + names[names.length - 1] + " (" + names.length + ")";
  }
  // First op in `list` (sorted by start, ends ascending) whose end is >= t.
  function firstEndingAfter(list, t) {
    var lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (E[list[mid]] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  // Rectangles snapped to whole pixels and merged with the previous one when
  // they touch and share a colour: a zoomed-out lane becomes a few long runs
  // instead of thousands of anti-aliased slivers.
  function Runs() { this.paths = {}; this.col = null; this.x0 = 0; this.x1 = 0; this.y = 0; this.h = 0; }
  Runs.prototype.add = function (col, x0, x1, y, h) {
    x0 = Math.floor(x0); x1 = Math.max(Math.round(x1), x0 + 1);
    if (col === this.col && y === this.y && x0 <= this.x1) { if (x1 > this.x1) this.x1 = x1; return; }
    this.flush();
    this.col = col; this.x0 = x0; this.x1 = x1; this.y = y; this.h = h;
  };
  Runs.prototype.flush = function () {
    if (this.col === null) return;
    (this.paths[this.col] || (this.paths[this.col] = new Path2D())).rect(this.x0, this.y, this.x1 - this.x0, this.h);
    this.col = null;
  };
  Runs.prototype.fill = function () {
    this.flush();
    var p = this.paths;
    Object.keys(p).forEach(function (c) { ctx.fillStyle = c; ctx.fill(p[c]); });
  };

  function resize() {
    W = wrap.clientWidth || 800;
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(HEIGHT * dpr);
    canvas.style.height = HEIGHT + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function draw() {
    pending = false;
    var a = view.a, b = view.b, pw = plotW(), l, k;
    ctx.clearRect(0, 0, W, HEIGHT);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, HEIGHT);
    for (l = 0; l < nLanes; l++) {
      if (l % 2) { ctx.fillStyle = "#f8fafc"; ctx.fillRect(0, TOP + l * ROW_H, W, ROW_H); }
    }
    // Time axis and grid.
    var step = niceStep(b - a, Math.max(pw / 110, 2));
    var digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step / 1e6))));
    ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    for (var tk = Math.ceil(a / step) * step; tk <= b; tk += step) {
      var x = xOf(tk);
      ctx.fillStyle = "#e2e8f0"; ctx.fillRect(x, AXIS_H, 1, HEIGHT - AXIS_H);
      ctx.fillStyle = "#475569"; ctx.fillText(secs(tk, digits), x, AXIS_H / 2);
    }
    // Nemesis windows, shaded across every lane and labelled in their band.
    ctx.textAlign = "left";
    D.faults.forEach(function (f) {
      if (f.e < a || f.s > b) return;
      var x0 = Math.max(xOf(f.s), LABEL_W), x1 = Math.min(xOf(f.e), W);
      var bandY = AXIS_H + (f.row || 0) * FAULT_H;
      if (f.instant) {
        ctx.strokeStyle = f.col; ctx.setLineDash([4, 3]); ctx.beginPath();
        ctx.moveTo(x0 + 0.5, AXIS_H); ctx.lineTo(x0 + 0.5, HEIGHT); ctx.stroke(); ctx.setLineDash([]);
      } else {
        ctx.globalAlpha = f.err ? 0.07 : 0.17; ctx.fillStyle = f.col;
        ctx.fillRect(x0, bandY, Math.max(x1 - x0, 1), HEIGHT - bandY);
        ctx.globalAlpha = 0.9; ctx.fillRect(x0, bandY + 1, Math.max(x1 - x0, 1), FAULT_H - 2);
        ctx.globalAlpha = 1;
      }
      var label = f.label + (f.detail ? " " + f.detail : "") + (f.err ? " (failed: " + f.err + ")" : "");
      ctx.save(); ctx.beginPath(); ctx.rect(x0, bandY, Math.max(x1 - x0, 180), FAULT_H); ctx.clip();
      ctx.fillStyle = f.instant ? f.col : "#1f2937"; ctx.font = "bold 11px system-ui, sans-serif";
      ctx.fillText(label, x0 + 4, bandY + FAULT_H / 2); ctx.restore();
    });
    ctx.save(); ctx.beginPath(); ctx.rect(LABEL_W, 0, W - LABEL_W, HEIGHT); ctx.clip();
    // Holds and leaderships, coloured by token: one path per colour, and a
    // hold narrower than a pixel only where its pixel is still empty.
    ctx.font = "bold 9px system-ui, sans-serif"; ctx.textBaseline = "middle";
    var holdRuns = new Runs(), holdLabels = [], uncertain = [], selHolds = [], selHoldIds = [];
    for (l = 0; l < nLanes; l++) {
      var hs = laneHolds[l], y = TOP + l * ROW_H + HOLD_Y;
      for (k = 0; k < hs.length; k++) {
        var h = hs[k];
        if (H.e[h] < a || H.s[h] > b) continue;
        var hx0 = xOf(H.s[h]), hx1 = xOf(H.e[h]);
        if (hx1 - hx0 < 1.5 && H.c[h]) {
          // Narrower than a pixel: its token colour could not be told apart.
          holdRuns.add(DENSE_HOLD, hx0, hx1, y, HOLD_H);
          continue;
        }
        if (H.c[h]) holdRuns.add(tokenColour(H.t[h]), hx0, hx1, y, HOLD_H);
        else uncertain.push(h, hx0, hx1, y);
        if (isSelected[H.g[h]]) { selHolds.push(hx0, hx1, y); selHoldIds.push(h); }
        if (hx1 - hx0 > 34 && H.t[h] >= 0) holdLabels.push(h, hx0, y);
      }
    }
    holdRuns.fill();
    // Uncertain holds (the grant ended info) run to the end of the history
    // and pile up in a lane: a thin dashed line each, so they read as one.
    ctx.setLineDash([4, 3]); ctx.lineWidth = 2;
    for (k = 0; k < uncertain.length; k += 4) {
      var uy = uncertain[k + 3] + HOLD_H - 2;
      ctx.strokeStyle = tokenColour(H.t[uncertain[k]]);
      ctx.beginPath(); ctx.moveTo(uncertain[k + 1], uy); ctx.lineTo(uncertain[k + 2], uy); ctx.stroke();
    }
    ctx.setLineDash([]); ctx.lineWidth = 1;
    overlaps(selHoldIds);
    ctx.lineWidth = 2.5; ctx.strokeStyle = "#111";
    for (k = 0; k < selHolds.length; k += 3) ctx.strokeRect(selHolds[k] - 1, selHolds[k + 2] - 1, selHolds[k + 1] - selHolds[k] + 2, HOLD_H + 2);
    ctx.lineWidth = 1;
    for (k = 0; k < holdLabels.length; k += 3) {
      var lh = holdLabels[k];
      ctx.fillStyle = H.c[lh] ? "#fff" : "#111";
      ctx.fillText((H.ld[lh] ? "term " : "t") + H.t[lh], Math.max(holdLabels[k + 1], LABEL_W) + 3, holdLabels[k + 2] + HOLD_H / 2 + 0.5);
    }
    // Operations: runs of one colour each, see Runs.
    var runs = new Runs(), strokes = { fail: new Path2D(), info: new Path2D() }, labels = [];
    function add(col, x, y, w, hh) { runs.add(col, x, x + w, y, hh); }
    for (l = 0; l < nLanes; l++) {
      var ops = laneOps[l], oy = TOP + l * ROW_H + OP_Y;
      for (k = firstEndingAfter(ops, a); k < ops.length; k++) {
        var o = ops[k];
        if (O.s[o] > b) break;
        var x0 = xOf(O.s[o]), x1 = xOf(E[o]), wd = x1 - x0, oc = O.o[o];
        if (wd < 1.5) {
          // Several ops per pixel: successful ones merge into a neutral
          // "busy" run; failed and unknown ones still show in their colour.
          if (oc === 0) { runs.add(DENSE_OP, x0, x1, oy, OP_H); continue; }
          wd = 1.5;
        }
        if (oc === 0) add(D.fcol[O.f[o]], x0, oy, wd, OP_H);
        else if (oc === 1) {
          if (wd >= 5) { add("#fecaca", x0, oy, wd, OP_H); strokes.fail.rect(x0 + 0.75, oy + 0.75, wd - 1.5, OP_H - 1.5); }
          else add("#dc2626", x0, oy, wd, OP_H);
        } else {
          if (wd >= 5) { add("#fde68a", x0, oy, wd, OP_H); strokes.info.rect(x0 + 0.75, oy + 0.75, wd - 1.5, OP_H - 1.5); }
          else add("#d97706", x0, oy, wd, OP_H);
        }
        if (wd > 46) labels.push(o, x0, oy);
      }
    }
    runs.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#dc2626"; ctx.stroke(strokes.fail);
    ctx.setLineDash([3, 2]); ctx.strokeStyle = "#b45309"; ctx.stroke(strokes.info); ctx.setLineDash([]);
    ctx.lineWidth = 1;
    ctx.font = "10px system-ui, sans-serif";
    for (k = 0; k < labels.length; k += 3) {
      var lo = labels[k], oc2 = O.o[lo];
      ctx.fillStyle = oc2 === 0 ? "#fff" : oc2 === 1 ? "#991b1b" : "#78350f";
      var txt = D.fs[O.f[lo]] + (oc2 === 0 ? "" : " " + D.outcomes[oc2]) + (O.t[lo] >= 0 ? " " + O.t[lo] : "");
      ctx.fillText(txt, Math.max(labels[k + 1], LABEL_W) + 3, labels[k + 2] + OP_H / 2 + 0.5);
    }
    ctx.restore();
    // Lane labels.
    ctx.fillStyle = "#f1f5f9"; ctx.fillRect(0, AXIS_H, LABEL_W - 2, HEIGHT - AXIS_H);
    ctx.fillStyle = "#64748b"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "left";
    ctx.fillText("faults", 8, AXIS_H + FAULT_H * FAULT_ROWS / 2);
    ctx.fillStyle = "#0f172a"; ctx.font = "12px ui-monospace, monospace";
    for (l = 0; l < nLanes; l++) ctx.fillText(laneLabel(D.lanes[l]), 8, TOP + l * ROW_H + ROW_H / 2);
    ctx.fillStyle = "#cbd5e1"; ctx.fillRect(LABEL_W - 2, AXIS_H, 1, HEIGHT - AXIS_H);
    markers();
    rangeEl.textContent = "showing " + secs(view.a, 3) + " – " + secs(view.b, 3) + " of " + secs(END, 3);
  }

  // Where two selected holds of one key by different processes overlap (a
  // lost mutual exclusion, a split brain), shade the overlap across both lanes.
  function overlaps(ids) {
    for (var x = 0; x < ids.length; x++) {
      for (var z = x + 1; z < ids.length; z++) {
        var p = ids[x], q = ids[z];
        if (H.k[p] !== H.k[q] || H.p[p] === H.p[q]) continue;
        var s0 = Math.max(H.s[p], H.s[q]), e0 = Math.min(H.e[p], H.e[q]);
        if (s0 >= e0) continue;
        var l0 = Math.min(H.l[p], H.l[q]), l1 = Math.max(H.l[p], H.l[q]);
        var bx0 = xOf(s0), bx1 = Math.max(xOf(e0), bx0 + 2);
        var by0 = TOP + l0 * ROW_H + HOLD_Y - 2, by1 = TOP + l1 * ROW_H + HOLD_Y + HOLD_H + 2;
        ctx.globalAlpha = 0.22; ctx.fillStyle = "#dc2626"; ctx.fillRect(bx0, by0, bx1 - bx0, by1 - by0);
        ctx.globalAlpha = 1; ctx.strokeStyle = "#dc2626"; ctx.lineWidth = 1.5;
        ctx.strokeRect(bx0, by0, bx1 - bx0, by1 - by0); ctx.lineWidth = 1;
        var text = "overlap " + ((e0 - s0) / 1000).toFixed(1) + " ms";
        ctx.font = "bold 10px system-ui, sans-serif";
        var tw = ctx.measureText(text).width + 6, ty = by1 + 14 <= HEIGHT ? by1 + 1 : by0 - 14;
        ctx.fillStyle = "#dc2626"; ctx.fillRect(bx0, ty, tw, 13);
        ctx.fillStyle = "#fff"; ctx.fillText(text, bx0 + 3, ty + 7);
        ctx.font = "bold 9px system-ui, sans-serif";
      }
    }
  }

  // Selected ops get DOM markers over the canvas: easy to see and to test.
  function markers() {
    while (overlay.firstChild) overlay.removeChild(overlay.firstChild);
    var shown = 0, labelEnd = {};
    selected.slice().sort(function (p, q) { return O.s[p] - O.s[q]; }).forEach(function (o) {
      if (E[o] < view.a || O.s[o] > view.b) return;
      var x0 = Math.max(xOf(O.s[o]), LABEL_W), x1 = Math.min(Math.max(xOf(E[o]), x0 + 2), W);
      var m = document.createElement("div");
      m.className = "hl-marker";
      m.dataset.op = o;
      m.style.left = (x0 - 4) + "px"; m.style.width = (x1 - x0 + 8) + "px";
      m.style.top = (TOP + O.l[o] * ROW_H + OP_Y - 4) + "px"; m.style.height = (OP_H + 8) + "px";
      var s = document.createElement("span");
      s.textContent = "#" + O.i[o] + " p" + O.p[o] + " " + D.fs[O.f[o]];
      // A label that would cover its neighbour's goes below the op instead.
      var lane = O.l[o], width = s.textContent.length * 7 + 8;
      if (labelEnd[lane] !== undefined && x0 - 4 < labelEnd[lane]) s.style.top = (OP_H + 7) + "px";
      else labelEnd[lane] = x0 - 4 + width;
      m.appendChild(s);
      overlay.appendChild(m);
      shown++;
    });
    document.body.dataset.highlighted = shown;
  }

  function redraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
  function setView(a, b) {
    var span = Math.max(b - a, 10);
    var margin = END * 0.05;
    if (span > END + 2 * margin) { a = -margin; span = END + 2 * margin; }
    a = Math.max(-margin, Math.min(a, END + margin - span));
    view.a = a; view.b = a + span;
    redraw();
  }
  function zoom(factor, atX) {
    var t = atX === undefined ? (view.a + view.b) / 2 : tOf(atX);
    setView(t - (t - view.a) * factor, t + (view.b - t) * factor);
  }

  function describeOp(o) {
    var c = O.c[o] < 0 ? "—" : "#" + (O.i[o] + O.c[o]);
    var lines = [
      "p" + O.p[o] + " " + D.fs[O.f[o]] + " " + D.keys[O.k[o]] + " → " + D.outcomes[O.o[o]] + (O.t[o] >= 0 ? " (token " + O.t[o] + ")" : ""),
      "history #" + O.i[o] + " → " + c + " · invoked " + secs(O.s[o], 6) + (O.d[o] >= 0 ? " · took " + (O.d[o] / 1000).toFixed(3) + " ms" : " · never completed")
    ];
    if (O.x[o]) lines.push(D.extras[O.x[o]]);
    return lines.join("\n");
  }
  function describeHold(h) {
    return "p" + H.p[h] + (H.ld[h] ? " led " : " held ") + D.keys[H.k[h]] + (H.t[h] >= 0 ? (H.ld[h] ? " in term " : " with token ") + H.t[h] : "") +
      (H.c[h] ? "" : " (uncertain: the grant ended info)") + "\n" + secs(H.s[h], 6) + " → " + secs(H.e[h], 6);
  }
  function pick(x, y) {
    var l = Math.floor((y - TOP) / ROW_H);
    if (l < 0 || l >= nLanes || x < LABEL_W) return null;
    var inLane = y - TOP - l * ROW_H, t = tOf(x), tol = (view.b - view.a) / plotW() * 3;
    if (inLane >= HOLD_Y - 1) {
      var hs = laneHolds[l];
      for (var k = hs.length - 1; k >= 0; k--) {
        if (H.s[hs[k]] - tol <= t && t <= H.e[hs[k]] + tol) return describeHold(hs[k]);
      }
      return null;
    }
    var ops = laneOps[l], j = firstEndingAfter(ops, t - tol);
    if (j < ops.length && O.s[ops[j]] <= t + tol) return describeOp(ops[j]);
    return null;
  }

  function select(ops, scroll) {
    selected.forEach(function (o) { isSelected[o] = 0; });
    selected = ops.filter(function (o) { return o >= 0 && o < N; });
    selected.forEach(function (o) { isSelected[o] = 1; });
    Array.prototype.forEach.call(document.querySelectorAll("tr.op-row"), function (r) {
      r.classList.toggle("hl", selected.indexOf(+r.dataset.op) >= 0);
    });
    if (selected.length) {
      var s = Infinity, e = -Infinity;
      selected.forEach(function (o) { s = Math.min(s, O.s[o]); e = Math.max(e, O.d[o] < 0 ? O.s[o] : E[o]); });
      var pad = Math.max((e - s) * 0.6, END * 0.01, 2000);
      setView(s - pad, e + pad);
      detail.textContent = selected.map(describeOp).join("\n\n");
    }
    if (scroll) document.getElementById("timeline").scrollIntoView({ behavior: "smooth" });
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-ops],.op-link") : null;
    if (!el) return;
    ev.preventDefault();
    Array.prototype.forEach.call(document.querySelectorAll(".anomaly.selected"), function (c) { c.classList.remove("selected"); });
    var card = el.closest(".anomaly");
    if (card) card.classList.add("selected");
    var list = el.classList.contains("op-link") ? String(el.dataset.op) : String(el.dataset.ops || "");
    select(list.split(",").filter(function (s) { return s !== ""; }).map(Number), true);
  });
  document.getElementById("tl-fit").onclick = function () { setView(0, END); };
  document.getElementById("tl-in").onclick = function () { zoom(0.5); };
  document.getElementById("tl-out").onclick = function () { zoom(2); };
  document.getElementById("tl-sel").onclick = function () { if (selected.length) select(selected, false); };
  wrap.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = canvas.getBoundingClientRect();
    zoom(ev.deltaY > 0 ? 1.25 : 0.8, ev.clientX - r.left);
  }, { passive: false });
  var drag = null;
  wrap.addEventListener("mousedown", function (ev) {
    drag = { x: ev.clientX, a: view.a, b: view.b, moved: false };
    wrap.classList.add("dragging");
  });
  window.addEventListener("mouseup", function (ev) {
    if (drag && !drag.moved) {
      var r = canvas.getBoundingClientRect(), d = pick(ev.clientX - r.left, ev.clientY - r.top);
      if (d) detail.textContent = d;
    }
    drag = null; wrap.classList.remove("dragging");
  });
  window.addEventListener("mousemove", function (ev) {
    var r = canvas.getBoundingClientRect();
    if (drag) {
      var dx = ev.clientX - drag.x;
      if (Math.abs(dx) > 2) drag.moved = true;
      var dt = dx / plotW() * (drag.b - drag.a);
      setView(drag.a - dt, drag.b - dt);
      tip.hidden = true;
      return;
    }
    var x = ev.clientX - r.left, y = ev.clientY - r.top;
    var inside = x >= 0 && y >= 0 && x <= r.width && y <= r.height;
    var d = inside ? pick(x, y) : null;
    if (!d) { tip.hidden = true; return; }
    tip.textContent = d; tip.hidden = false;
    tip.style.left = Math.min(x + 14, W - 380) + "px"; tip.style.top = (y + 14) + "px";
  });
  window.addEventListener("resize", function () { resize(); redraw(); });

  // Log tails open at their last line, the one nearest the end of the run.
  Array.prototype.forEach.call(document.querySelectorAll("details.log pre"), function (p) { p.scrollTop = p.scrollHeight; });
  resize();
  if (D.anomalies.length && D.anomalies[0].ops.length) {
    var first = document.getElementById("anomaly-0");
    if (first) first.classList.add("selected");
    select(D.anomalies[0].ops, false);
  }
  draw();
  document.body.dataset.parseMs = Math.round(parseMs);
  document.body.dataset.readyMs = Math.round(performance.now());

  // `#bench` in the URL: time redraws over a zoom sweep, for the load test.
  if (location.hash === "#bench") {
    var times = [], saved = { a: view.a, b: view.b };
    view.a = 0; view.b = END;
    for (var z = 0; z < 16; z++) {
      var s0 = performance.now(); draw(); times.push(performance.now() - s0);
      var mid = (view.a + view.b) / 2, half = (view.b - view.a) / 3;
      view.a = mid - half; view.b = mid + half;
    }
    view.a = saved.a; view.b = saved.b; draw();
    document.body.dataset.redrawMs = times.map(function (x) { return x.toFixed(1); }).join(" ");
  }
})();
