// Pebble (Let's Encrypt's test CA, Debian package `pebble`) for the ACME end-to-end tests, with
// real validation: pebble-challtestsrv runs only as a DNS server that answers every A query with
// 127.0.0.1, so Pebble validates HTTP-01 on 127.0.0.1:httpPort and TLS-ALPN-01 on
// 127.0.0.1:tlsPort — bastion's listeners. Pebble's own HTTPS listener gets a certificate from a
// throwaway CA made here with the openssl command; bastion trusts it with --acme-ca-root.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const PEBBLE = '/usr/bin/pebble';
export const CHALLTESTSRV = '/usr/bin/pebble-challtestsrv';
export const havePebble = () => existsSync(PEBBLE) && existsSync(CHALLTESTSRV);

// A port nothing listens on now. The kernel may hand a just-closed port out again, so a test that
// asks for several before starting anything could get one twice: ports already given out by this
// process are never returned again.
const givenPorts = new Set();
function probePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}
export async function freePort() {
  for (;;) {
    const port = await probePort();
    if (!givenPorts.has(port)) {
      givenPorts.add(port);
      return port;
    }
  }
}

// A CA and a 127.0.0.1/localhost certificate for Pebble's listener (once per process).
let pki = null;
function pebblePki() {
  if (pki) return pki;
  const dir = mkdtempSync(path.join(tmpdir(), 'bastion-pebble-pki-'));
  const f = (n) => path.join(dir, n);
  const ossl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'),
       '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=bastion test: Pebble listener CA');
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('key.pem'),
       '-out', f('csr.pem'), '-subj', '/CN=localhost');
  writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n' +
                              'extendedKeyUsage=serverAuth\n');
  ossl('x509', '-req', '-in', f('csr.pem'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
       '-out', f('cert.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  pki = { dir, ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
  return pki;
}

function httpsGet(url, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

// Starts challtestsrv + Pebble. env: extra Pebble environment (PEBBLE_WFE_NONCEREJECT=50 ...).
// Ports may be given (to start Pebble after bastion, on the ports bastion was told).
export async function startPebble({ httpPort, tlsPort, env = {}, ports = null } = {}) {
  const { ca, cert, key } = pebblePki();
  const dir = mkdtempSync(path.join(tmpdir(), 'bastion-pebble-'));
  const p = ports ?? { listen: await freePort(), management: await freePort(), dns: await freePort(),
                       challMgmt: await freePort() };
  writeFileSync(path.join(dir, 'pebble.json'), JSON.stringify({ pebble: {
    listenAddress: `127.0.0.1:${p.listen}`, managementListenAddress: `127.0.0.1:${p.management}`,
    certificate: cert, privateKey: key, httpPort, tlsPort, ocspResponderURL: '',
    externalAccountBindingRequired: false } }));
  const logs = { challtestsrv: '', pebble: '' };
  const chall = spawn(CHALLTESTSRV, ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${p.dns}`,
    '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${p.challMgmt}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  chall.stdout.on('data', (d) => { logs.challtestsrv += d; });
  chall.stderr.on('data', (d) => { logs.challtestsrv += d; });
  const pebble = spawn(PEBBLE, ['-config', path.join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${p.dns}`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', ...env } });
  pebble.stdout.on('data', (d) => { logs.pebble += d; });
  pebble.stderr.on('data', (d) => { logs.pebble += d; });
  const caPem = readFileSync(ca);
  const directory = `https://127.0.0.1:${p.listen}/dir`;
  const management = `https://127.0.0.1:${p.management}`;
  const stop = async () => {
    for (const proc of [pebble, chall]) {
      if (proc.exitCode === null && proc.signalCode === null) {
        await new Promise((res) => { proc.once('exit', res); proc.kill('SIGTERM'); });
      }
    }
  };
  const deadline = Date.now() + 20000;
  for (;;) {
    if (chall.exitCode !== null || pebble.exitCode !== null) {
      await stop();
      throw new Error('pebble or pebble-challtestsrv exited:\n' + logs.pebble + logs.challtestsrv);
    }
    try {
      if ((await httpsGet(directory, caPem)).status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { await stop(); throw new Error('pebble did not start:\n' + logs.pebble + logs.challtestsrv); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    directory, management, caRootFile: ca, ports: p, logs, stop,
    // Pebble's issuing root (regenerated at every start).
    root: async () => (await httpsGet(`${management}/roots/0`, caPem)).body,
  };
}
