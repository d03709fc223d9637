// `bastion serve` over HTTPS with its default certificate, from the local CA: curl with
// --cacert, the plain-HTTP redirect listener, the CA reused across restarts, and then the real
// openai and ollama npm clients in a child Node process that trusts the CA the way a user would
// (NODE_EXTRA_CA_CERTS, read by Node only at startup).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, curl, BIN } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

test('HTTPS with the local CA, redirect listener, clients trusting the CA', async () => {
  const server = await startServer([], { tls: true, httpPort: 0 });
  let stateDir;
  let caPem;
  try {
    stateDir = server.stateDir;
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(server.log().includes(server.caFile), 'the log says where the CA certificate is');
    assert.ok(server.log().includes('NODE_EXTRA_CA_CERTS='), 'and how to trust it');
    assert.equal(statSync(path.join(stateDir, 'tls', 'local-ca', 'ca.key')).mode & 0o777, 0o600);
    caPem = readFileSync(server.caFile, 'utf8');

    // curl trusts it with --cacert; without, the certificate is rejected.
    const head = curl(['-D', '-', '-o', '/dev/null', '--cacert', server.caFile, server.url + '/api/version']);
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.ok(!/strict-transport-security/i.test(head), 'no HSTS with the local CA (it would pin localhost)');
    const body = curl(['--cacert', server.caFile, server.url.replace('127.0.0.1', 'localhost') + '/api/version']);
    assert.match(body, /"version"/);
    assert.throws(() => curl([server.url + '/api/version']), /certificate/i);

    // A streamed chat over HTTPS.
    const stream = curl(['--cacert', server.caFile, '-N', server.url + '/api/chat', '-d',
      JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 4 } })]);
    const lines = stream.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).done, true);

    // The plain-HTTP listener redirects to the HTTPS port, keeping path and query.
    assert.ok(server.httpUrl, 'redirect listener announced');
    const httpsPort = new URL(server.url).port;
    const redirect = curl(['-D', '-', '-o', '/dev/null', server.httpUrl + '/api/tags?x=1']);
    assert.match(redirect, /^HTTP\/1\.1 301/);
    assert.match(redirect, new RegExp(`\\r\\nLocation: https://127\\.0\\.0\\.1:${httpsPort}/api/tags\\?x=1\\r\\n`, 'i'));
    const post = curl(['-D', '-', '-o', '/dev/null', '-X', 'POST', server.httpUrl + '/v1/chat/completions']);
    assert.match(post, /^HTTP\/1\.1 308/);
    const unknown = curl(['-D', '-', '-o', '/dev/null', server.httpUrl + '/.well-known/acme-challenge/nope']);
    assert.match(unknown, /^HTTP\/1\.1 404/);
    // curl follows the redirect to HTTPS.
    assert.match(curl(['-L', '--cacert', server.caFile, server.httpUrl + '/api/version']), /"version"/);
  } finally {
    await server.stop();
  }

  // The npm clients, in a Node process that trusts the CA from the start, against a restarted
  // server on the same state directory (which must reuse the CA).
  // NODE_TEST_CONTEXT (set by the runner for its children) would make the child report to us in
  // the runner's private protocol instead of running as a test process of its own.
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: path.join(stateDir, 'tls', 'local-ca', 'ca.crt'),
                BASTION_STATE_DIR: stateDir, BASTION_BIN: BIN };
  delete env.NODE_TEST_CONTEXT;
  const child = spawnSync(process.execPath, ['--test', '--test-reporter=spec', path.join(here, 'https_clients.mjs')], {
    env,
    encoding: 'utf8',
    timeout: 240000,
  });
  assert.equal(child.status, 0, `client tests failed:\n${child.stdout}\n${child.stderr}`);
  assert.match(child.stdout, /pass 2/, `both client tests ran:\n${child.stdout}`);
  assert.equal(readFileSync(path.join(stateDir, 'tls', 'local-ca', 'ca.crt'), 'utf8'), caPem, 'CA reused on restart');
});

// Started as root with --user: binds a privileged port and reads the keys as root, then runs as
// the unprivileged user and still serves (and owns its state directory). Only where the test
// itself runs as root (CI does) and the `nobody` user exists.
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const nobody = (() => { try { return /^nobody:/m.test(readFileSync('/etc/passwd', 'utf8')); } catch { return false; } })();
test('--user drops root after binding a port below 1024', { skip: asRoot && nobody ? false : 'needs root and the nobody user' }, async () => {
  // A free privileged port: the kernel tells us which one by a failed or successful bind.
  const net = await import('node:net');
  let port = 0;
  for (let p = 600; p < 1000 && port === 0; p += 7) {
    port = await new Promise((res) => {
      const s = net.createServer().once('error', () => res(0)).listen(p, '127.0.0.1', () => s.close(() => res(p)));
    });
  }
  assert.ok(port > 0, 'found a free port below 1024');
  const { mkdtempSync, chmodSync } = await import('node:fs');
  const os = await import('node:os');
  // The model file must stay readable once bastion is `nobody`.
  const stateParent = mkdtempSync(path.join(os.tmpdir(), 'bastion-user-'));
  chmodSync(stateParent, 0o755);
  const server = await startServer(['--port', String(port), '--user', 'nobody'], { tls: true, stateDir: path.join(stateParent, 'state') });
  try {
    const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m, 'runs as nobody (real, effective, saved, fs)');
    assert.match(status, /^Gid:\s+65534\s+65534\s+65534\s+65534$/m);
    assert.equal(statSync(path.join(stateParent, 'state', 'tls', 'local-ca', 'ca.key')).uid, 65534, 'state dir given to nobody');
    assert.match(curl(['--cacert', server.caFile, `https://127.0.0.1:${port}/api/version`]), /"version"/);
  } finally {
    await server.stop();
  }
});
