// The Charts tab's canvases: line charts on one shared time axis, the client's and the server's,
// with the marks of every change. Loaded before app.js, whose state (hist, app) and helpers it
// reads when it draws; it defines only functions and constants when it loads.
'use strict';

// ---------------------------------------------------------------- charts
const COLORS = ['#2563eb', '#e5484d', '#16a34a', '#f59e0b', '#8e4ec6', '#0891b2', '#d6409f', '#6b7280'];
// The same margins on every chart so that their time axes line up one above the other.
const PAD = { l: 56, r: 56, t: 26, b: 24 };
function niceStep(span, count) {
  const raw = span / Math.max(1, count), mag = 10 ** Math.floor(Math.log10(raw)), f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}
// Time ticks on whole minutes once the run is long enough.
const timeStep = (span, count) => [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]
  .find((s) => s >= span / Math.max(1, count)) || niceStep(span, count);
const fmtTick = (v) => (v >= 1e6 ? `${round(v / 1e6, 1)}M` : v >= 1e4 ? `${round(v / 1e3, 1)}k` : String(round(v, 2)));

function line(g, x0, y0, x1, y1) { g.beginPath(); g.moveTo(x0, y0); g.lineTo(x1, y1); g.stroke(); }

class Chart {
  constructor(canvas) {
    Object.assign(this, { canvas, series: [], marks: [], xmax: 10, hover: null });
    canvas.addEventListener('mousemove', (e) => { this.hover = e.offsetX; this.draw(); });
    canvas.addEventListener('mouseleave', () => { this.hover = null; this.draw(); });
  }

  // The right axis gets the left one's number of intervals, so one set of grid lines serves both.
  axis(side, h, intervals) {
    let max = 0;
    for (const s of this.series) if (s.axis === side) for (const v of s.ys) if (isNum(v) && v > max) max = v;
    const step = niceStep(max || 1, intervals || Math.max(2, Math.floor((h - PAD.t - PAD.b) / 40)));
    const top = intervals ? step * intervals : Math.max(step, Math.ceil(max / step) * step);
    return { step, top, y: (v) => h - PAD.b - (h - PAD.b - PAD.t) * (v / top) };
  }

