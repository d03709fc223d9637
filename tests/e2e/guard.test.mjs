// The guard in front of the API: API keys (401/403 shapes of both APIs, Bearer and X-Api-Key,
// revocation while the server runs), the secure default for non-loopback listeners, per-address
// and per-key rate limits with nginx limit_req semantics, trusted proxies, CORS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { startServer, BIN, MODEL, tinyModel } from './harness.mjs';

const newStateDir = () => mkdtempSync(path.join(tmpdir(), 'bastion-guard-'));
const createKey = (stateDir, name, ...extra) =>
  execFileSync(BIN, ['keys', 'create', '--name', name, '--state-dir', stateDir, ...extra],
               { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const get = (url, headers = {}) => fetch(url, { headers });

test('a non-loopback listener without API keys is refused', () => {
  const r = spawnSync(BIN, ['serve', '-m', tinyModel(), '--host', '0.0.0.0', '--port', '0', '--no-tls',
                            '--state-dir', newStateDir()], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /refusing to serve on 0\.0\.0\.0 without API keys/);
  assert.match(r.stderr, /--insecure-no-auth/);
});

test('API keys: 401 shapes, Bearer and X-Api-Key, admin scope for /metrics, revocation while running', async () => {
  const stateDir = newStateDir();
  const user = createKey(stateDir, 'app');
  const admin = createKey(stateDir, 'ops', '--scope', 'admin');
  assert.match(user, /^bst_[A-Za-z0-9_-]{43}$/);
  const server = await startServer(['--rate', '1000r/s', '--burst', '1000'], { stateDir });
  try {
    assert.equal((await get(server.url + '/health')).status, 200, '/health stays open');

    const ollama401 = await get(server.url + '/api/tags');
    assert.equal(ollama401.status, 401);
    assert.equal(ollama401.headers.get('www-authenticate'), 'Bearer realm="bastion"');
    assert.equal(typeof (await ollama401.json()).error, 'string', 'Ollama error shape');
    const openai401 = await get(server.url + '/v1/models', { authorization: 'Bearer bst_wrong' });
    assert.equal(openai401.status, 401);
    assert.match(openai401.headers.get('www-authenticate'), /error="invalid_token"/);
    const body = await openai401.json();
    assert.equal(typeof body.error.message, 'string', 'OpenAI error shape');
    assert.ok('type' in body.error && 'code' in body.error && 'param' in body.error);

    assert.equal((await get(server.url + '/api/tags', { authorization: `Bearer ${user}` })).status, 200);
    assert.equal((await get(server.url + '/api/tags', { 'x-api-key': user })).status, 200);

    // The real clients with a key.
    const client = new OpenAI({ baseURL: server.url + '/v1', apiKey: user });
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    assert.ok(r.choices[0].message.content !== undefined);
    await assert.rejects(new OpenAI({ baseURL: server.url + '/v1', apiKey: 'bst_nope' }).models.list(), (e) => e.status === 401);
    const ollama = new Ollama({ host: server.url, headers: { Authorization: `Bearer ${user}` } });
    assert.ok((await ollama.list()).models.some((m) => m.name === MODEL));

    assert.equal((await get(server.url + '/metrics', { authorization: `Bearer ${user}` })).status, 403);
    assert.equal((await get(server.url + '/metrics', { authorization: `Bearer ${admin}` })).status, 200);

    // Revocation takes effect without a restart.
    execFileSync(BIN, ['keys', 'revoke', 'app', '--state-dir', stateDir]);
    const deadline = Date.now() + 5000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
      status = (await get(server.url + '/api/tags', { authorization: `Bearer ${user}` })).status;
    }
    assert.equal(status, 401, 'the revoked key is refused');
    assert.equal((await get(server.url + '/api/tags', { authorization: `Bearer ${admin}` })).status, 200);
    // Revoking the last key does not open the server.
    execFileSync(BIN, ['keys', 'revoke', 'ops', '--state-dir', stateDir]);
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal((await get(server.url + '/api/tags')).status, 401);
  } finally {
    await server.stop();
  }
});

test('rate limit per client address: exactly rate + burst admitted, 429 with Retry-After in each API shape', async () => {
  const server = await startServer(['--rate', '1r/s', '--burst', '3']);
  try {
    const statuses = [];
    for (let i = 0; i < 10; ++i) statuses.push((await get(server.url + '/api/version')).status);
    // nginx limit_req, nodelay: the first request plus `burst` more pass at once, the rest wait.
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429, 429, 429, 429, 429]);
    const limited = await get(server.url + '/v1/models');
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(typeof (await limited.json()).error.message, 'string');
    const ollamaLimited = await get(server.url + '/api/tags');
    assert.equal(typeof (await ollamaLimited.json()).error, 'string');
    for (let i = 0; i < 5; ++i) assert.equal((await get(server.url + '/health')).status, 200, '/health is not limited');
    // X-Forwarded-For from an untrusted peer changes nothing.
    assert.equal((await get(server.url + '/api/version', { 'x-forwarded-for': '203.0.113.9' })).status, 429);
  } finally {
    await server.stop();
  }
});

