/**
 * The module graph of the library (src/, workers/, cli/): no import circle, type-only imports included
 * (a circle of types is still two rooms that cannot be understood apart), and the contract
 * (src/protocol/) imports neither side. Reads the TypeScript sources, not dist/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) out.push(...sources(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g;

/** Every relative import of `file` (a path from the repo root), as paths from the repo root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const target = relative(root, resolve(root, dirname(file), m[1]!)).replace(/\.js$/, '.ts');
    out.push(target);
  }
  return out;
}

function graph(dirs: string[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const d of dirs) for (const f of sources(d)) g.set(f, importsOf(f));
  return g;
}

/** Every elementary circle found by a depth-first walk (each reported once, from its smallest file). */
function circles(g: Map<string, string[]>): string[][] {
  const found = new Map<string, string[]>();
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const t of g.get(f) ?? []) {
      if (!g.has(t)) continue;
      if (state.get(t) === 1) {
        const loop = stack.slice(stack.indexOf(t));
        const start = loop.indexOf([...loop].sort()[0]!);
        const canon = [...loop.slice(start), ...loop.slice(0, start)];
        found.set(canon.join(' → '), canon);
      } else if (state.get(t) === undefined) visit(t);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of [...g.keys()].sort()) if (state.get(f) === undefined) visit(f);
  return [...found.values()];
}

describe('module graph', () => {
  const g = graph(['src', 'workers', 'cli']);

  it('reads the sources it means to check (the walker is not blind)', () => {
    expect(g.size).toBeGreaterThan(20);
    expect(g.get('src/websocket-peer.ts')).toContain('src/peer-pool.ts');
    expect(g.get('workers/runtime.ts')?.some((t) => t.startsWith('src/protocol/'))).toBe(true);
  });

  it('finds a circle when there is one (the check can fail)', () => {
    const looped = new Map(g);
    looped.set('src/protocol/layout.ts', ['src/websocket-peer.ts']);
    expect(circles(looped).length).toBeGreaterThan(0);
  });

  it('has no import circle in src/, workers/ or cli/ (type-only imports included)', () => {
    expect(circles(g).map((c) => [...c, c[0]].join(' → '))).toEqual([]);
  });

  it('src/protocol/ imports neither side: the contract stands alone', () => {
    for (const [f, ts] of g) {
      if (!f.startsWith('src/protocol/')) continue;
      for (const t of ts) expect(t.startsWith('src/protocol/'), `${f} imports ${t}`).toBe(true);
    }
  });

  it('src/ (the main thread) never imports workers/, and workers/ only src/protocol/ and src/enums.ts of src/', () => {
    for (const [f, ts] of g) {
      if (f.startsWith('src/')) for (const t of ts) expect(t.startsWith('workers/'), `${f} imports ${t}`).toBe(false);
      if (f.startsWith('workers/')) {
        for (const t of ts) {
          if (t.startsWith('src/')) expect(t.startsWith('src/protocol/') || t === 'src/enums.ts', `${f} imports ${t}`).toBe(true);
        }
      }
    }
  });
});
