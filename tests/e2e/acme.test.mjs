// ACME end to end: `bastion serve --domain` against Pebble (Let's Encrypt's test CA) with real
// validation of HTTP-01 and TLS-ALPN-01 on bastion's own listeners. Skips when pebble is absent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN, tinyModel, MODEL } from './harness.mjs';
import { havePebble, startPebble, freePort } from './pebble.mjs';

const DOMAIN = 'bastion.test';
const skip = havePebble() ? false : 'pebble is not installed (apt-get install pebble)';
const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

function startBastion({ tlsPort, httpPort, pebble, stateDir, extra = [] }) {
  const args = ['serve', '-m', tinyModel(), '--alias', MODEL, '--host', '127.0.0.1', '--port', String(tlsPort),
    '--http-port', String(httpPort), '--domain', DOMAIN, '--acme-ca', pebble.directory,
    '--acme-ca-root', pebble.caRootFile, '--state-dir', stateDir, '--acme-retry-min', '1', ...extra];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const server = {
    proc, log: () => log,
    stop: (signal = 'SIGTERM') => new Promise((res) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return res();
      proc.once('exit', () => res());
      proc.kill(signal);
    }),
  };
  cleanups.push(() => server.stop('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bastion did not start:\n' + log)), 30000);
    const onData = (d) => { log += d; if (/listening on https:/.test(log)) { clearTimeout(timer); resolve(server); } };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`bastion exited (${code}):\n${log}`)); });
  });
}

// The certificate a new handshake for DOMAIN gets, and whether it verifies against `ca`.
function peerCert(port, ca = undefined) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: DOMAIN, ca, rejectUnauthorized: false,
                                 ALPNProtocols: ['http/1.1'] }, () => {
      const cert = socket.getPeerCertificate();
      resolve({ issuer: cert.issuer?.CN ?? '', serial: cert.serialNumber, authorized: socket.authorized,
                error: socket.authorizationError });
      socket.end();
    });
    socket.on('error', reject);
  });
}

async function waitFor(what, fn, timeoutMs, log) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log ? log() : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const pebbleIssued = (port, log) => waitFor('a Pebble certificate',
  async () => { const c = await peerCert(port); return /Pebble/i.test(c.issuer) ? c : null; }, 60000, log);

function request(port, ca, method, urlPath, body = null) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername: DOMAIN, ca, method, path: urlPath,
                                headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

async function setup(pebbleEnv = {}, extra = []) {
  const tlsPort = await freePort(), httpPort = await freePort();
  const pebble = await startPebble({ httpPort, tlsPort, env: pebbleEnv });
  cleanups.push(pebble.stop);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'bastion-acme-'));
  const t0 = performance.now();
  const server = await startBastion({ tlsPort, httpPort, pebble, stateDir, extra });
  return { tlsPort, httpPort, pebble, stateDir, server, t0 };
}

test('HTTP-01: bastion obtains a Pebble certificate and serves the API with it', { skip }, async () => {
  const { tlsPort, httpPort, pebble, server, t0 } = await setup({}, ['--acme-challenge', 'http-01']);
  const cert = await pebbleIssued(tlsPort, server.log);
  console.log(`# time from start to a Pebble certificate (http-01): ${Math.round(performance.now() - t0)} ms`);
  const root = await pebble.root();
  assert.equal((await peerCert(tlsPort, root)).authorized, true, 'the chain verifies against Pebble\'s root');
  assert.match(pebble.logs.pebble, /validate w\/ HTTP:/, 'Pebble validated over HTTP');
  const tags = await request(tlsPort, root, 'GET', '/api/tags');
  assert.equal(tags.status, 200);
  assert.ok(JSON.parse(tags.body).models.some((m) => m.name === MODEL));
  assert.ok(tags.headers['strict-transport-security'], 'HSTS on HTTPS responses');
  // The plain listener redirects to HTTPS.
  const redirect = execFileSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}',
    '-H', `Host: ${DOMAIN}`, `http://127.0.0.1:${httpPort}/api/tags?x=1`], { encoding: 'utf8' });
  assert.match(redirect, new RegExp(`^30[18] https://${DOMAIN.replace('.', '\\.')}(:${tlsPort})?/api/tags\\?x=1$`));
  assert.ok(cert.serial);
});

test('TLS-ALPN-01 on the TLS listener', { skip }, async () => {
  const { tlsPort, pebble, server } = await setup({}, ['--acme-challenge', 'tls-alpn-01']);
  await pebbleIssued(tlsPort, server.log);
  // Pebble logs HTTP validation attempts but not TLS-ALPN-01 ones: it validated, and not over HTTP.
  assert.match(pebble.logs.pebble, /Starting \d+ validations/);
  assert.doesNotMatch(pebble.logs.pebble, /validate w\/ HTTP:/, 'never over HTTP');
});

