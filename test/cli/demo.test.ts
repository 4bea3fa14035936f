/**
 * `ringsocket demo` calls examples/demo.ts's exported runDemo with the flags given: a short run ends
 * with exit 0 and a side-by-side summary of both implementations; bad demo flags are usage errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, lines, runCli } from './run-cli.js';

afterEach(killAll);

describe('ringsocket demo', () => {
  it('runs the demo to the end with the flags given (short run): exit 0, both implementations reported', async () => {
    const r = await runCli(['demo', '--seconds', '2', '--clients', '4'], 50_000);
    expect(r.code, r.stderr).toBe(0);
    // The flags reached the demo: its header names them.
    expect(r.stdout).toMatch(/^ringsocket demo: 4 clients, .*, 2 s per implementation/m);
    // The side-by-side summary: a header row with both names, then the rows.
    expect(r.stdout).toMatch(/^\s+ringsocket\s+ws$/m);
    expect(r.stdout).toMatch(/^tick lateness p99\s+[\d.]+ ms\s+[\d.]+ ms$/m);
    // It ends with one plain sentence saying what was seen: main-thread time and tick lateness of both.
    const last = lines(r.stdout).at(-1)!;
    expect(last).toMatch(
      /^What you saw \(\d+ s\): with 4 clients and 8 ms of game work per tick, networking took \d+ ms of each second of the main thread with ringsocket against \d+ ms with ws( \([\d.]+× (less|more)\))?, and the ticks ran late by [\d.]+ ms at p99 with ringsocket against [\d.]+ ms with ws \(\d+ against \d+ tick slots missed\)\.$/,
    );
  });

  it('the first status row, still in the warm-up, says so instead of printing NaN', async () => {
    // 4 s runs: the first second is warm-up, and the first status row comes at 1 s.
    const r = await runCli(['demo', '--seconds', '4', '--clients', '4'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/NaN/);
    expect(r.stdout).toMatch(/^ {2}\[ringsocket\] +1 s .*(tick lateness: warming up, not counted yet|tick lateness p50 [\d.]+ ms)/m);
  });

  it.each<[string, string[], RegExp]>([
    ['non-numeric value', ['--seconds', 'soon'], /--seconds: not an integer: "soon"/],
    ['unknown flag', ['--client', '4'], /unknown flag --client/],
    ['zero', ['--hz', '0'], /--hz must be at least 1/],
    ['the internal child mode', ['--echo-server'], /unknown flag --echo-server/],
  ])('%s: exit 2, one line on stderr, the demo not started', async (_what, args, message) => {
    const r = await runCli(['demo', ...args], 30_000);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([expect.stringMatching(message)]);
  });
});
