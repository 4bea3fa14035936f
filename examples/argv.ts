/**
 * The tiny `--name value` reader the examples use (the package ships examples/, never bench/).
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

/** A positive integer flag (`_` separators allowed), or `fallback` when absent. */
export function argInt(argv: string[], name: string, fallback: number): number {
  const v = argValue(argv, name);
  if (v === undefined || v === '') return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new TypeError(`--${name} must be a positive integer, got ${v}`);
  return n;
}