test('badNonce: Pebble rejecting half the nonces still issues', { skip }, async () => {
  const { tlsPort, server } = await setup({ PEBBLE_WFE_NONCEREJECT: '50' });
  await pebbleIssued(tlsPort, server.log);
});

test('forced renewal while a client streams: the stream survives, new handshakes get the new certificate', { skip }, async () => {
  const { tlsPort, pebble, stateDir, server } = await setup();
  const first = await pebbleIssued(tlsPort, server.log);
  const root = await pebble.root();
  // A long stream over one TLS connection.
  const streamDone = new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: tlsPort, servername: DOMAIN, ca: root, method: 'POST',
                                path: '/api/generate', headers: { 'content-type': 'application/json' } }, (res) => {
      let lines = '';
      res.on('data', (d) => { lines += d; });
      res.on('end', () => resolve(lines.trim().split('\n').map((l) => JSON.parse(l))));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ model: MODEL, prompt: 'go on', options: { num_predict: 3000, ignore_eos: true } }));
  });
  const renew = execFileSync(BIN, ['cert', 'renew', '--force', '--domain', DOMAIN, '--acme-ca', pebble.directory,
    '--acme-ca-root', pebble.caRootFile, '--state-dir', stateDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(renew, /renewed bastion\.test/);
  // `cert status` reads the same state directory while the server runs.
  const status = execFileSync(BIN, ['cert', 'status', '--state-dir', stateDir], { encoding: 'utf8' });
  assert.match(status, /names: +bastion\.test/);
  assert.match(status, /issuer: .*Pebble/);
  assert.match(status, /next renewal: /);
  assert.match(status, /last error: +none/);
  const second = await waitFor('the renewed certificate on new handshakes', async () => {
    const c = await peerCert(tlsPort, root);
    return c.serial !== first.serial && c.authorized ? c : null;
  }, 15000, server.log);
  assert.notEqual(second.serial, first.serial);
  const chunks = await streamDone;
  const last = chunks[chunks.length - 1];
  assert.equal(last.done, true);
  assert.ok(last.eval_count > 100, 'the stream ran through the renewal');
});

test('Pebble down at startup: bastion serves at once, then obtains when the CA comes up', { skip }, async () => {
  const tlsPort = await freePort(), httpPort = await freePort();
  const ports = { listen: await freePort(), management: await freePort(), dns: await freePort(), challMgmt: await freePort() };
  const stateDir = mkdtempSync(path.join(tmpdir(), 'bastion-acme-'));
  const fakeCa = { directory: `https://127.0.0.1:${ports.listen}/dir`, caRootFile: null };
  const pebbleLater = await startPebble({ httpPort, tlsPort, ports }).then(async (p) => { await p.stop(); return p; });
  fakeCa.caRootFile = pebbleLater.caRootFile;  // the same PKI file is reused by every startPebble
  const server = await startBastion({ tlsPort, httpPort, pebble: fakeCa, stateDir });
  const temporary = await peerCert(tlsPort);
  assert.doesNotMatch(temporary.issuer, /Pebble/i, 'a temporary certificate while the CA is down');
  await new Promise((r) => setTimeout(r, 1500));
  const pebble = await startPebble({ httpPort, tlsPort, ports });
  cleanups.push(pebble.stop);
  await pebbleIssued(tlsPort, server.log);
});

test('kill -9 in the middle of an order, then a restart: no corrupt state, it completes', { skip }, async () => {
  const tlsPort = await freePort(), httpPort = await freePort();
  // Pebble waits up to 3 s before validating: a window to kill bastion mid-order.
  const pebble = await startPebble({ httpPort, tlsPort, env: { PEBBLE_VA_NOSLEEP: '0', PEBBLE_VA_SLEEPTIME: '3' } });
  cleanups.push(pebble.stop);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'bastion-acme-'));
  const first = await startBastion({ tlsPort, httpPort, pebble, stateDir });
  await waitFor('an order at Pebble', async () => /order/i.test(pebble.logs.pebble), 20000, first.log);
  await first.stop('SIGKILL');
  const leftovers = execFileSync('find', [stateDir, '-name', '*.tmp-*'], { encoding: 'utf8' });
  assert.equal(leftovers.trim(), '', 'no half-written files');
  const second = await startBastion({ tlsPort, httpPort, pebble, stateDir });
  await pebbleIssued(tlsPort, second.log);
  // The stored files load on the next start without a new order.
  await second.stop();
  const ordersBefore = (pebble.logs.pebble.match(/POST \/order-plz|new-order|newOrder/gi) ?? []).length;
  const third = await startBastion({ tlsPort, httpPort, pebble, stateDir });
  const served = await peerCert(tlsPort);
  assert.match(served.issuer, /Pebble/i, 'the stored certificate is served at once');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((pebble.logs.pebble.match(/POST \/order-plz|new-order|newOrder/gi) ?? []).length, ordersBefore);
  await third.stop();
});
