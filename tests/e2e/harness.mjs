// Test harness for the end-to-end tests: writes a tiny synthetic model once per process and
// starts `bastion serve` on a free port (it prints the URL it listens on), as a user would.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const BIN = process.env.BASTION_BIN;
if (!BIN || !existsSync(BIN)) throw new Error('set BASTION_BIN to the bastion binary');

let modelFile = null;

// A tiny model with F16 weights: its greedy output does not depend on how requests are batched
// (int8 activation rounding in quantized models can flip under a different batch composition).
export function tinyModel() {
  if (modelFile) return modelFile;
  const dir = mkdtempSync(path.join(tmpdir(), 'bastion-e2e-'));
  modelFile = path.join(dir, 'tiny-f16.gguf');
  execFileSync(BIN, ['synth', '--preset', 'tiny', '--type', 'F16', '-q', '-o', modelFile]);
  return modelFile;
}

export const MODEL = 'tiny';

// Starts a server; resolves to {url, proc, log(), stop(), stateDir, caFile, httpUrl} once it
// listens. Plain HTTP (--no-tls) unless tls is true: then HTTPS with the local CA in stateDir
// (caFile is its certificate) and, with httpPort, the plain-HTTP redirect listener (httpUrl).
// model: a file or a store name; null = none (bastion's default model, from the store or pulled);
// alias null = bastion's default name. env: extra environment variables.
export function startServer(extraArgs = [], { model = tinyModel(), alias = MODEL, tls = false, stateDir = null,
                                              httpPort = null, env = {} } = {}) {
  const state = stateDir ?? mkdtempSync(path.join(tmpdir(), 'bastion-state-'));
  const args = ['serve', ...(model === null ? [] : ['-m', model]), ...(alias === null ? [] : ['--alias', alias]),
                '--host', '127.0.0.1', '--port', '0',
                ...(tls ? [] : ['--no-tls']), ...(httpPort === null ? [] : ['--http-port', String(httpPort)]),
                // The API tests send bursts from one address; the guard's default limit (5 r/s,
                // burst 10) is tested in guard.test.mjs, which passes its own --rate/--burst
                // (a later flag wins).
                '--rate', '10000r/s', '--burst', '10000',
                '--state-dir', state, ...extraArgs];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start:\n' + log)), 60000);
    const onData = (chunk) => {
      log += chunk.toString();
      const m = log.match(/listening on (https?:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        const redirect = log.match(/plain HTTP on (http:\/\/[^\s]+) redirects/);
        resolve({
          url: m[1].replace(/\/$/, ''),
          httpUrl: redirect ? redirect[1] : null,
          stateDir: state,
          caFile: path.join(state, 'tls', 'local-ca', 'ca.crt'),
          proc,
          log: () => log,
          stop: (signal = 'SIGTERM') => new Promise((res) => {
            if (proc.exitCode !== null) return res(proc.exitCode);
            proc.once('exit', (code, sig) => res(code ?? sig));
            proc.kill(signal);
          }),
        });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}):\n${log}`)); });
  });
}

// Raw HTTP with curl (a real, independent client).
export function curl(args) {
  return execFileSync('curl', ['-sS', '--max-time', '60', ...args], { encoding: 'utf8' });
}
