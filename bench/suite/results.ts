/** The JSON a suite run leaves in bench/results/ (one file per invocation of run.js). */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RESULTS_DIR, resultPath, type MachineFacts } from '../common.js';
import type { MetricDef, RunResult, ScenarioId, SuiteOptions } from './scenarios.js';

export const RESULT_KIND = 'ringsocket-bench-suite';

export interface VariantInfo {
  scenario: ScenarioId;
  name: string;
  title: string;
  metrics: MetricDef[];
  headline: string;
  params: Record<string, unknown>;
}

export interface SuiteResult {
  kind: typeof RESULT_KIND;
  version: 1;
  startedAt: string;
  durationMs: number;
  command: string;
  machine: MachineFacts;
  loadavgAtEnd: number[];
  options: SuiteOptions;
  /** What was found about open-file limits (S5). */
  fdLimit: { perProcess: number; raise: string };
  variants: VariantInfo[];
  runs: RunResult[];
}

export function writeSuiteResult(r: SuiteResult): string {
  const file = resultPath(`suite${r.options.quick ? '-quick' : ''}`, r.startedAt);
  // One line per run keeps the files diffable yet small (tick samples and histograms are long).
  const { runs, ...head } = r;
  const text = JSON.stringify({ ...head, runs: [] }, null, 1).replace(/"runs": \[\]\n}$/, () => `"runs": [\n${runs.map((x) => JSON.stringify(x)).join(',\n')}\n ]\n}`);
  writeFileSync(file, text + '\n');
  return file;
}

/** Every suite result in bench/results/, oldest first. */
export function readSuiteResults(): { file: string; result: SuiteResult }[] {
  let names: string[];
  try {
    names = readdirSync(RESULTS_DIR).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const out: { file: string; result: SuiteResult }[] = [];
  for (const n of names) {
    const file = path.join(RESULTS_DIR, n);
    try {
      const r = JSON.parse(readFileSync(file, 'utf8')) as SuiteResult;
      if (r.kind === RESULT_KIND) out.push({ file, result: r });
    } catch {
      // not ours or unreadable: other benchmarks write here too
    }
  }
  return out;
}
