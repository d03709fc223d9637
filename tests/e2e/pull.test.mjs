// `bastion pull`, `list`, `show`, `rm` and `cp` against an imitation hub on 127.0.0.1
// (fake_hub.mjs: Hugging Face resolve/redirect/LFS headers and model info, the Ollama registry's
// manifests and blobs, plain files), serving GGUF files made by `bastion synth`: pulls from each
// source, a pulled model served, resume after a cut connection (the Range request is asserted),
// a wrong digest and a non-GGUF file rejected with nothing left behind, two concurrent pulls
// ending with one blob, HTTPS with the project's local CA, and the progress display in a
// pseudo-terminal (script) and as plain lines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BIN, startServer } from './harness.mjs';
import { startHub, sha256 } from './fake_hub.mjs';

const REPO = 'Qwen/Qwen2.5-0.5B-Instruct-GGUF';
let hub, modelA, modelB, shaA, shaB, work;

const newState = () => mkdtempSync(path.join(tmpdir(), 'bastion-pull-'));

// Always asynchronous: the hub runs in this process, so a synchronous child would deadlock it.
function runAsync(file, args, env = {}) {
  return new Promise((resolve) => {
    const p = spawn(file, args, { env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 120000);
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

const pull = (state, args, { env = {}, hubUrl = hub.url } = {}) =>
  runAsync(BIN, ['pull', ...args, '--state-dir', state], { HF_ENDPOINT: hubUrl, BASTION_OLLAMA_REGISTRY: hubUrl, ...env });
const bastion = (args, env = {}) => runAsync(BIN, args, env);
const blobFiles = (state) => existsSync(path.join(state, 'models', 'blobs')) ? readdirSync(path.join(state, 'models', 'blobs')) : [];
const manifestFiles = (state) => existsSync(path.join(state, 'models', 'manifests')) ? readdirSync(path.join(state, 'models', 'manifests')) : [];
const ok = (r) => assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'bastion-hub-'));
  const a = path.join(work, 'a.gguf');
  const b = path.join(work, 'b.gguf');
  execFileSync(BIN, ['synth', '--preset', 'tiny', '--type', 'Q8_0', '--seed', '1', '-q', '-o', a]);
  execFileSync(BIN, ['synth', '--preset', 'tiny', '--type', 'Q8_0', '--seed', '2', '-q', '-o', b]);
  modelA = readFileSync(a);
  modelB = readFileSync(b);
  shaA = sha256(modelA);
  shaB = sha256(modelB);
  hub = await startHub();
  hub.addHfFile(REPO, 'qwen2.5-0.5b-instruct-q4_k_m.gguf', modelA);
  hub.addHfFile(REPO, 'qwen2.5-0.5b-instruct-q8_0.gguf', modelB);
  hub.addHfSibling(REPO, 'qwen2.5-0.5b-instruct-fp16-00001-of-00002.gguf');
  hub.addOllama('qwen2.5', '0.5b', modelB);
  hub.addFile('tiny.gguf', modelA);
});

after(async () => { await hub?.close(); });

