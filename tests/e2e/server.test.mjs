// bastion serve over raw HTTP with curl and fetch: framing (NDJSON, SSE, keep-alive), error
// shapes, health and metrics, concurrency with continuous batching, the bounded queue, context
// overflow and graceful shutdown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, curl, MODEL } from './harness.mjs';

let server;

before(async () => { server = await startServer(['--parallel', '8']); });
after(async () => { await server.stop(); });

const post = (path, body) => fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('banner, version, health over curl', () => {
  assert.equal(curl([server.url + '/']), 'bastion is running');
  assert.match(JSON.parse(curl([server.url + '/api/version'])).version, /^\d+\.\d+\.\d+/);
  assert.equal(JSON.parse(curl([server.url + '/health'])).status, 'ok');
  // Several requests on one keep-alive connection (curl reuses it for URLs on the same host).
  const out = curl([server.url + '/api/version', server.url + '/api/tags', server.url + '/v1/models']);
  assert.match(out, /"version".*"models".*"object":"list"/s);
});

test('NDJSON stream over curl: one JSON object per line, final has done', () => {
  const out = curl(['-N', '-X', 'POST', server.url + '/api/generate', '-d',
                    JSON.stringify({ model: MODEL, prompt: 'hi', options: { num_predict: 5, temperature: 0 } })]);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 2);
  assert.equal(lines.at(-1).done, true);
  assert.ok(lines.slice(0, -1).every((l) => l.done === false && typeof l.response === 'string'));
});

test('SSE stream over curl ends with [DONE]', () => {
  const out = curl(['-N', '-X', 'POST', server.url + '/v1/chat/completions', '-H', 'content-type: application/json', '-d',
                    JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true })]);
  const events = out.split('\n\n').filter((e) => e.length > 0);
  assert.equal(events.at(-1), 'data: [DONE]');
  for (const e of events.slice(0, -1)) {
    assert.ok(e.startsWith('data: '));
    assert.equal(JSON.parse(e.slice(6)).object, 'chat.completion.chunk');
  }
});

test('malformed requests get clear errors in each API shape', async () => {
  let r = await fetch(server.url + '/api/chat', { method: 'POST', body: '{"model": ' });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /JSON/);
  r = await fetch(server.url + '/v1/chat/completions', { method: 'POST', body: '[[[' });
  assert.equal(r.status, 400);
  const e = (await r.json()).error;
  assert.equal(e.type, 'invalid_request_error');
  assert.ok('param' in e && 'code' in e);
  r = await fetch(server.url + '/api/chat', { method: 'POST', body: '['.repeat(100000) });
  assert.equal(r.status, 400);
  r = await fetch(server.url + '/api/nothing-here');
  assert.equal(r.status, 404);
  r = await fetch(server.url + '/api/chat');  // wrong method
  assert.equal(r.status, 405);
  r = await post('/api/chat', { model: 'ghost', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(r.status, 404);
  assert.match((await r.json()).error, /ghost/);
});

test('context overflow is a 400 unless truncation is asked for', async () => {
  const long = 'word '.repeat(6000);
  let r = await post('/api/generate', { model: MODEL, prompt: long, stream: false, options: { num_predict: 2 } });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /context|token/i);
  r = await post('/api/generate', { model: MODEL, prompt: long, stream: false, truncate: true, options: { num_predict: 2 } });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).done, true);
  r = await post('/api/generate', { model: MODEL, prompt: 'short', stream: false, options: { num_ctx: 8, num_predict: 2 } });
  assert.equal(r.status, 400, 'prompt with template exceeds num_ctx 8');
});

test('8 concurrent streams complete, and batching does not change greedy output', async () => {
  const client = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'x', maxRetries: 0 });
  const prompts = Array.from({ length: 8 }, (_, i) => `Question number ${i}: what is ${i} plus ${i}?`);
  const run = async (content) => {
    const stream = await client.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content }], max_tokens: 24, temperature: 0, stream: true,
    });
    let text = '';
    let finish = null;
    for await (const c of stream) { text += c.choices[0]?.delta?.content ?? ''; finish = c.choices[0]?.finish_reason ?? finish; }
    return { text, finish };
  };
  const together = await Promise.all(prompts.map(run));
  for (const r of together) assert.ok(['stop', 'length'].includes(r.finish));
  for (let i = 0; i < prompts.length; ++i) {
    const alone = await run(prompts[i]);
    assert.equal(together[i].text, alone.text, `prompt ${i}`);
  }
});

test('metrics in Prometheus text format', async () => {
  const text = curl([server.url + '/metrics']);
  for (const name of ['bastion_http_requests_total', 'bastion_generated_tokens_total', 'bastion_prompt_tokens_total',
                      'bastion_queue_depth', 'bastion_kv_cache_usage_ratio', 'bastion_time_to_first_token_seconds_bucket',
                      'bastion_decode_tokens_per_second_count']) {
    assert.match(text, new RegExp('^' + name, 'm'), name);
  }
  assert.match(text, /# TYPE bastion_generated_tokens_total counter/);
});

test('a full queue answers 503 with Retry-After', async () => {
  const small = await startServer(['--parallel', '1', '--max-queue', '1']);
  try {
    const body = { model: MODEL, prompt: 'go on forever', stream: false, options: { num_predict: 200 } };
    const send = () => fetch(small.url + '/api/generate', { method: 'POST', body: JSON.stringify(body) });
    const responses = await Promise.all([send(), send(), send(), send()]);
    const statuses = responses.map((r) => r.status);
    assert.ok(statuses.includes(503), `statuses: ${statuses}`);
    const busy = responses.find((r) => r.status === 503);
    assert.ok(busy.headers.get('retry-after'));
    assert.ok((await busy.json()).error);
  } finally {
    await small.stop();
  }
});

test('SIGTERM lets a running stream finish, then exits', async () => {
  const s = await startServer(['--shutdown-timeout', '20']);
  const res = await fetch(s.url + '/api/generate', { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: 'hi', options: { num_predict: 60, temperature: 0 } }) });
  const reader = res.body.getReader();
  await reader.read();  // the stream has started
  const exited = s.stop('SIGTERM');
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const last = JSON.parse(text.trim().split('\n').at(-1));
  assert.equal(last.done, true, 'the in-flight stream completed');
  assert.equal(await exited, 0);
});