  draw() {
    const c = this.canvas, w = c.parentElement.clientWidth, h = c.parentElement.clientHeight;
    if (!w || !h) return; // a hidden tab: drawn when it is shown
    const dpr = window.devicePixelRatio || 1;
    // Backing store in device pixels, drawn in CSS pixels: sharp lines on a HiDPI screen.
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) Object.assign(c, { width: Math.round(w * dpr), height: Math.round(h * dpr) });
    const g = Object.assign(c.getContext('2d'), { font: '11px system-ui, sans-serif', lineWidth: 1 });
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const x = (t) => PAD.l + (w - PAD.l - PAD.r) * (t / this.xmax);
    const left = this.axis('l', h);
    const right = this.series.some((s) => s.axis === 'r') ? this.axis('r', h, Math.round(left.top / left.step)) : null;
    this.drawGrid(g, w, h, x, left, right);
    this.drawMarks(g, h, x);
    for (const s of this.series) this.drawSeries(g, s, x, s.axis === 'r' ? right : left);
    this.drawLegend(g, w);
    if (this.hover != null) this.drawHover(g, w, h);
  }

  drawGrid(g, w, h, x, left, right) {
    Object.assign(g, { strokeStyle: '#e5e7eb', fillStyle: '#6b7280', textBaseline: 'middle', textAlign: 'right' });
    for (let v = 0; v <= left.top + 1e-9; v += left.step) {
      const y = Math.round(left.y(v)) + 0.5;
      line(g, PAD.l, y, w - PAD.r, y);
      g.fillText(fmtTick(v), PAD.l - 6, y);
    }
    g.textAlign = 'left';
    if (right) for (let v = 0; v <= right.top + 1e-9; v += right.step) g.fillText(fmtTick(v), w - PAD.r + 6, right.y(v));
    const step = timeStep(this.xmax, Math.floor((w - PAD.l - PAD.r) / 80));
    Object.assign(g, { textAlign: 'center', textBaseline: 'top' });
    for (let t = 0; t <= this.xmax + 1e-9; t += step) {
      const px = Math.round(x(t)) + 0.5;
      line(g, px, h - PAD.b, px, h - PAD.b + 4);
      g.fillText(`${fmtTick(t)} s`, px, h - PAD.b + 6);
    }
    g.strokeStyle = '#9ca3af';
    line(g, PAD.l + 0.5, PAD.t, PAD.l + 0.5, h - PAD.b + 0.5);
    line(g, PAD.l, h - PAD.b + 0.5, w - PAD.r, h - PAD.b + 0.5);
  }

  // A label takes the first of three rows where it fits after the previous label; else only the line.
  drawMarks(g, h, x) {
    const rowsEnd = [-Infinity, -Infinity, -Infinity];
    Object.assign(g, { textAlign: 'left', textBaseline: 'top' });
    for (const m of this.marks) {
      if (m.t < 0 || m.t > this.xmax) continue;
      const px = Math.round(x(m.t)) + 0.5;
      g.strokeStyle = '#9ca3af';
      g.setLineDash([4, 4]); line(g, px, PAD.t, px, h - PAD.b); g.setLineDash([]);
      const width = g.measureText(m.label).width, r = rowsEnd.findIndex((end) => px + 3 > end);
      if (r < 0) continue;
      rowsEnd[r] = px + width + 10;
      const y = PAD.t + 2 + r * 14;
      g.fillStyle = 'rgba(255,255,255,0.85)'; g.fillRect(px + 2, y - 1, width + 4, 13);
      g.fillStyle = '#4b5563'; g.fillText(m.label, px + 4, y);
    }
  }

  drawSeries(g, s, x, axis) {
    Object.assign(g, { strokeStyle: s.color, lineWidth: 1.75, lineJoin: 'round' });
    g.beginPath();
    let pen = false;
    // A null is a gap (a monitor that did not answer), not a drop to zero.
    s.ys.forEach((v, i) => {
      if (isNum(v)) g[pen ? 'lineTo' : 'moveTo'](x(s.xs[i]), axis.y(v));
      pen = isNum(v);
    });
    g.stroke();
    g.lineWidth = 1;
  }

  drawLegend(g, w) {
    let px = PAD.l;
    Object.assign(g, { textAlign: 'left', textBaseline: 'middle' });
    for (const s of this.series) {
      const label = s.axis === 'r' ? `${s.name} (right axis)` : s.name;
      const width = g.measureText(label).width + 26;
      if (px + width > w - PAD.r && px > PAD.l) break;
      g.fillStyle = s.color; g.fillRect(px, 9, 12, 4);
      g.fillStyle = '#374151'; g.fillText(label, px + 16, 11);
      px += width;
    }
  }

  drawHover(g, w, h) {
    const t = ((this.hover - PAD.l) / (w - PAD.l - PAD.r)) * this.xmax;
    if (t < 0 || t > this.xmax) return;
    const value = (s) => { const i = s.xs.findIndex((x) => x >= t); return s.ys[i < 0 ? s.ys.length - 1 : i]; };
    const lines = [`${round(t, 1)} s`, ...this.series.filter((s) => s.xs.length)
      .map((s) => `${s.name}: ${isNum(value(s)) ? round(value(s), 2) : '-'}`)];
    g.strokeStyle = '#6b7280';
    line(g, this.hover + 0.5, PAD.t, this.hover + 0.5, h - PAD.b);
    const bw = Math.max(...lines.map((l) => g.measureText(l).width)) + 12, bh = lines.length * 14 + 6;
    const bx = this.hover + 10 + bw > w ? this.hover - 10 - bw : this.hover + 10;
    Object.assign(g, { fillStyle: 'rgba(255,255,255,0.95)', strokeStyle: '#d1d5db' });
    g.fillRect(bx, PAD.t, bw, bh); g.strokeRect(bx + 0.5, PAD.t + 0.5, bw, bh);
    Object.assign(g, { fillStyle: '#111827', textAlign: 'left', textBaseline: 'top' });
    lines.forEach((l, i) => g.fillText(l, bx + 6, PAD.t + 4 + i * 14));
  }
}

