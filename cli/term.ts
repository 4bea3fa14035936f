/**
 * Terminal output helpers: a status line that rewrites itself on a TTY and prints plain lines (at
 * most one per interval) otherwise; number formatting; a small table.
 */

/** 12,345 */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Milliseconds with about three significant digits. */
export function ms(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  if (n >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** 1.23k / 4.5M */
export function short(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 1 : 2)}M`;
  if (n >= 1e4) {
    const k = n / 1e3;
    return `${k >= 99.95 ? k.toFixed(0) : k.toFixed(1)}k`;
  }
  return int(n);
}

/** Bytes per second as B/s, KB/s, MB/s (decimal). */
export function bytesPerSec(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB/s`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB/s`;
  return `${n.toFixed(0)} B/s`;
}

/** Text table: first row is the header; columns after the first are right-aligned. */
export function table(rows: string[][], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => indent + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function bar(done: number, total: number, width = 30): string {
  const f = total <= 0 ? 1 : Math.min(1, done / total);
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

/**
 * A status line on `stream`: on a TTY each `update` rewrites the line (at most every `ttyEveryMs`);
 * otherwise `update` prints a new line at most every `plainEveryMs`. `done` prints the final text on
 * its own line either way. `quiet` prints nothing.
 */
export class StatusLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #quiet: boolean;
  readonly #plainEveryMs: number;
  readonly #ttyEveryMs: number;
  #last = -Infinity;
  #dirty = false;

  constructor(stream: NodeJS.WriteStream, opts: { quiet?: boolean; plainEveryMs?: number; ttyEveryMs?: number } = {}) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
    this.#quiet = opts.quiet ?? false;
    this.#plainEveryMs = opts.plainEveryMs ?? 1000;
    this.#ttyEveryMs = opts.ttyEveryMs ?? 100;
  }

  get isTTY(): boolean {
    return this.#tty;
  }

  /** `text` is a function so that nothing is formatted when nothing is printed. */
  update(text: () => string, force = false): void {
    if (this.#quiet) return;
    const now = performance.now();
    if (!force && now - this.#last < (this.#tty ? this.#ttyEveryMs : this.#plainEveryMs)) return;
    this.#last = now;
    if (this.#tty) {
      const cols = this.#stream.columns || 120;
      this.#stream.write(`\r${text().slice(0, Math.max(20, cols - 1))}\x1b[K`);
      this.#dirty = true;
    } else {
      this.#stream.write(`${text()}\n`);
    }
  }

  /** End the status line with `text` on a line of its own. */
  done(text: string): void {
    if (this.#quiet) return;
    if (this.#tty && this.#dirty) this.#stream.write('\r\x1b[K');
    this.#dirty = false;
    this.#stream.write(`${text}\n`);
    this.#last = -Infinity;
  }

  /** Clear a TTY status line (before other output). */
  clear(): void {
    if (this.#tty && this.#dirty) this.#stream.write('\r\x1b[K');
    this.#dirty = false;
  }
}
