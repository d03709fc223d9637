#!/usr/bin/env node
// acme_bench: time from process start to serving a certificate from Pebble (Let's Encrypt's test
// CA), for bastion and, in the same run, Caddy (Debian's caddy 2.6.2) when it is installed.
// Each round starts a fresh Pebble (real HTTP-01/TLS-ALPN-01 validation against 127.0.0.1, no
// random validation sleep) and a fresh state directory, then polls TLS handshakes with
// SNI bastion.test every 20 ms until the served certificate is issued by Pebble.
//
//   node bench/acme_bench.mjs --bin build/release/bastion [--rounds 5]
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { havePebble, startPebble, freePort } from '../tests/e2e/pebble.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]);
  return acc;
}, []));
const BIN = args.bin ?? 'build/release/bastion';
const ROUNDS = Number(args.rounds ?? 5);
const DOMAIN = 'bastion.test';
if (!havePebble()) { console.error('acme_bench: needs pebble (apt-get install pebble)'); process.exit(1); }

const tmp = mkdtempSync(path.join(tmpdir(), 'bastion-acme-bench-'));
const model = path.join(tmp, 'tiny.gguf');
execFileSync(BIN, ['synth', '--preset', 'tiny', '--type', 'F16', '-q', '-o', model]);

function issuer(port) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: DOMAIN, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().issuer?.CN ?? ''); s.end();
    });
    s.on('error', () => resolve(''));
    s.setTimeout(1000, () => { s.destroy(); resolve(''); });
  });
}

async function timeToCert(start) {
  const tlsPort = await freePort(), httpPort = await freePort();
  const pebble = await startPebble({ httpPort, tlsPort });
  const t0 = performance.now();
  const proc = start({ tlsPort, httpPort, pebble, dir: mkdtempSync(path.join(tmp, 'state-')) });
  let log = '';
  proc.stdout?.on('data', (d) => { log += d; });
  proc.stderr?.on('data', (d) => { log += d; });
  try {
    for (;;) {
      if (/Pebble/i.test(await issuer(tlsPort))) return performance.now() - t0;
      if (performance.now() - t0 > 60000) throw new Error('no certificate after 60 s:\n' + log);
      if (proc.exitCode !== null) throw new Error('server exited:\n' + log);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await new Promise((r) => { if (proc.exitCode !== null) return r(); proc.once('exit', r); proc.kill('SIGKILL'); });
    await pebble.stop();
  }
}

const servers = {
  bastion: ({ tlsPort, httpPort, pebble, dir }) => spawn(BIN, ['serve', '-m', model, '--alias', 'tiny',
    '--host', '127.0.0.1', '--port', String(tlsPort), '--http-port', String(httpPort), '--domain', DOMAIN,
    '--acme-ca', pebble.directory, '--acme-ca-root', pebble.caRootFile, '--state-dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] }),
};
if (existsSync('/usr/bin/caddy')) {
  servers['caddy 2.6.2'] = ({ tlsPort, httpPort, pebble, dir }) => {
    writeFileSync(path.join(dir, 'Caddyfile'), `{
  admin off
  http_port ${httpPort}
  https_port ${tlsPort}
  acme_ca ${pebble.directory}
  acme_ca_root ${pebble.caRootFile}
  storage file_system ${dir}/data
  skip_install_trust
}
${DOMAIN} {
  bind 127.0.0.1
  respond "ok"
}
`);
    return spawn('/usr/bin/caddy', ['run', '--config', path.join(dir, 'Caddyfile'), '--adapter', 'caddyfile'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir } });
  };
} else {
  console.error('acme_bench: caddy is not installed (apt-get install caddy) — measuring bastion only');
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const rows = [];
for (const [name, start] of Object.entries(servers)) {
  const times = [];
  for (let r = 0; r < ROUNDS; ++r) times.push(await timeToCert(start));
  rows.push({ server: name, median_ms: Math.round(median(times)), min_ms: Math.round(Math.min(...times)),
              max_ms: Math.round(Math.max(...times)), rounds: ROUNDS });
}
console.table(rows);
