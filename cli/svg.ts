/**
 * A latency percentile chart as a standalone SVG (no dependencies): latency (ms, linear) against
 * percentile on a "nines" axis (0, 90, 99, 99.9, … %), the way HdrHistogram plots are read. One
 * polyline per series. `ringsocket load --histogram` draws it, and so does the bench suite for its S2
 * RTT distribution (with a log latency axis): one writer for the one latency chart. The suite's other
 * charts (bars, tick lateness over time) are its own (bench/suite/svg.ts).
 */

export interface Series {
  name: string;
  color: string;
  /** [percentile 0..100, latency ms] points, percentiles ascending. */
  points: [number, number][];
}

const W = 760;
const H = 420;
const M = { left: 64, right: 170, top: 56, bottom: 52 };

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** x position of a percentile: log10(1 / (1 - p)), capped at `maxNines`. */
function nines(p: number, maxNines: number): number {
  if (p >= 100) return maxNines;
  return Math.min(maxNines, Math.log10(1 / (1 - p / 100)));
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return String(Number(v.toPrecision(3)));
}

/** Percentiles to sample a histogram at, dense towards the tail, up to `maxNines` nines. */
export function samplePercentiles(maxNines: number, steps = 120): number[] {
  const out: number[] = [];
  for (let i = 0; i <= steps; i++) out.push(100 * (1 - Math.pow(10, -(maxNines * i) / steps)));
  out.push(100);
  return out;
}

/** Nines the axis shows for `count` samples: one more nine per tenfold samples, 2..6. */
export function ninesFor(count: number): number {
  return Math.max(2, Math.min(6, Math.floor(Math.log10(Math.max(1, count)))));
}

/** The latency axis: linear from 0 with nice steps, or (`log`) whole decades, values floored at 1 µs. */
function latencyAxis(series: Series[], log: boolean, ph: number): { y: (v: number) => number; ticks: number[] } {
  let yMax = 0;
  let yMin = Infinity;
  for (const s of series) for (const [, v] of s.points) if (Number.isFinite(v)) [yMax, yMin] = [Math.max(yMax, v), Math.min(yMin, v)];
  if (log) {
    const lo = Math.floor(Math.log10(Math.max(1e-3, Number.isFinite(yMin) ? yMin : 1)));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(1e-3, yMax))));
    const ticks: number[] = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    return { y: (v) => M.top + ph - ((Math.log10(Math.max(1e-3, v)) - lo) / (hi - lo)) * ph, ticks };
  }
  if (!(yMax > 0)) yMax = 1;
  const step = niceStep(yMax, 6);
  yMax = Math.ceil((yMax * 1.02) / step) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= yMax + step / 2; v += step) ticks.push(v);
  return { y: (v) => M.top + ph - (v / yMax) * ph, ticks };
}

export function percentileChartSvg(title: string, subtitle: string[], series: Series[], maxNines: number, opts: { logLatency?: boolean } = {}): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const { y, ticks } = latencyAxis(series, opts.logLatency === true, ph);
  const x = (p: number) => M.left + (nines(p, maxNines) / maxNines) * pw;

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${M.left}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`);
  subtitle.forEach((line, i) => parts.push(`<text x="${M.left}" y="${33 + i * 14}" fill="#555">${esc(line)}</text>`));
  // Grid and axes.
  for (const v of ticks) {
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${M.left}" y1="${yy}" x2="${M.left + pw}" y2="${yy}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${M.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  for (let n = 0; n <= maxNines; n++) {
    const p = n === 0 ? 0 : 100 * (1 - Math.pow(10, -n));
    const xx = x(p).toFixed(1);
    parts.push(`<line x1="${xx}" y1="${M.top}" x2="${xx}" y2="${M.top + ph}" stroke="#e4e4e4"/>`);
    const label = n === 0 ? '0%' : `${Number(p.toFixed(n))}%`;
    parts.push(`<text x="${xx}" y="${M.top + ph + 16}" text-anchor="middle">${label}</text>`);
  }
  parts.push(`<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="#333"/>`);
  parts.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="#333"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">percentile</text>`);
  parts.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">latency (ms${opts.logLatency === true ? ', log' : ''})</text>`);
  // Series and legend.
  series.forEach((s, i) => {
    const pts = s.points.map(([p, v]) => `${x(p).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${esc(s.color)}" stroke-width="2" points="${pts}"><title>${esc(s.name)}</title></polyline>`);
    const ly = M.top + 10 + i * 18;
    parts.push(`<line x1="${M.left + pw + 14}" y1="${ly}" x2="${M.left + pw + 34}" y2="${ly}" stroke="${esc(s.color)}" stroke-width="2"/>`);
    parts.push(`<text x="${M.left + pw + 40}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
