#!/usr/bin/env node
// CI's closing line from vitest JSON reports, counted so that it never looks green when the run was not.
//
//   node .ci/count.mjs LABEL:STATUS:REPORT [LABEL:STATUS:REPORT ...]
//
// One argument per vitest run: a label (e.g. node20), vitest's exit status, the path of its JSON report
// (reporter `json`). Prints the failures found, then one line per run when there are several, and ends
// with the plain line `N passed, N failed` (summed over the runs). Exits 0 only when nothing failed.
//
// What counts as failed, per run:
//  - a test whose status is "failed";
//  - a test that did not run ("pending": vitest reports this for every test of a file whose fork died,
//    "Worker exited unexpectedly", even the ones that had passed before the crash);
//  - a file that failed with no failed test in it (failed to load, error in a hook outside any test);
//  - no report, or one that cannot be read or holds no test file: 1;
//  - vitest exited non-zero (or the report says success: false) yet nothing above was counted: 1
//    (e.g. an unhandled error between tests).
// Tests skipped on purpose (`it.skip`, `skipIf`) and todos count neither way.
import { readFileSync } from 'node:fs';

/**
 * Count one run. `report` is the parsed JSON (or null when missing or unreadable), `status` vitest's exit
 * status. Returns { passed, failed, problems } where problems are human-readable lines.
 */
export function countRun(report, status, unreadable = '') {
  const problems = [];
  if (report === null || typeof report !== 'object' || !Array.isArray(report.testResults)) {
    problems.push(`no usable JSON report${unreadable ? ` (${unreadable})` : ''}`);
    return { passed: 0, failed: 1, problems };
  }
  let passed = 0;
  let failed = 0;
  if (report.testResults.length === 0) {
    problems.push('the report holds no test file');
    failed++;
  }
  for (const file of report.testResults) {
    const name = String(file.name ?? '?');
    const tests = Array.isArray(file.assertionResults) ? file.assertionResults : [];
    let fileFailed = 0;
    let notRun = 0;
    for (const t of tests) {
      if (t.status === 'passed') passed++;
      else if (t.status === 'failed') {
        fileFailed++;
        problems.push(`FAIL ${name} > ${t.fullName ?? t.title}`);
      } else if (t.status === 'pending') notRun++;
    }
    if (notRun > 0) problems.push(`NOT RUN ${name}: ${notRun} test(s) never ran${file.message ? ` (${file.message})` : ''}`);
    failed += fileFailed + notRun;
    if (file.status === 'failed' && fileFailed === 0 && notRun === 0) {
      failed++;
      problems.push(`FAIL ${name} (file): ${file.message || 'failed outside any test'}`);
    }
  }
  if (failed === 0 && (status !== 0 || report.success === false)) {
    failed = 1;
    problems.push(`vitest exited ${status}${report.success === false ? ' (report: success false)' : ''} with no failed test counted`);
  }
  return { passed, failed, problems };
}

export const line = (passed, failed) => `${passed} passed, ${failed} failed`;

function main(argv) {
  if (argv.length === 0) {
    console.error('usage: node .ci/count.mjs LABEL:STATUS:REPORT [LABEL:STATUS:REPORT ...]');
    console.log(line(0, 1));
    return 1;
  }
  let passed = 0;
  let failed = 0;
  const perRun = [];
  for (const arg of argv) {
    const m = /^([^:]*):(-?\d+):(.+)$/.exec(arg);
    if (m === null) {
      console.error(`bad argument ${JSON.stringify(arg)} (want LABEL:STATUS:REPORT)`);
      failed++;
      perRun.push(`${arg}: ${line(0, 1)}`);
      continue;
    }
    const [, label, statusText, path] = m;
    let report = null;
    let why = '';
    try {
      report = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
    const r = countRun(report, Number(statusText), why);
    for (const p of r.problems) console.log(`${label}: ${p}`);
    passed += r.passed;
    failed += r.failed;
    perRun.push(`${label}: ${line(r.passed, r.failed)}`);
  }
  if (perRun.length > 1) for (const l of perRun) console.log(l);
  console.log(line(passed, failed));
  return failed === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/count.mjs')) {
  process.exitCode = main(process.argv.slice(2));
}
