/**
 * .ci/count.mjs, CI's closing line: fed sample vitest JSON reports (one of them a real report of a run
 * whose fork died), it must never print a green line for a run that was not green.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../.ci/count.mjs', import.meta.url));
const crashed = fileURLToPath(new URL('../fixtures/ci/vitest-crashed-fork.json', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ci-count-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Status = 'passed' | 'failed' | 'pending' | 'skipped' | 'todo';
/** A vitest-shaped JSON report: files as [name, file status, test statuses, file message]. */
function report(files: Array<[string, 'passed' | 'failed', Status[], string?]>, success?: boolean): string {
  const testResults = files.map(([name, status, tests, message]) => ({
    name: `/repo/test/${name}`,
    status,
    message: message ?? '',
    startTime: 0,
    endTime: 0,
    assertionResults: tests.map((s, i) => ({ ancestorTitles: [], fullName: `${name} t${i}`, title: `t${i}`, status: s, failureMessages: s === 'failed' ? ['boom'] : [] })),
  }));
  const all = testResults.flatMap((f) => f.assertionResults);
  return JSON.stringify({
    numPassedTests: all.filter((t) => t.status === 'passed').length,
    numFailedTests: all.filter((t) => t.status === 'failed').length,
    success: success ?? files.every(([, s, t]) => s === 'passed' && !t.includes('failed')),
    testResults,
  });
}

let n = 0;
function file(content: string): string {
  const p = join(dir, `r${n++}.json`);
  writeFileSync(p, content);
  return p;
}

/** Run the script; return its stdout lines, last line and exit code. */
function count(...runs: string[]): { lines: string[]; last: string; code: number | null } {
  const r = spawnSync(process.execPath, [script, ...runs], { encoding: 'utf8' });
  const lines = r.stdout.trim().split('\n');
  return { lines, last: lines[lines.length - 1] ?? '', code: r.status };
}

describe('.ci/count.mjs', () => {
  it('a green run: the plain line, exit 0; skipped and todo tests count neither way', () => {
    const p = file(report([['a.test.ts', 'passed', ['passed', 'passed', 'skipped', 'todo']], ['b.test.ts', 'passed', ['passed']]]));
    const r = count(`node20:0:${p}`);
    expect(r.lines).toEqual(['3 passed, 0 failed']);
    expect(r.code).toBe(0);
  });

  it('failed tests are counted and named', () => {
    const p = file(report([['a.test.ts', 'failed', ['passed', 'failed', 'failed']]]));
    const r = count(`node20:1:${p}`);
    expect(r.last).toBe('1 passed, 2 failed');
    expect(r.lines.filter((l) => l.startsWith('node20: FAIL /repo/test/a.test.ts > a.test.ts t'))).toHaveLength(2);
    expect(r.code).toBe(1);
  });

  it('the real report of a run whose fork died: the tests that never ran and the broken files count as failed', () => {
    // numPassedTests 2, numFailedTests 0 in that report: the old line said "2 passed, 0 failed".
    const raw = JSON.parse(readFileSync(crashed, 'utf8')) as { numPassedTests: number; numFailedTests: number };
    expect([raw.numPassedTests, raw.numFailedTests]).toEqual([2, 0]);
    const r = count(`node20:1:${crashed}`);
    // a: 3 never ran (fork SIGKILLed); c: failed to load; d: afterAll threw.
    expect(r.last).toBe('2 passed, 5 failed');
    expect(r.lines.some((l) => /NOT RUN \/repo\/test\/a\.test\.ts: 3 test\(s\) never ran/.test(l))).toBe(true);
    expect(r.lines.some((l) => /FAIL \/repo\/test\/c\.test\.ts \(file\): Cannot find module/.test(l))).toBe(true);
    expect(r.lines.some((l) => /FAIL \/repo\/test\/d\.test\.ts \(file\): teardown boom/.test(l))).toBe(true);
    expect(r.code).toBe(1);
  });

  it('the same crash with vitest exiting 0 still fails (the report alone decides)', () => {
    expect(count(`node20:0:${crashed}`)).toMatchObject({ last: '2 passed, 5 failed', code: 1 });
  });

  it('vitest exits non-zero with nothing counted (an unhandled error between tests): at least 1 failed', () => {
    const p = file(report([['a.test.ts', 'passed', ['passed', 'passed']]]));
    const r = count(`node20:1:${p}`);
    expect(r.last).toBe('2 passed, 1 failed');
    expect(r.lines).toContain('node20: vitest exited 1 with no failed test counted');
    expect(r.code).toBe(1);
  });

  it('a report that says success: false with nothing else counted: 1 failed', () => {
    const p = file(report([['a.test.ts', 'passed', ['passed']]], false));
    expect(count(`node20:0:${p}`)).toMatchObject({ last: '1 passed, 1 failed', code: 1 });
  });

  it('no report, an unreadable one, or one without test files: failed', () => {
    expect(count(`node20:0:${join(dir, 'missing.json')}`)).toMatchObject({ last: '0 passed, 1 failed', code: 1 });
    expect(count(`node20:0:${file('{"testResults": [')}`)).toMatchObject({ last: '0 passed, 1 failed', code: 1 });
    expect(count(`node20:0:${file(report([]))}`)).toMatchObject({ last: '0 passed, 1 failed', code: 1 });
    expect(count()).toMatchObject({ last: '0 passed, 1 failed', code: 1 });
  });

  it('several runs (one per Node version): a line per run, then the sum as the plain last line', () => {
    const ok = file(report([['a.test.ts', 'passed', ['passed', 'passed']]]));
    const r = count(`node20:0:${ok}`, `node22:1:${crashed}`, `node24:0:${ok}`);
    expect(r.lines.slice(-4)).toEqual(['node20: 2 passed, 0 failed', 'node22: 2 passed, 5 failed', 'node24: 2 passed, 0 failed', '6 passed, 5 failed']);
    expect(r.code).toBe(1);
    const green = count(`node20:0:${ok}`, `node22:0:${ok}`);
    expect(green.last).toBe('4 passed, 0 failed');
    expect(green.code).toBe(0);
  });
});
