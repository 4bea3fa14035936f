/**
 * A strict command-line parser: every flag is declared; an unknown flag, a missing value or a value
 * that does not parse is a `UsageError` (exit code 2) naming the flag. `--name value` and
 * `--name=value` are both accepted; a later occurrence of a flag overrides an earlier one, except for
 * flags declared `repeat` (every occurrence is kept, in order: a `string[]`).
 *
 * Value kinds:
 * - `string`: any text.
 * - `bool`: no value (`--text`); `--text=false` / `--text=true` also work.
 * - `int`: an integer, `_` separators allowed (`20_000`).
 * - `count`: a positive number with an optional k/M suffix (×1000, ×1,000,000): `--rate 20k`.
 * - `bytes`: a byte size with an optional k/M suffix (×1024, ×1024²): `--size 1k` = 1024.
 * - `duration`: seconds, or with a unit: `500ms`, `2s`, `1.5m`; a bare number is seconds.
 */
import { UsageError } from './errors.js';

export type FlagKind = 'string' | 'bool' | 'int' | 'count' | 'bytes' | 'duration';

export interface FlagSpec {
  kind: FlagKind;
  /** Shown in --help. */
  help: string;
  /** Shown in --help after the flag (`--port N`). Default by kind. */
  meta?: string;
  /** Shown in --help as "(default …)". */
  defaultText?: string;
  /** Smallest accepted value for numeric kinds (milliseconds for durations). */
  min?: number;
  /** Largest accepted value for numeric kinds (milliseconds for durations). */
  max?: number;
  /** Accepted values for `string` flags. */
  choices?: readonly string[];
  /** Every occurrence is kept (`--threshold a --threshold b`): the value is an array. */
  repeat?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** Parsed values: strings for `string`, booleans for `bool`, numbers (ms for durations) otherwise. */
export type FlagValues = Record<string, string | number | boolean | (string | number | boolean)[] | undefined>;

export interface Parsed {
  flags: FlagValues;
  positionals: string[];
  help: boolean;
}

const DEFAULT_META: Record<FlagKind, string> = {
  string: 'VALUE',
  bool: '',
  int: 'N',
  count: 'N',
  bytes: 'BYTES',
  duration: 'DURATION',
};

function numberText(flag: string, raw: string, what: string): never {
  throw new UsageError(`--${flag}: not ${what}: ${JSON.stringify(raw)}`);
}

function checkRange(flag: string, n: number, spec: FlagSpec, raw: string, unit = ''): number {
  if (spec.min !== undefined && n < spec.min) throw new UsageError(`--${flag} must be at least ${spec.min}${unit}, got ${raw}`);
  if (spec.max !== undefined && n > spec.max) throw new UsageError(`--${flag} must be at most ${spec.max}${unit}, got ${raw}`);
  return n;
}

/** Parse one value of `spec.kind`. Exported for tests and for the commands' own positionals. */
export function parseValue(flag: string, raw: string, spec: FlagSpec): string | number | boolean {
  const t = raw.trim();
  switch (spec.kind) {
    case 'string':
      if (spec.choices !== undefined && !spec.choices.includes(raw)) {
        throw new UsageError(`--${flag} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(raw)}`);
      }
      return raw;
    case 'bool':
      if (t === 'true' || t === '1' || t === 'yes') return true;
      if (t === 'false' || t === '0' || t === 'no') return false;
      throw new UsageError(`--${flag} takes no value (got ${JSON.stringify(raw)})`);
    case 'int': {
      if (!/^[+-]?\d[\d_]*$/.test(t)) numberText(flag, raw, 'an integer');
      return checkRange(flag, Number(t.replace(/_/g, '')), spec, raw);
    }
    case 'count':
    case 'bytes': {
      const m = /^(\d[\d_]*(?:\.\d+)?)\s*([kKmM]?)(?:i?[bB])?$/.exec(t);
      if (m === null) numberText(flag, raw, spec.kind === 'bytes' ? 'a size in bytes' : 'a number');
      const base = spec.kind === 'bytes' ? 1024 : 1000;
      const mult = m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? base : base * base;
      const n = Number(m[1]!.replace(/_/g, '')) * mult;
      if (!Number.isFinite(n)) numberText(flag, raw, 'a number');
      if (spec.kind === 'bytes' && !Number.isInteger(n)) numberText(flag, raw, 'a whole number of bytes');
      return checkRange(flag, n, spec, raw);
    }
    case 'duration': {
      const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|min)?$/.exec(t);
      if (m === null) numberText(flag, raw, 'a duration (e.g. 2s, 500ms, 1m)');
      const unit = m[2] ?? 's';
      const n = Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000);
      if (spec.min !== undefined && n < spec.min) throw new UsageError(`--${flag} must be at least ${formatMs(spec.min)}, got ${raw}`);
      if (spec.max !== undefined && n > spec.max) throw new UsageError(`--${flag} must be at most ${formatMs(spec.max)}, got ${raw}`);
      return n;
    }
  }
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}