const charts = {};
const seriesOf = (name, color, xs, ys, axis = 'l') => ({ name, color, xs, ys, axis });
const anyValue = (s) => s.ys.some(isNum);

// Every chart's series from what hist holds. Server charts keep only the series with data.
function chartSeries() {
  const P = hist.points, S = hist.server, pt = P.map((p) => p.t), st = S.map((s) => s.t);
  const fromP = (k) => P.map((p) => (isNum(p[k]) ? p[k] : null));
  const fromS = (f) => S.map((s) => { const v = f(s); return isNum(v) ? v : null; });
  const server = (list) => list.map(([name, color, f, axis]) => seriesOf(name, color, st, fromS(f), axis)).filter(anyValue);
  const procs = [...new Set(S.flatMap((s) => (s.processes || []).map((p) => p.name)))];
  const perProc = (key, k) => server(procs.map((n, i) => [n, COLORS[i % COLORS.length],
    (s) => scaled(((s.processes || []).find((p) => p.name === n) || {})[key], k)]));
  return {
    'chart-rps': [seriesOf('RPS', COLORS[2], pt, fromP('rps')), seriesOf('Failures/s', COLORS[1], pt, fromP('fail_per_s'))],
    'chart-times': [seriesOf('p50', COLORS[0], pt, fromP('p50')), seriesOf('p95', COLORS[3], pt, fromP('p95')),
      seriesOf('p99', COLORS[4], pt, fromP('p99'))],
    'chart-users': [seriesOf('Users', COLORS[0], pt, fromP('users'))],
    'chart-db': server([['active', COLORS[0], (s) => s.db?.active], ['idle', COLORS[2], (s) => s.db?.idle],
      ['idle in transaction', COLORS[3], (s) => s.db?.idle_in_transaction], ['lock waiting', COLORS[1], (s) => s.db?.lock_waiting],
      ['in database', COLORS[7], (s) => s.db?.in_database]]),
    'chart-pool': server([['in use', COLORS[0], (s) => s.pool?.in_use], ['waiting', COLORS[1], (s) => s.pool?.waiting],
      ['max', COLORS[7], (s) => s.pool?.max]]),
    'chart-redis': server([['used memory MB', COLORS[4], (s) => scaled(s.redis?.used_memory, 1 / MB)],
      ['hit ratio %', COLORS[5], (s) => scaled(s.redis?.hit_ratio, 100), 'r']]),
    'chart-jobs': server([['backlog', COLORS[3], (s) => s.jobs_backlog]]),
    'chart-cpu': perProc('cpu_percent', 1),
    'chart-rss': perProc('rss_bytes', 1 / MB),
  };
}

let chartFrame = 0;
function scheduleCharts() {
  if (chartFrame || app.tab !== 'panel-charts') return;
  chartFrame = requestAnimationFrame(() => { chartFrame = 0; drawCharts(); });
}

function drawCharts() {
  const xmax = Math.max(10, ...seriesEnds()), all = chartSeries();
  $('server-note').hidden = hist.server.length > 0;
  for (const [id, series] of Object.entries(all)) {
    const card = $(id).closest('.chart-card');
    if (card.classList.contains('server-chart')) card.hidden = !series.length;
    if (card.hidden) continue;
    const chart = charts[id] || (charts[id] = new Chart($(id)));
    Object.assign(chart, { series, xmax, marks: hist.marks });
    chart.draw();
  }
}
