/**
 * The package as a user gets it: `npm pack` from a copy of the sources with no dist/ (so `prepack` must
 * build), the tarball installed into a fresh folder from the registry's dependencies, then
 * - its list of files: the library, workers, CLI and examples; no bench/, no source maps;
 * - a TypeScript consumer type-checked with `skipLibCheck: false` (the shipped .d.ts must stand alone);
 * - a plain `.mjs` consumer that makes a PeerPool, closes it and exits 0 on its own;
 * - `require('ringsocket')` where Node can require() an ES module (Node >= 20.19 / 22.12);
 * - `npx ringsocket --version`.
 * Needs the npm registry (the dependencies: ws, comlink, hdr-histogram-js, and @types/node for the
 * TypeScript consumer).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };

let tmp = '';
let tarball = '';
let app = '';
let packedFiles: string[] = [];

/**
 * The environment of a fresh shell: without the `npm_*` variables of an npm or npx that runs this suite
 * (under `npx -p node@24 …`, `npm_config_package=node@24` would make the consumer's `npx` want node too).
 */
function freshEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  env.npm_config_update_notifier = 'false';
  return env;
}

async function sh(cmd: string, args: string[], cwd: string, timeout = 120_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, { cwd, timeout, env: freshEnv(), maxBuffer: 16 << 20 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string; code?: number };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed with ${e.code}: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`, { cause: err });
  }
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'ringsocket-pkg-'));
  // A copy of the sources without dist/: `npm pack` must build them itself (prepack).
  const src = path.join(tmp, 'src');
  mkdirSync(src);
  for (const f of ['package.json', 'tsconfig.json', 'README.md', 'ARCHITECTURE.md', 'src', 'workers', 'cli', 'examples', 'bench']) {
    cpSync(path.join(ROOT, f), path.join(src, f), { recursive: true, filter: (p) => !p.includes(`${path.sep}results${path.sep}`) });
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'), 'dir');
  const packed = await sh('npm', ['pack', '--json', '--pack-destination', tmp], src, 180_000);
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(tmp, info[0]!.filename);
  packedFiles = info[0]!.files.map((f) => f.path);

  app = path.join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  await sh('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', tarball, '@types/node@20'], app, 180_000);
}, 400_000);

afterAll(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('prepack builds: the tarball holds the library, workers, CLI and examples; no bench/, no source maps', () => {
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/workers/io-worker.js', 'dist/cli/ringsocket.js', 'dist/examples/quickstart-server.js', 'dist/examples/quickstart-client.js', 'README.md', 'package.json']) {
      expect(packedFiles).toContain(f);
    }
    expect(packedFiles.filter((f) => f.startsWith('dist/bench'))).toEqual([]);
    expect(packedFiles.filter((f) => f.endsWith('.map'))).toEqual([]);
    // No shipped file may import from bench/ (it is not in the package).
    for (const f of packedFiles.filter((p) => p.endsWith('.js'))) {
      expect(readFileSync(path.join(app, 'node_modules/ringsocket', f), 'utf8'), f).not.toMatch(/from ['"][./]*bench\//);
    }
  });

  it('its types pass a strict TypeScript consumer with skipLibCheck: false', async () => {
    const dir = path.join(app, 'ts');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: ['node'], strict: true, skipLibCheck: false, noEmit: true },
        include: ['*.ts'],
      }),
    );
    writeFileSync(
      path.join(dir, 'consumer.ts'),
      `import { ErrorCode, PeerPool, State, TCPServer, TLSOptions, WebSocketPeer, WriteMode, type PeerPoolOptions } from 'ringsocket';
const options: PeerPoolOptions = { threads: 1 };
const pool = new PeerPool(options);
const server = new TCPServer({ pool });
const err: ErrorCode = server.listen(0, '127.0.0.1');
const peer = new WebSocketPeer({ pool });
peer.connectToUrl('ws://127.0.0.1:' + server.getLocalPort(), TLSOptions.client());
const state: State = peer.getReadyState();
const sent: ErrorCode = peer.send(new Uint8Array(1), WriteMode.BINARY);
const packet: Uint8Array = peer.getPacket();
const stats = await pool.stats();
const n: number = stats[0]!.messagesIn;
console.log(err, state, sent, packet, n, peer.getFailureReason());
await pool.close();
`,
    );
    // Also: a wrong use must fail (the check is real).
    writeFileSync(path.join(dir, 'wrong.ts.txt'), `import { WebSocketPeer } from 'ringsocket';\nconst n: string = new WebSocketPeer().getReadyState();\n`);
    await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], dir);
    cpSync(path.join(dir, 'wrong.ts.txt'), path.join(dir, 'wrong.ts'));
    await expect(sh(process.execPath, [TSC, '-p', 'tsconfig.json'], dir)).rejects.toThrow(/TS2322/);
    rmSync(path.join(dir, 'wrong.ts'));
  }, 180_000);

  it('a plain .mjs consumer imports it, makes and closes a PeerPool, and exits 0 on its own', async () => {
    writeFileSync(
      path.join(app, 'use.mjs'),
      `import { PeerPool, WebSocketPeer, State } from 'ringsocket';
const pool = new PeerPool({ threads: 1 });
const peer = new WebSocketPeer({ pool });
console.log('state', peer.getReadyState() === State.CLOSED ? 'CLOSED' : 'other', 'workers', (await pool.stats()).length);
await pool.close();
`,
    );
    const r = await sh(process.execPath, ['use.mjs'], app, 30_000);
    expect(r.stdout.trim()).toBe('state CLOSED workers 1');
  });

  it('require() works where Node can require an ES module (Node >= 20.19, 22.12)', async () => {
    const [maj, min] = process.versions.node.split('.').map(Number) as [number, number];
    if (!((maj === 20 && min >= 19) || (maj === 22 && min >= 12) || maj >= 23)) return;
    const r = await sh(process.execPath, ['-e', `const r = require('ringsocket'); console.log(typeof r.PeerPool, typeof r.WebSocketPeer)`], app, 30_000);
    expect(r.stdout.trim()).toBe('function function');
  });

  it('npx ringsocket --version prints the version', async () => {
    const r = await sh('npx', ['--no-install', 'ringsocket', '--version'], app, 60_000);
    expect(r.stdout.trim()).toBe(`ringsocket ${pkg.version}`);
  });
});