/**
 * Parse `argv` (the words after the command name) against `specs`. `-h` / `--help` anywhere sets
 * `help` (and nothing else is checked, so `--help` always works). `--` ends the flags.
 */
export function parseArgs(argv: readonly string[], specs: FlagSpecs, command: string): Parsed {
  if (argv.includes('--help') || argv.includes('-h')) return { flags: {}, positionals: [], help: true };
  // Raw values first (the last occurrence wins), parsed at the end: an overridden value is never checked.
  const raw = new Map<string, string | true>();
  const repeated = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
      positionals.push(a);
      continue;
    }
    if (!a.startsWith('--')) throw new UsageError(`unknown flag ${a} (see ringsocket ${command} --help)`);
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) throw new UsageError(`unknown flag --${name} (see ringsocket ${command} --help)`);
    raw.delete(name); // keep insertion order = order of the last occurrences
    if (spec.repeat === true) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '' || (eq < 0 && v.startsWith('--'))) throw new UsageError(`missing value for --${name}`);
      repeated.set(name, [...(repeated.get(name) ?? []), v]);
    } else if (eq >= 0) {
      const v = a.slice(eq + 1);
      if (v === '' && spec.kind !== 'string') throw new UsageError(`missing value for --${name}`);
      raw.set(name, v);
    } else if (spec.kind === 'bool') {
      raw.set(name, true);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`missing value for --${name}`);
      raw.set(name, next);
      i++;
    }
  }
  const flags: FlagValues = {};
  for (const [name, v] of raw) flags[name] = v === true ? true : parseValue(name, v, specs[name]!);
  for (const [name, vs] of repeated) flags[name] = vs.map((v) => parseValue(name, v, specs[name]!));
  return { flags, positionals, help: false };
}

/** The "Flags:" block of a command's --help, from its specs. */
export function flagsHelp(specs: FlagSpecs): string {
  const rows: (readonly [string, string])[] = Object.entries(specs).map(([name, s]) => {
    const meta = s.meta ?? DEFAULT_META[s.kind];
    return [`  --${name}${meta === '' ? '' : ' ' + meta}`, s.help + (s.defaultText !== undefined ? ` (default ${s.defaultText})` : '')] as const;
  });
  rows.push(['  -h, --help', 'show this help'] as const);
  const w = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => l.padEnd(w) + r).join('\n');
}

export function str(v: FlagValues, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}

export function num(v: FlagValues, name: string): number | undefined {
  const x = v[name];
  return typeof x === 'number' ? x : undefined;
}

/** Every value of a `repeat` flag ([] when absent). */
export function list(v: FlagValues, name: string): string[] {
  const x = v[name];
  return Array.isArray(x) ? x.map(String) : [];
}

export function bool(v: FlagValues, name: string): boolean {
  return v[name] === true;
}
