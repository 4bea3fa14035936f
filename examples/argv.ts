/**
 * The tiny `--name value` reader the examples use, and the benchmarks through bench/common.ts (the
 * package ships examples/, never bench/, so it lives here).
 */

/** The value of `--name value` or `--name=value` in `argv`; '' for a flag without a value; undefined if absent. */
export function argValue(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) {
      const next = argv[i + 1];
      return next === undefined || next.startsWith('--') ? '' : next;
    }
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

/** An integer flag of at least `min` (a positive one by default; `_` separators allowed), or `fallback` when absent. */
export function argInt(argv: string[], name: string, fallback: number, min = 1): number {
  const v = argValue(argv, name);
  if (v === undefined || v === '') return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min) throw new TypeError(`--${name} must be ${min === 1 ? 'a positive integer' : `an integer >= ${min}`}, got ${v}`);
  return n;
}
