/**
 * Child processes for the orchestrator: fork with an IPC channel, wait for a notice of a given type
 * under a deadline, and kill. A child that exits, or says 'error' / 'overload', fails every wait.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

type Notice = { t: string };

export class Child<N extends Notice, C> {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly #inbox: N[] = [];
  #waiters: { t: string; resolve: (n: N) => void; reject: (e: Error) => void }[] = [];
  #failure: Error | null = null;
  readonly exited: Promise<number | null>;

  /** `env`: added to this process's environment for the child. */
  constructor(name: string, script: URL, arg: unknown, opts: { fdLimit?: number; execArgv?: string[]; env?: Record<string, string> } = {}) {
    this.name = name;
    const file = fileURLToPath(script);
    const execArgv = opts.execArgv ?? [];
    const json = JSON.stringify(arg);
    const env = opts.env !== undefined ? { ...process.env, ...opts.env } : process.env;
    if (opts.fdLimit !== undefined) {
      // Raise the open-files limit for this child only; bash execs node, which keeps the IPC fd.
      this.proc = spawn('bash', ['-c', `ulimit -n ${opts.fdLimit} && exec "$0" "$@"`, process.execPath, ...execArgv, file, json], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env,
      });
    } else {
      this.proc = fork(file, [json], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
    }
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    this.proc.on('message', (m: N) => this.#deliver(m));
    this.proc.once('exit', (code, signal) => this.#fail(new Error(`${name} exited (code ${code}, signal ${signal})`)));
    this.proc.on('error', (err) => this.#fail(err));
  }

  #deliver(m: N): void {
    if (m.t === 'error') return this.#fail(new Error(`${this.name}: ${(m as unknown as { message: string }).message}`));
    if (m.t === 'overload') {
      const rss = (m as unknown as { rss: number }).rss;
      return this.#fail(new Error(`${this.name}: RSS ${(rss / 2 ** 20).toFixed(0)} MiB over the limit, stopped`));
    }
    const i = this.#waiters.findIndex((w) => w.t === m.t);
    if (i >= 0) {
      const w = this.#waiters.splice(i, 1)[0]!;
      w.resolve(m);
    } else {
      this.#inbox.push(m);
    }
  }

  #fail(err: Error): void {
    if (this.#failure === null) this.#failure = err;
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w.reject(this.#failure);
  }

  send(cmd: C): void {
    if (this.proc.connected) this.proc.send(cmd as unknown as object);
  }

  /** The next notice of type `t` (already received or to come), or an error after `timeoutMs`. */
  wait<T extends N['t']>(t: T, timeoutMs: number): Promise<Extract<N, { t: T }>> {
    const i = this.#inbox.findIndex((m) => m.t === t);
    if (i >= 0) return Promise.resolve(this.#inbox.splice(i, 1)[0] as Extract<N, { t: T }>);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: no '${t}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        t,
        resolve: (n: N) => {
          clearTimeout(timer);
          resolve(n as Extract<N, { t: T }>);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Send `cmd` and wait for the answer of type `t`. */
  ask<T extends N['t']>(cmd: C, t: T, timeoutMs: number): Promise<Extract<N, { t: T }>> {
    const p = this.wait(t, timeoutMs);
    this.send(cmd);
    return p;
  }

  /**
   * Stop the child: SIGKILL at once, or with `graceMs` first send `exitCmd` and wait that long for a
   * clean exit (which --cpu-prof needs to write its profiles).
   */
  async kill(graceMs = 0, exitCmd?: C): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    if (graceMs > 0 && exitCmd !== undefined) {
      this.send(exitCmd);
      const done = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs))]);
      if (done) return;
    }
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}
