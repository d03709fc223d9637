// `bastion serve` and the model store: with no model it serves the default qwen2.5:0.5b, pulling
// it on first run (and only then) from the configured hub; offline with an empty store it says
// what to do instead. Ollama's /api/pull (streamed progress), /api/copy, /api/delete and the
// store's models in /api/tags, driven by the real `ollama` npm client: off unless
// --model-management, admin scope once keys exist, and never a client-chosen URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ollama } from 'ollama';
import { BIN, startServer } from './harness.mjs';
import { startHub } from './fake_hub.mjs';

const REPO = 'Qwen/Qwen2.5-0.5B-Instruct-GGUF';
let hub, work;
const newState = () => mkdtempSync(path.join(tmpdir(), 'bastion-models-'));
const hubEnv = () => ({ HF_ENDPOINT: hub.url, BASTION_OLLAMA_REGISTRY: hub.url });
const createKey = (stateDir, name, ...extra) =>
  execFileSync(BIN, ['keys', 'create', '--name', name, '--state-dir', stateDir, ...extra],
               { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'bastion-models-hub-'));
  const files = {};
  for (const [name, seed] of [['q4_k_m', 1], ['q8_0', 2]]) {
    const f = path.join(work, `${name}.gguf`);
    execFileSync(BIN, ['synth', '--preset', 'tiny', '--type', 'Q8_0', '--seed', String(seed), '-q', '-o', f]);
    files[name] = readFileSync(f);
  }
  hub = await startHub();
  hub.addHfFile(REPO, 'qwen2.5-0.5b-instruct-q4_k_m.gguf', files.q4_k_m);
  hub.addHfFile(REPO, 'qwen2.5-0.5b-instruct-q8_0.gguf', files.q8_0);
  hub.addFile('tiny.gguf', files.q4_k_m);
});

after(async () => { await hub?.close(); });

const generate = async (url, model) => {
  const r = await fetch(url + '/api/generate', { method: 'POST', body: JSON.stringify(
    { model, prompt: 'hi', stream: false, options: { num_predict: 3, temperature: 0 } }) });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
};

test('serve with no model pulls the default qwen2.5:0.5b once, then serves it from the store', async () => {
  const stateDir = newState();
  const downloads = () => hub.requests((q) => q.method === 'GET' && q.url.startsWith('/cdn/')).length;
  const before = downloads();
  let s = await startServer([], { model: null, alias: null, stateDir, env: hubEnv() });
  try {
    assert.match(s.log(), /model qwen2\.5:0\.5b is not in the store .*; pulling it/);
    assert.equal(downloads(), before + 1);
    const tags = await (await fetch(s.url + '/api/tags')).json();
    assert.deepEqual(tags.models.map((m) => m.name), ['qwen2.5:0.5b']);
    assert.equal((await generate(s.url, 'qwen2.5:0.5b')).done, true);
  } finally {
    await s.stop();
  }
  // Second start: no network needed (the hub is unreachable for it), nothing downloaded.
  s = await startServer([], { model: null, alias: null, stateDir, env: { HF_ENDPOINT: 'http://127.0.0.1:9' } });
  try {
    assert.doesNotMatch(s.log(), /pulling/);
    assert.equal(downloads(), before + 1);
    assert.equal((await generate(s.url, 'qwen2.5:0.5b')).done, true);
  } finally {
    await s.stop();
  }
});

test('offline with an empty store: a plain error pointing to --model and bastion synth', async () => {
  const r = await new Promise((resolve) => {
    const p = spawn(BIN, ['serve', '--no-tls', '--port', '0', '--state-dir', newState()],
                    { env: { ...process.env, HF_ENDPOINT: 'http://127.0.0.1:9' } });
    let stderr = '';
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (status) => resolve({ status, stderr }));
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot serve 'qwen2\.5:0\.5b': it is not in the store/);
  assert.match(r.stderr, /--model FILE/);
  assert.match(r.stderr, /bastion synth/);
});

test('model management is off by default: /api/pull, /api/delete, /api/copy answer 403', async () => {
  const s = await startServer([], { env: hubEnv() });
  try {
    for (const [method, route, body] of [['POST', '/api/pull', { model: 'qwen2.5:0.5b' }],
                                         ['DELETE', '/api/delete', { model: 'tiny' }],
                                         ['POST', '/api/copy', { source: 'tiny', destination: 'x' }]]) {
      const r = await fetch(s.url + route, { method, body: JSON.stringify(body) });
      assert.equal(r.status, 403, route);
      assert.match((await r.json()).error, /model management is off.*--model-management/);
    }
    const r = await fetch(s.url + '/api/create', { method: 'POST', body: '{}' });
    assert.equal(r.status, 501);
  } finally {
    await s.stop();
  }
});