test('HF short name: pull, list, show, generate by name, and the model serves', async () => {
  const state = newState();
  const r = await pull(state, ['qwen2.5:0.5b']);
  ok(r);
  assert.match(r.stdout, /pulled qwen2\.5:0\.5b/);
  // The documented requests: HEAD on resolve (not followed), then GET following the redirect.
  const head = hub.requests((q) => q.method === 'HEAD' && q.url.endsWith(`/${REPO}/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf`));
  assert.equal(head.length >= 1, true);
  assert.ok(hub.requests((q) => q.method === 'GET' && q.url === `/cdn/${shaA}`).length >= 1);
  assert.deepEqual(blobFiles(state), [`sha256-${shaA}`]);
  assert.equal(sha256(readFileSync(path.join(state, 'models', 'blobs', `sha256-${shaA}`))), shaA);

  const manifest = JSON.parse(readFileSync(path.join(state, 'models', 'manifests', 'qwen2.5%3A0.5b.json'), 'utf8'));
  assert.equal(manifest.name, 'qwen2.5:0.5b');
  assert.equal(manifest.digest, `sha256:${shaA}`);
  assert.equal(manifest.size, modelA.length);
  assert.equal(manifest.weight_type, 'Q8_0');
  assert.equal(manifest.architecture, 'qwen2');
  assert.ok(manifest.parameters > 0 && manifest.context_length > 0);
  assert.match(manifest.source, /^hf\.co\/Qwen\/Qwen2\.5-0\.5B-Instruct-GGUF\/qwen2\.5-0\.5b-instruct-q4_k_m\.gguf$/);
  assert.match(manifest.added, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const list = await bastion(['list', '--state-dir', state]);
  ok(list);
  assert.match(list.stdout, /^NAME\s+ID\s+TYPE\s+SIZE\s+MODIFIED/);
  assert.match(list.stdout, new RegExp(`qwen2\\.5:0\\.5b\\s+${shaA.slice(0, 12)}\\s+Q8_0\\s+[\\d.]+ MB\\s+(just now|\\d+ seconds? ago)`));

  const show = await bastion(['show', 'qwen2.5:0.5b', '--state-dir', state]);
  ok(show);
  for (const re of [/architecture: qwen2/, /parameters:/, /quantization: Q8_0/, /context:/, /template:/, /digest: +sha256:/]) {
    assert.match(show.stdout, re);
  }
  // -m NAME resolves through the store (BASTION_HOME is the state directory).
  const gen = await bastion(['generate', '-m', 'qwen2.5:0.5b', '-p', 'hi', '-n', '2', '--temp', '0'], { BASTION_HOME: state });
  ok(gen);

  const blob = path.join(state, 'models', 'blobs', `sha256-${shaA}`);
  const server = await startServer([], { model: blob, alias: 'qwen2.5:0.5b' });
  try {
    const res = await fetch(server.url + '/api/generate', {
      method: 'POST', body: JSON.stringify({ model: 'qwen2.5:0.5b', prompt: 'hi', stream: false, options: { num_predict: 3 } }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.done, true);
    assert.equal(typeof body.response, 'string');
  } finally {
    await server.stop();
  }
});

test('HF repo with a quantization uses the model info to choose the file', async () => {
  const state = newState();
  const r = await pull(state, [`hf.co/${REPO}:q8_0`]);
  ok(r);
  assert.ok(hub.requests((q) => q.url === `/api/models/${REPO}`).length >= 1);
  assert.match(r.stdout, new RegExp(`pulled hf\\.co/${REPO.replace('.', '\\.')}:Q8_0`));
  assert.deepEqual(blobFiles(state), [`sha256-${shaB}`]);
  // Only a split file carries fp16: a clear error, not a broken pull.
  const split = await pull(state, [`hf.co/${REPO}:FP16`]);
  assert.equal(split.status, 1);
  assert.match(split.stderr, /split GGUF/);
  const missing = await pull(state, [`hf.co/${REPO}:Q3_K_M`]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no \.gguf file for Q3_K_M/);
});

test('Ollama registry: manifest, then the model layer by digest (redirected)', async () => {
  const state = newState();
  const r = await pull(state, ['ollama://qwen2.5:0.5b']);
  ok(r);
  const manifests = hub.requests((q) => q.url === '/v2/library/qwen2.5/manifests/0.5b');
  assert.ok(manifests.length >= 1);
  assert.match(manifests[0].accept, /application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
  assert.ok(hub.requests((q) => q.url === `/v2/library/qwen2.5/blobs/sha256:${shaB}`).length >= 1);
  assert.deepEqual(blobFiles(state), [`sha256-${shaB}`]);
  assert.match((await bastion(['list', '--state-dir', state])).stdout, /ollama:\/\/qwen2\.5:0\.5b/);
  const missing = await pull(state, ['ollama://qwen2.5:99b']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /not found in the registry/);
});

test('plain URL: needs --sha256 over http, and is verified against it', async () => {
  const state = newState();
  const url = `${hub.url}/files/tiny.gguf`;
  const refused = await pull(state, [url]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /plain http:\/\/ URL/);
  const r = await pull(state, [url, '--sha256', shaA, '--name', 'tiny']);
  ok(r);
  assert.deepEqual(blobFiles(state), [`sha256-${shaA}`]);
  assert.match((await bastion(['list', '--state-dir', state])).stdout, /^tiny\s/m);
});

test('a connection cut halfway resumes with a Range request', async () => {
  const state = newState();
  const data = Buffer.concat([modelA]);  // same bytes, own blob entry with a cut
  const half = Math.floor(data.length / 2);
  const sha = hub.addHfFile('cut/Repo-GGUF', 'model-q8_0.gguf', data, { cutAfter: half });
  const r = await pull(state, ['hf.co/cut/Repo-GGUF/model-q8_0.gguf']);
  ok(r);
  const gets = hub.requests((q) => q.method === 'GET' && q.url === `/cdn/${sha}`);
  const resumed = gets.filter((q) => q.range !== null);
  assert.ok(resumed.length >= 1, JSON.stringify(gets));
  const from = Number(/^bytes=(\d+)-$/.exec(resumed[0].range)[1]);
  assert.ok(from > 0 && from <= half, `resumed from ${from}, cut at ${half}`);
  assert.match(r.stderr, /retrying/);
  assert.deepEqual(blobFiles(state), [`sha256-${sha}`]);
  assert.equal(sha256(readFileSync(path.join(state, 'models', 'blobs', `sha256-${sha}`))), sha);
});

test('a partial file left by an interrupted pull is resumed, not downloaded again', async () => {
  const state = newState();
  const blobs = path.join(state, 'models', 'blobs');
  mkdirSync(blobs, { recursive: true });
  const n = 123457;
  writeFileSync(path.join(blobs, `sha256-${shaB}.partial`), modelB.subarray(0, n));
  const before = hub.log.length;
  const r = await pull(state, ['qwen2.5:0.5b-instruct-q8_0']);
  ok(r);
  const gets = hub.log.slice(before).filter((q) => q.method === 'GET' && q.url === `/cdn/${shaB}`);
  assert.equal(gets.length, 1);
  assert.equal(gets[0].range, `bytes=${n}-`);
  assert.deepEqual(blobFiles(state), [`sha256-${shaB}`]);
});

test('a wrong digest is rejected, names both digests and leaves nothing behind', async () => {
  const state = newState();
  const wrong = 'ab'.repeat(32);
  const sha = hub.addHfFile('bad/Digest-GGUF', 'model.gguf', Buffer.concat([modelB, Buffer.alloc(0)]), { advertisedSha: wrong });
  const r = await pull(state, ['hf.co/bad/Digest-GGUF/model.gguf']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`expected sha256:${wrong}, got sha256:${sha}`));
  assert.match(r.stderr, /deleted/);
  assert.deepEqual(blobFiles(state), []);
  assert.deepEqual(manifestFiles(state), []);
  // The same with a wrong --sha256 for a URL.
  const u = await pull(state, [`${hub.url}/files/tiny.gguf`, '--sha256', wrong]);
  assert.equal(u.status, 1);
  assert.match(u.stderr, new RegExp(`expected sha256:${wrong}, got sha256:${shaA}`));
  assert.deepEqual(blobFiles(state), []);
});

test('a file that is not a GGUF is rejected even with the right digest', async () => {
  const state = newState();
  hub.addHfFile('bad/NotGguf-GGUF', 'model.gguf', randomBytes(200000));
  const r = await pull(state, ['hf.co/bad/NotGguf-GGUF/model.gguf']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a loadable Qwen2-family GGUF/);
  assert.deepEqual(blobFiles(state), []);
  assert.deepEqual(manifestFiles(state), []);
});

test('two concurrent pulls of one model: both succeed, one download, one blob', async () => {
  const state = newState();
  const data = Buffer.concat([modelB, Buffer.from([])]);
  const sha = hub.addHfFile('race/Model-GGUF', 'model-q8_0.gguf', data, { slow: { chunk: 256 * 1024, delayMs: 40 } });
  const before = hub.log.length;
  const [a, b] = await Promise.all([pull(state, ['hf.co/race/Model-GGUF/model-q8_0.gguf']),
                                    pull(state, ['hf.co/race/Model-GGUF/model-q8_0.gguf'])]);
  ok(a);
  ok(b);
  assert.deepEqual(blobFiles(state), [`sha256-${sha}`]);
  assert.equal(sha256(readFileSync(path.join(state, 'models', 'blobs', `sha256-${sha}`))), sha);
  assert.equal(manifestFiles(state).length, 1);
  const gets = hub.log.slice(before).filter((q) => q.method === 'GET' && q.url === `/cdn/${sha}`);
  assert.equal(gets.length, 1, 'the second pull waited for the first and reused its blob');
  assert.match(a.stderr + b.stderr, /waiting for another pull/);
});

test('HTTPS hub with the local CA: refused without it, trusted with --ca-file or BASTION_CA_FILE', async () => {
  // `bastion serve` with TLS creates the project's local CA and a leaf for 127.0.0.1.
  const tlsState = newState();
  const server = await startServer([], { tls: true, stateDir: tlsState });
  await server.stop();
  const leaf = path.join(tlsState, 'tls', 'local');
  const secure = await startHub({ tls: { cert: readFileSync(path.join(leaf, 'cert.pem')), key: readFileSync(path.join(leaf, 'key.pem')) } });
  try {
    secure.addHfFile(REPO, 'qwen2.5-0.5b-instruct-q4_k_m.gguf', modelA);
    const state = newState();
    const refused = await pull(state, ['qwen2.5:0.5b'], { hubUrl: secure.url });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /certificate/i);
    ok(await pull(state, ['qwen2.5:0.5b', '--ca-file', server.caFile], { hubUrl: secure.url }));
    const other = newState();
    ok(await pull(other, ['qwen2.5:0.5b'], { hubUrl: secure.url, env: { BASTION_CA_FILE: server.caFile } }));
    assert.deepEqual(blobFiles(other), [`sha256-${shaA}`]);
  } finally {
    await secure.close();
  }
});

test('progress: a redrawn bar in a terminal, plain lines otherwise', async () => {
  hub.addHfFile('slow/Model-GGUF', 'model.gguf', modelA, { slow: { chunk: 128 * 1024, delayMs: 60 } });
  hub.addHfFile('slow/Plain-GGUF', 'model.gguf', modelB, { slow: { chunk: 128 * 1024, delayMs: 60 } });
  const env = `HF_ENDPOINT=${hub.url}`;
  const state = newState();
  const cmd = `${env} ${BIN} pull hf.co/slow/Model-GGUF/model.gguf --state-dir ${state}`;
  const tty = await runAsync('script', ['-qfec', cmd, '/dev/null']);
  assert.equal(tty.status, 0, tty.stdout + tty.stderr);
  const out = tty.stdout;
  assert.ok(out.includes('\r'), 'the bar is redrawn with carriage returns');
  const frames = out.split('\r').filter((f) => /pulling [0-9a-f]{12} +\d+%/.test(f));
  assert.ok(frames.length >= 3, `several redraws: ${JSON.stringify(out.slice(0, 500))}`);
  assert.ok(frames.some((f) => /\[=*>? *\]/.test(f) && /[\d.]+ [kMG]?B\/s/.test(f)), 'bar with a rate');
  assert.ok(frames.some((f) => /100%/.test(f)));
  assert.match(out, /verifying sha256 digest/);
  assert.match(out, /success/);

  const plain = await pull(newState(), ['hf.co/slow/Plain-GGUF/model.gguf']);
  ok(plain);
  assert.ok(!plain.stderr.includes('\r'), 'no carriage returns in plain output');
  const lines = plain.stderr.split('\n').filter((l) => /^pulling [0-9a-f]{12}: \d+%/.test(l));
  assert.ok(lines.length >= 2, plain.stderr);
  assert.match(lines.at(-1), /100% \([\d.]+ MB of [\d.]+ MB, [\d.]+ [kMG]?B\/s, /);
  for (const step of ['pulling manifest', 'verifying sha256 digest', 'writing manifest', 'success']) {
    assert.match(plain.stderr, new RegExp(`^${step}$`, 'm'));
  }
});

test('rm removes a name; the blob goes with the last name; cp shares it', async () => {
  const state = newState();
  ok(await pull(state, ['qwen2.5:0.5b']));
  ok(await bastion(['cp', 'qwen2.5:0.5b', 'mine', '--state-dir', state]));
  assert.equal(manifestFiles(state).length, 2);
  let r = await bastion(['rm', 'qwen2.5:0.5b', '--state-dir', state]);
  ok(r);
  assert.match(r.stdout, /deleted 'qwen2\.5:0\.5b'/);
  assert.deepEqual(blobFiles(state), [`sha256-${shaA}`], 'still used by "mine"');
  ok(await bastion(['rm', 'mine', '--state-dir', state]));
  assert.deepEqual(blobFiles(state), []);
  r = await bastion(['rm', 'mine', '--state-dir', state]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not found/);
  r = await bastion(['show', 'ghost', '--state-dir', state]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bastion pull ghost/);
});
