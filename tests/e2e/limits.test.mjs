// Limits over real sockets: each excess gets its own status in the API's error shape, and a
// slowloris crowd is cut off while a normal client keeps being served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, MODEL } from './harness.mjs';

let server;
before(async () => {
  server = await startServer(['--max-body-bytes', '64KiB', '--max-header-count', '20', '--header-timeout', '2']);
});
after(async () => { await server.stop(); });

const port = () => Number(new URL(server.url).port);

test('oversized body → 413 in each API shape', async () => {
  const big = JSON.stringify({ model: MODEL, prompt: 'x'.repeat(100 * 1024) });
  const ollama = await fetch(server.url + '/api/generate', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
  assert.equal(ollama.status, 413);
  assert.equal(typeof (await ollama.json()).error, 'string');
  const openai = await fetch(server.url + '/v1/completions', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
  assert.equal(openai.status, 413);
  assert.equal(typeof (await openai.json()).error.message, 'string');
});

test('too many header fields → 431', async () => {
  const headers = {};
  for (let i = 0; i < 30; ++i) headers[`x-filler-${i}`] = 'y';
  const r = await fetch(server.url + '/api/version', { headers });
  assert.equal(r.status, 431);
});

test('JSON nested too deeply → 400 naming the limit', async () => {
  const deep = '{"model":"' + MODEL + '","prompt":"hi","options":' + '['.repeat(200) + ']'.repeat(200) + '}';
  const r = await fetch(server.url + '/api/generate', { method: 'POST', body: deep, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /nested deeper than/);
});

test('a number beyond a double is a 400, not a 500', async () => {
  const r = await fetch(server.url + '/api/generate', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: '{"model":"' + MODEL + '","prompt":"hi","options":{"temperature":1e999}}' });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /invalid JSON/);
});

test('slowloris: trickling headers are cut off at the header timeout, normal clients keep being served', async () => {
  const sockets = [];
  const closedAt = [];
  const t0 = Date.now();
  for (let i = 0; i < 20; ++i) {
    const s = net.connect(port(), '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => closedAt.push(Date.now() - t0));
    s.write('GET /api/version HTTP/1.1\r\nHost: x\r\n');
    sockets.push(s);
  }
  const timer = setInterval(() => { for (const s of sockets) if (!s.destroyed) s.write('X-a: b\r\n'); }, 500);
  try {
    // Normal requests keep working while the slow clients hang on.
    for (let i = 0; i < 5; ++i) {
      assert.equal((await fetch(server.url + '/api/version')).status, 200);
      await new Promise((r) => setTimeout(r, 200));
    }
    const deadline = Date.now() + 8000;
    while (closedAt.length < sockets.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(closedAt.length, sockets.length, 'every slow client was disconnected');
    // The header timeout bounds the whole header (2 s), not each byte.
    for (const t of closedAt) assert.ok(t >= 1500 && t < 6000, `closed after ${t} ms`);
    assert.equal((await fetch(server.url + '/api/version')).status, 200);
  } finally {
    clearInterval(timer);
    for (const s of sockets) s.destroy();
  }
});

test('the default access log is nginx combined format in the state directory, with hostile bytes escaped', async () => {
  const { readFileSync } = await import('node:fs');
  const path = (await import('node:path')).default;
  // A raw request whose User-Agent carries a quote (which would end the field) and non-ASCII
  // bytes (control bytes never get this far: the parser answers 400).
  await new Promise((resolve, reject) => {
    const s = net.connect(port(), '127.0.0.1', () => {
      s.write('GET /api/version?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: evil" 200 \u00e9x\r\nConnection: close\r\n\r\n');
    });
    s.on('data', () => {});
    s.on('close', resolve);
    s.on('error', reject);
  });
  await new Promise((res) => setTimeout(res, 200));
  const log = readFileSync(path.join(server.stateDir, 'logs', 'access.log'), 'utf8');
  const line = log.split('\n').find((l) => l.includes('/api/version?q=1'));
  assert.ok(line, log);
  assert.match(line, /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/api\/version\?q=1 HTTP\/1\.1" 200 \d+ "" "evil\\" 200 \\xC3\\xA9x" rid=\S+ rt=\d+\.\d{3}$/);
});