test('trusted proxies: X-Forwarded-For names the client only from a trusted peer', async () => {
  const server = await startServer(['--rate', '1r/s', '--burst', '1', '--trusted-proxies', '127.0.0.1/32']);
  try {
    for (const client of ['198.51.100.1', '198.51.100.2', '2001:db8::7']) {
      const got = [];
      for (let i = 0; i < 4; ++i) {
        got.push((await get(server.url + '/api/version', { 'x-forwarded-for': `${client}, 127.0.0.1` })).status);
      }
      assert.deepEqual(got, [200, 200, 429, 429], `own bucket for ${client}`);
    }
  } finally {
    await server.stop();
  }
});

test('per-key rate limit', async () => {
  const stateDir = newStateDir();
  const key = createKey(stateDir, 'slow', '--rate', '1r/s', '--burst', '1');
  const server = await startServer(['--rate', '1000r/s', '--burst', '1000'], { stateDir });
  try {
    const got = [];
    for (let i = 0; i < 4; ++i) got.push((await get(server.url + '/api/version', { 'x-api-key': key })).status);
    assert.deepEqual(got, [200, 200, 429, 429]);
  } finally {
    await server.stop();
  }
});

test('CORS: only listed origins, preflight answered, never reflected otherwise', async () => {
  const server = await startServer(['--cors-origin', 'https://app.example.com']);
  try {
    const preflight = (origin) => fetch(server.url + '/v1/chat/completions', { method: 'OPTIONS', headers: {
      origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    const ok = await preflight('https://app.example.com');
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(ok.headers.get('access-control-allow-headers').toLowerCase(), /authorization/);
    const bad = await preflight('https://evil.example.net');
    assert.equal(bad.status, 403);
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
    const simple = await get(server.url + '/api/version', { origin: 'https://app.example.com' });
    assert.equal(simple.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(simple.headers.get('vary') ?? '', /origin/i);
    const other = await get(server.url + '/api/version', { origin: 'https://evil.example.net' });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  } finally {
    await server.stop();
  }
});

test('access log: JSON lines with client, request id, key name, tokens and TTFT; never the key; reopened on SIGUSR1', async () => {
  const { readFileSync, renameSync, existsSync } = await import('node:fs');
  const stateDir = newStateDir();
  const key = createKey(stateDir, 'logger');
  const logFile = path.join(stateDir, 'access.jsonl');
  const server = await startServer(['--access-log', logFile, '--access-log-format', 'json'], { stateDir });
  try {
    const r = await fetch(server.url + '/api/generate', { method: 'POST', headers: { 'x-api-key': key, 'x-request-id': 'test-req-1' },
      body: JSON.stringify({ model: MODEL, prompt: 'hello', stream: false, options: { num_predict: 5 } }) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-request-id'), 'test-req-1');
    assert.equal((await get(server.url + '/api/tags')).status, 401);
    await new Promise((res) => setTimeout(res, 200));
    const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const gen = lines.find((l) => l.request_id === 'test-req-1');
    assert.ok(gen, 'the generation is logged under its request id');
    assert.equal(gen.key, 'logger');
    assert.equal(gen.client, '127.0.0.1');
    assert.equal(gen.method, 'POST');
    assert.equal(gen.path, '/api/generate');
    assert.equal(gen.status, 200);
    assert.ok(gen.tokens_in > 0 && gen.tokens_out > 0 && gen.tokens_out <= 5);
    assert.ok(gen.ttft_ms > 0 && gen.ttft_ms <= gen.latency_ms);
    assert.ok(lines.some((l) => l.status === 401 && l.key === null && l.path === '/api/tags'));
    assert.ok(!readFileSync(logFile, 'utf8').includes(key), 'the key itself is never logged');
    assert.ok(!readFileSync(logFile, 'utf8').includes('hello'), 'prompts are not logged');
    // Rotation: move the file away, SIGUSR1, and the next line goes to a new file.
    renameSync(logFile, logFile + '.1');
    server.proc.kill('SIGUSR1');
    await new Promise((res) => setTimeout(res, 100));
    assert.equal((await get(server.url + '/health')).status, 200);
    await new Promise((res) => setTimeout(res, 200));
    assert.ok(existsSync(logFile), 'reopened');
    assert.match(readFileSync(logFile, 'utf8'), /"path":"\/health"/);
  } finally {
    await server.stop();
  }
});
