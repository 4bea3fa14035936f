/**
 * `ringsocket demo` runs examples/demo.ts (dist/examples/demo.js) with the words after `demo`: a short
 * run ends with exit 0 and a side-by-side summary; a flag the demo rejects makes the command fail.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runCli } from './run-cli.js';

afterEach(killAll);

describe('ringsocket demo', () => {
  it('runs the demo to the end with the flags given (short run): exit 0, both implementations reported', async () => {
    const r = await runCli(['demo', '--seconds', '1', '--clients', '4'], 50_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ringsocket/);
    expect(r.stdout).toMatch(/\bws\b/);
  });

  it('passes its flags through: a value the demo rejects fails the command', async () => {
    const r = await runCli(['demo', '--seconds', 'soon'], 30_000);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toMatch(/seconds/);
  });
});
