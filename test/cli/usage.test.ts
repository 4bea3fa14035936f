/**
 * The `ringsocket` command line: help, version, and every kind of usage error — each must end as one
 * line on stderr naming the problem, nothing on stdout, and exit code 2 (cli/errors.ts), before any
 * connection is attempted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, lines, runCli } from './run-cli.js';

afterEach(killAll);

describe('ringsocket (no command, help, version)', () => {
  it('without a command prints the usage and exits 2', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^Usage: ringsocket <command>/);
    for (const cmd of ['demo', 'serve', 'load']) expect(r.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
  });

  it('--help exits 0; help <command> shows that command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Exit codes: 0 ok/);
    const h = await runCli(['help', 'load']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage: ringsocket load <url>/);
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^ringsocket \d+\.\d+\.\d+/);
  });

  it('an unknown command is a usage error (exit 2, one line on stderr)', async () => {
    const r = await runCli(['lode', 'ws://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^ringsocket lode: unknown command "lode"/)]);
  });

  it.each([
    ['load', ['--connections', '--rate', '--flood', '--size', '--duration', '--ramp', '--warmup', '--text', '--json', '--histogram', '--threads', '--io-threads', '--fanout', '--threshold', '--poll', '--send-tick']],
    ['serve', ['--port', '--host', '--tls-key', '--tls-cert', '--mode', '--threads', '--protocols', '--max-message']],
    ['demo', ['--clients', '--seconds', '--work', '--hz', '--size', '--per-tick']],
  ])('%s --help lists its flags and exit codes, exits 0', async (cmd, flags) => {
    for (const argv of [[cmd, '--help'], [cmd, '-h'], [cmd, '--bogus', '--help']]) {
      const r = await runCli(argv);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^Usage: ringsocket ${cmd}`));
      for (const f of flags) expect(r.stdout).toMatch(new RegExp(`^  ${f}\\b`, 'm'));
      expect(r.stdout).toMatch(/Exit codes: 0 /);
    }
  });

});

const URL_ = 'ws://127.0.0.1:9';

describe('usage errors: exit 2, one line on stderr naming the problem', () => {
  it.each<[string, string[], RegExp]>([
    ['unknown flag', ['load', URL_, '--conections', '4'], /unknown flag --conections/],
    ['unknown short flag', ['load', URL_, '-c', '4'], /unknown flag -c/],
    ['missing value at the end', ['load', URL_, '--rate'], /missing value for --rate/],
    ['missing value before a flag', ['load', URL_, '--connections', '--rate', '5'], /missing value for --connections/],
    ['empty value', ['load', URL_, '--size='], /missing value for --size/],
    ['non-numeric integer', ['load', URL_, '--connections', 'abc'], /--connections: not an integer: "abc"/],
    ['fractional integer', ['load', URL_, '--connections', '2.5'], /--connections: not an integer/],
    ['zero connections', ['load', URL_, '--connections', '0'], /--connections must be at least 1/],
    ['non-numeric rate', ['load', URL_, '--rate', 'fast'], /--rate: not a number: "fast"/],
    ['non-numeric size', ['load', URL_, '--size', '1x'], /--size: not a size in bytes/],
    ['size too small for the header', ['load', URL_, '--size', '8'], /--size must be at least 24/],
    ['text size too small', ['load', URL_, '--text', '--size', '24'], /--size must be at least 32 with --text/],
    ['bad duration', ['load', URL_, '--duration', '2 hours'], /--duration: not a duration/],
    ['duration too short', ['load', URL_, '--duration', '10ms'], /--duration must be at least 100ms/],
    ['bool flag with a value', ['load', URL_, '--text=maybe'], /--text takes no value/],
    ['both --rate and --flood', ['load', URL_, '--rate', '100', '--flood', '4'], /--rate and --flood exclude each other/],
    ['missing url', ['load', '--rate', '100'], /missing <url>/],
    ['two urls', ['load', URL_, URL_], /unexpected argument/],
    ['http url', ['load', 'http://127.0.0.1:9/'], /must be ws:\/\/ or wss:\/\//],
    ['unparseable url', ['load', 'ws://[nope'], /not a URL/],
    // A bare word is not taken as a host name to look up (that was a DNS lookup and exit 3).
    ['a bare word as url', ['load', 'notaurl'], /not a URL: "notaurl" \(expected ws:\/\/host:port/],
    ['bad --threshold', ['load', URL_, '--threshold', 'p99 under 5ms'], /--threshold: not "metric op value"/],
    ['unknown --threshold metric', ['load', URL_, '--threshold', 'p42<5ms'], /unknown metric "p42"/],
    ['--threshold latency unit', ['load', URL_, '--threshold', 'p99<5kg'], /a latency takes ms, us or s/],
    ['--threshold without a value', ['load', URL_, '--threshold'], /missing value for --threshold/],
    ['--fanout with --flood', ['load', URL_, '--fanout', '--flood', '2'], /--fanout measures an open-loop publish rate/],
    ['more threads than connections', ['load', URL_, '--threads', '4', '--connections', '2'], /--threads 4 needs at least as many --connections/],
    ['bad --poll', ['load', URL_, '--poll', 'often'], /--poll: not "spin" or a duration/],
    ['--ca with ws://', ['load', URL_, '--ca', 'x.pem'], /--ca and --insecure apply to wss:\/\/ URLs only/],
    ['bad protocol token', ['load', URL_, '--protocols', 'a b'], /--protocols: not a list of tokens/],
    ['serve: unknown flag', ['serve', '--prot', '1'], /unknown flag --prot/],
    ['serve: port out of range', ['serve', '--port', '70000'], /--port must be at most 65535/],
    ['serve: negative port', ['serve', '--port', '-1'], /--port must be at least 0/],
    ['serve: non-numeric port', ['serve', '--port', 'http'], /--port: not an integer/],
    ['serve: bad mode', ['serve', '--mode', 'chat'], /--mode must be one of echo, broadcast/],
    ['serve: key without cert', ['serve', '--tls-key', 'k.pem'], /--tls-key and --tls-cert go together/],
    ['serve: unreadable key', ['serve', '--tls-key', '/nonexistent/k.pem', '--tls-cert', '/nonexistent/c.pem'], /--tls-key: cannot read \/nonexistent\/k.pem: ENOENT/],
    ['serve: positional', ['serve', '8080'], /unexpected argument "8080"/],
  ])('%s', async (_what, argv, message) => {
    const r = await runCli(argv);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const err = lines(r.stderr);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^ringsocket ${argv[0]}: `));
    expect(err[0]).toMatch(message);
  });

  it('load notaurl exits 2 at once: no DNS lookup, no worker started', async () => {
    const t0 = Date.now();
    const r = await runCli(['load', 'notaurl']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    // host:port without a scheme is still taken (as ws://host:port).
    const ok = await runCli(['load', '127.0.0.1:9', '--duration', '100ms', '--connections', '1', '--quiet', '--connect-timeout', '2s']);
    expect(ok.code).toBe(3); // refused: it did try to connect
    expect(ok.stderr).toMatch(/cannot connect to ws:\/\/127\.0\.0\.1:9\/: ECONNREFUSED/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('a later flag overrides an earlier one, and --name=value works', async () => {
    // Both spellings parse; the error shows which value won.
    const r = await runCli(['load', URL_, '--size=8', '--size', '16']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--size must be at least 24, got 16/);
  });
});
