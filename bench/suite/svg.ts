/**
 * Hand-written SVG charts for RESULTS.md: bars with min–max whiskers, and line charts with optional
 * log axes (S3's tick lateness over time). No dependencies. The latency-by-percentile chart (S2) is not
 * drawn here: it is `ringsocket load`'s writer, cli/svg.ts, which this file also takes `esc` from.
 */
import { esc } from '../../cli/svg.js';

export const COLORS: Record<string, string> = {
  ringsocket: '#d62728',
  'ws-main': '#1f77b4',
  'uws-main': '#2ca02c',
  'ws-worker-postmessage': '#9467bd',
};

const W = 720;
const H = 360;
const PAD = { l: 70, r: 20, t: 40, b: 70 };
const FONT = 'font-family="sans-serif" font-size="12"';
const TITLE_FONT = 'font-family="sans-serif" font-size="14" font-weight="bold"';

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 1 || a === 0) return `${+v.toPrecision(3)}`;
  return `${+v.toPrecision(2)}`;
}

function frame(title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" ${TITLE_FONT}>${esc(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function niceLinearTicks(max: number, n = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(v);
  if (out[out.length - 1]! < max) out.push(out[out.length - 1]! + step);
  return out;
}

export interface Bar {
  label: string;
  median: number;
  min: number;
  max: number;
  color: string;
}

/** Vertical bars (median) with min–max whiskers. */
export function barChart(title: string, yLabel: string, bars: Bar[]): string {
  const valid = bars.filter((b) => Number.isFinite(b.median));
  const top = Math.max(1e-9, ...valid.map((b) => (Number.isFinite(b.max) ? b.max : b.median)));
  const ticks = niceLinearTicks(top);
  const yMax = ticks[ticks.length - 1]!;
  const pw = W - PAD.l - PAD.r;
  const ph = H - PAD.t - PAD.b;
  const y = (v: number) => PAD.t + ph - (v / yMax) * ph;
  const body: string[] = [];
  for (const t of ticks) {
    body.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>`);
    body.push(`<text x="${PAD.l - 6}" y="${y(t) + 4}" text-anchor="end" ${FONT}>${fmtTick(t)}</text>`);
  }
  body.push(`<text transform="translate(16 ${PAD.t + ph / 2}) rotate(-90)" text-anchor="middle" ${FONT}>${esc(yLabel)}</text>`);
  const slot = pw / Math.max(1, bars.length);
  bars.forEach((b, i) => {
    const cx = PAD.l + slot * (i + 0.5);
    const bw = Math.min(80, slot * 0.6);
    if (Number.isFinite(b.median)) {
      body.push(`<rect x="${cx - bw / 2}" y="${y(b.median)}" width="${bw}" height="${PAD.t + ph - y(b.median)}" fill="${b.color}" opacity="0.85"/>`);
      if (Number.isFinite(b.min) && Number.isFinite(b.max) && b.max > b.min) {
        body.push(`<line x1="${cx}" x2="${cx}" y1="${y(b.min)}" y2="${y(b.max)}" stroke="black"/>`);
        body.push(`<line x1="${cx - 8}" x2="${cx + 8}" y1="${y(b.min)}" y2="${y(b.min)}" stroke="black"/>`);
        body.push(`<line x1="${cx - 8}" x2="${cx + 8}" y1="${y(b.max)}" y2="${y(b.max)}" stroke="black"/>`);
      }
      body.push(`<text x="${cx}" y="${y(b.median) - 6}" text-anchor="middle" ${FONT}>${fmtTick(b.median)}</text>`);
    } else {
      body.push(`<text x="${cx}" y="${PAD.t + ph - 6}" text-anchor="middle" ${FONT}>n/a</text>`);
    }
    body.push(`<text x="${cx}" y="${H - PAD.b + 18}" text-anchor="middle" ${FONT}>${esc(b.label)}</text>`);
  });
  body.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${PAD.t + ph}" y2="${PAD.t + ph}" stroke="black"/>`);
  return frame(title, body);
}

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
}

export interface Axis {
  label: string;
  /** 'linear' or 'log' (base 10). */
  scale: 'linear' | 'log';
}

function toAxis(v: number, a: Axis): number {
  if (a.scale === 'log') return Math.log10(Math.max(v, 1e-3));
  return v;
}

function axisTicks(lo: number, hi: number, a: Axis): { at: number; label: string }[] {
  if (a.scale === 'log') {
    const out: { at: number; label: string }[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) out.push({ at: e, label: fmtTick(10 ** e) });
    return out;
  }
  return niceLinearTicks(hi).map((v) => ({ at: v, label: fmtTick(v) }));
}

export function lineChart(title: string, x: Axis, y: Axis, series: Series[]): string {
  const pts = series.flatMap((s) => s.points).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  const xs = pts.map(([a]) => toAxis(a, x));
  const ys = pts.map(([, b]) => toAxis(b, y));
  let x0 = x.scale === 'log' ? Math.floor(Math.min(...xs)) : 0;
  let x1 = x.scale === 'log' ? Math.ceil(Math.max(...xs)) : Math.max(...xs);
  let y0 = y.scale === 'log' ? Math.floor(Math.min(...ys)) : 0;
  let y1 = y.scale === 'log' ? Math.ceil(Math.max(...ys)) : Math.max(...ys);
  if (pts.length === 0) [x0, x1, y0, y1] = [0, 1, 0, 1];
  const xt = axisTicks(x0, x1, x);
  const yt = axisTicks(y0, y1, y);
  if (x.scale === 'linear') x1 = xt[xt.length - 1]!.at;
  if (y.scale === 'linear') y1 = yt[yt.length - 1]!.at;
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const pw = W - PAD.l - PAD.r;
  const ph = H - PAD.t - PAD.b;
  const px = (v: number) => PAD.l + ((v - x0) / (x1 - x0)) * pw;
  const py = (v: number) => PAD.t + ph - ((v - y0) / (y1 - y0)) * ph;
  const body: string[] = [];
  for (const t of yt) {
    body.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${py(t.at)}" y2="${py(t.at)}" stroke="#ddd"/>`);
    body.push(`<text x="${PAD.l - 6}" y="${py(t.at) + 4}" text-anchor="end" ${FONT}>${t.label}</text>`);
  }
  for (const t of xt) {
    body.push(`<line x1="${px(t.at)}" x2="${px(t.at)}" y1="${PAD.t}" y2="${PAD.t + ph}" stroke="#eee"/>`);
    body.push(`<text x="${px(t.at)}" y="${PAD.t + ph + 16}" text-anchor="middle" ${FONT}>${t.label}</text>`);
  }
  body.push(`<rect x="${PAD.l}" y="${PAD.t}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  body.push(`<text x="${PAD.l + pw / 2}" y="${H - PAD.b + 34}" text-anchor="middle" ${FONT}>${esc(x.label)}</text>`);
  body.push(`<text transform="translate(16 ${PAD.t + ph / 2}) rotate(-90)" text-anchor="middle" ${FONT}>${esc(y.label)}</text>`);
  series.forEach((s, i) => {
    const path = s.points
      .filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b))
      .map(([a, b]) => `${px(toAxis(a, x)).toFixed(1)},${py(toAxis(b, y)).toFixed(1)}`)
      .join(' ');
    if (path !== '') body.push(`<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    const lx = 20 + (i % 4) * 160;
    const ly = H - 14;
    body.push(`<line x1="${lx}" x2="${lx + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`);
    body.push(`<text x="${lx + 26}" y="${ly}" ${FONT}>${esc(s.label)}</text>`);
  });
  return frame(title, body);
}