test('/api/pull streams Ollama-shaped progress; /api/tags, /api/copy and /api/delete work on the store', async () => {
  const stateDir = newState();
  const s = await startServer(['--model-management'], { stateDir, env: hubEnv() });
  try {
    assert.match(s.log(), /model pulls may reach private addresses: HF_ENDPOINT/);
    const ollama = new Ollama({ host: s.url });
    const events = [];
    for await (const e of await ollama.pull({ model: 'qwen2.5:0.5b-instruct-q8_0', stream: true })) events.push(e);
    const statuses = events.map((e) => e.status);
    assert.equal(statuses[0], 'pulling manifest');
    assert.equal(statuses.at(-1), 'success');
    assert.ok(statuses.includes('verifying sha256 digest'));
    assert.ok(statuses.includes('writing manifest'));
    const progress = events.filter((e) => e.total > 0);
    assert.ok(progress.length >= 1);
    assert.match(progress[0].digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(progress.at(-1).completed, progress.at(-1).total);

    let names = (await ollama.list()).models.map((m) => m.name);
    assert.ok(names.includes('qwen2.5:0.5b-instruct-q8_0'), names.join(', '));
    const listed = (await ollama.list()).models.find((m) => m.name === 'qwen2.5:0.5b-instruct-q8_0');
    assert.equal(listed.details.quantization_level, 'Q8_0');
    assert.match(listed.digest, /^[0-9a-f]{64}$/);

    // stream: false answers once, at the end.
    assert.deepEqual(await ollama.pull({ model: 'qwen2.5:0.5b', stream: false }), { status: 'success' });

    await ollama.copy({ source: 'qwen2.5:0.5b-instruct-q8_0', destination: 'mine' });
    names = (await ollama.list()).models.map((m) => m.name);
    assert.ok(names.includes('mine'));
    await ollama.delete({ model: 'qwen2.5:0.5b-instruct-q8_0' });
    await ollama.delete({ model: 'mine' });
    names = (await ollama.list()).models.map((m) => m.name);
    assert.ok(!names.includes('mine') && !names.includes('qwen2.5:0.5b-instruct-q8_0'), names.join(', '));
    await assert.rejects(ollama.delete({ model: 'mine' }), /not found/);

    // A pull that fails says why, in the stream.
    const failed = [];
    await assert.rejects(async () => {
      for await (const e of await ollama.pull({ model: 'hf.co/Nobody/Nothing-GGUF/x.gguf', stream: true })) failed.push(e);
    }, /pull of hf\.co\/Nobody\/Nothing-GGUF\/x\.gguf failed/);
    // Never a client-chosen URL (SSRF).
    const url = await fetch(s.url + '/api/pull', { method: 'POST', body: JSON.stringify({ model: hub.url + '/files/tiny.gguf' }) });
    assert.equal(url.status, 403);
    assert.equal(hub.requests((q) => q.url.includes('/files/tiny.gguf')).length, 0);
  } finally {
    await s.stop();
  }
});

test('with keys, model management needs the admin scope', async () => {
  const stateDir = newState();
  const user = createKey(stateDir, 'app', '--scope', 'inference');
  const admin = createKey(stateDir, 'ops', '--scope', 'admin');
  const s = await startServer(['--model-management'], { stateDir, env: hubEnv() });
  try {
    const pull = (key) => fetch(s.url + '/api/pull', { method: 'POST', headers: { authorization: `Bearer ${key}` },
                                                       body: JSON.stringify({ model: 'qwen2.5:0.5b', stream: false }) });
    const denied = await pull(user);
    assert.equal(denied.status, 403);
    assert.match((await denied.json()).error, /lacks the admin scope needed for \/api\/pull/);
    const allowed = await pull(admin);
    assert.equal(allowed.status, 200);
    assert.deepEqual(await allowed.json(), { status: 'success' });
    assert.match(s.log(), /\[notice\] models: pull of qwen2\.5:0\.5b requested by 127\.0\.0\.1 \(key ops\)/);
  } finally {
    await s.stop();
  }
});
