/**
 * Running the built `ringsocket` command (dist/cli/ringsocket.js) as a child process, as a user or a
 * script would. Never synchronously: the servers these runs talk to live in the test process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/ringsocket.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running `ringsocket …` process. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = once(this.child, 'close').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
      stdout: this.stdout,
      stderr: this.stderr,
    }));
  }

  /** Wait until stdout matches `re` (or fail after `timeoutMs`, or when the process exits first). */
  waitForStdout(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return this.waitFor('stdout', re, timeoutMs);
  }

  /** Wait until stdout or stderr matches `re` (or fail after `timeoutMs`, or when the process exits first). */
  async waitFor(stream: 'stdout' | 'stderr', re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void this.exited.then(() => (done = true));
    for (;;) {
      const m = re.exec(this[stream]);
      if (m !== null) return m;
      if (done) throw new Error(`process exited before printing ${re}: stdout=${JSON.stringify(this.stdout)} stderr=${JSON.stringify(this.stderr)}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${re} on ${stream}: ${JSON.stringify(this[stream])}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Wait for the exit, bounded; a process still running then is killed and the test fails. */
  async wait(timeoutMs = 30_000): Promise<CliResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`ringsocket did not exit within ${timeoutMs} ms: stdout=${JSON.stringify(this.stdout)} stderr=${JSON.stringify(this.stderr)}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

const running = new Set<CliProcess>();

export function startCli(args: string[]): CliProcess {
  const p = new CliProcess(args);
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

/** Run `ringsocket …` to the end (bounded). */
export function runCli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return startCli(args).wait(timeoutMs);
}

/** Kill whatever a test left running (afterEach). */
export function killAll(): void {
  for (const p of running) p.kill('SIGKILL');
  running.clear();
}

/** A port free on 127.0.0.1 right now: the cluster example's (one helper for examples and tests). */
export { freePort } from '../../dist/examples/cluster/procs.js';

/** A temporary directory, removed by the returned cleanup. */
export function tempDir(): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringsocket-cli-'));
  return { dir, file: (name) => path.join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The non-empty lines of `text`. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/**
 * A minimal XML well-formedness check for the SVGs we write: one root element, every start tag
 * closed in order, attributes quoted, no stray `<` or `&` in text. Returns the element names seen.
 */
export function checkWellFormedXml(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  let roots = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(text)) throw new Error(`bare & in text near ${JSON.stringify(text.slice(0, 40))}`);
    if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside the root element: ${JSON.stringify(text.slice(0, 40))}`);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (m === null) throw new Error(`malformed tag at ${lt}: ${JSON.stringify(xml.slice(lt, lt + 60))}`);
    const [, close, name, , selfClose] = m;
    if (close === '/') {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open ?? 'nothing'}>`);
    } else {
      if (stack.length === 0 && ++roots > 1) throw new Error('more than one root element');
      names.push(name!);
      if (selfClose !== '/') stack.push(name!);
    }
    i = tag.lastIndex;
  }
  if (stack.length !== 0) throw new Error(`unclosed elements: ${stack.join(', ')}`);
  return names;
}
