// Limits over real sockets: each excess gets its own status in the API's error shape and a line
// in the error log, and a slowloris crowd is cut off while a normal client keeps being served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, MODEL } from './harness.mjs';

let server;
before(async () => {
  server = await startServer(['--max-body-bytes', '64KiB', '--max-header-count', '20', '--header-timeout', '2',
                              '--max-connections-per-ip', '30', '--max-output-tokens', '64', '--max-json-depth', '16']);
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

// The error-log lines (stderr here) that mention `needle`, after giving the server a moment.
async function logLines(needle) {
  await new Promise((r) => setTimeout(r, 100));
  return server.log().split('\n').filter((l) => l.includes(needle));
}

test('JSON nested too deeply → 400 naming the limit (--max-json-depth)', async () => {
  const nested = (depth) => '{"model":"' + MODEL + '","prompt":"hi","stream":false,"options":{"num_predict":1,"x":' +
    '['.repeat(depth - 2) + ']'.repeat(depth - 2) + '}}';
  const deep = await fetch(server.url + '/api/generate', { method: 'POST', body: nested(17) });
  assert.equal(deep.status, 400);
  assert.match((await deep.json()).error, /nested deeper than 16 levels/);
  const ok = await fetch(server.url + '/api/generate', { method: 'POST', body: nested(16) });
  assert.equal(ok.status, 200, 'exactly the limit is accepted');
  const openai = await fetch(server.url + '/v1/chat/completions', { method: 'POST', body: nested(200) });
  assert.equal(openai.status, 400);
  assert.match((await openai.json()).error.message, /nested deeper than 16/);
  const lines = await logLines('nested deeper than 16');
  assert.ok(lines.some((l) => /\[info\] http: 400 POST \/v1\/chat\/completions client=127\.0\.0\.1 rid=\S+: /.test(l)), lines.join('\n'));
});

test('asking for more output tokens than --max-output-tokens → 400; asking for none gets the cap', async () => {
  const over = await fetch(server.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify(
    { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 65 }) });
  assert.equal(over.status, 400);
  const err = (await over.json()).error;
  assert.equal(err.type, 'invalid_request_error');
  assert.match(err.message, /'max_tokens' is 65, more than this server allows \(64\)/);
  const ollama = await fetch(server.url + '/api/generate', { method: 'POST', body: JSON.stringify(
    { model: MODEL, prompt: 'hi', stream: false, options: { num_predict: 1000 } }) });
  assert.equal(ollama.status, 400);
  assert.match((await ollama.json()).error, /'num_predict' is 1000/);
  // No limit asked (ignore_eos so the model cannot stop early): exactly the cap.
  const capped = await fetch(server.url + '/v1/completions', { method: 'POST', body: JSON.stringify(
    { model: MODEL, prompt: 'hi', ignore_eos: true }) });
  assert.equal(capped.status, 200);
  const body = await capped.json();
  assert.equal(body.usage.completion_tokens, 64);
  assert.equal(body.choices[0].finish_reason, 'length');
  assert.ok((await logLines("'max_tokens' is 65")).length >= 1);
});

test('per-address connection limit → 429 for that address only; others are served', async () => {
  const open = [];
  try {
    // 30 idle connections from 127.0.0.1 (the limit); they count until they close.
    for (let i = 0; i < 30; ++i) {
      const s = net.connect({ port: port(), host: '127.0.0.1', localAddress: '127.0.0.1' });
      s.on('error', () => {});
      await new Promise((res) => s.once('connect', res));
      open.push(s);
    }
    await new Promise((r) => setTimeout(r, 100));
    const raw = (localAddress) => new Promise((resolve, reject) => {
      let data = '';
      const s = net.connect({ port: port(), host: '127.0.0.1', localAddress }, () => {
        s.write('GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      s.on('data', (d) => { data += d; });
      s.on('close', () => resolve(data));
      s.on('error', reject);
    });
    const refused = await raw('127.0.0.1');
    assert.match(refused, /^HTTP\/1\.1 429 /);
    assert.match(refused, /\r\nretry-after: 1\r\n/i);
    assert.match(refused, /too many connections from 127\.0\.0\.1 \(limit 30\)/);
    // Another client address (the whole of 127/8 is loopback) is not affected.
    assert.match(await raw('127.0.0.2'), /^HTTP\/1\.1 200 /);
    assert.ok((await logLines('too many connections from 127.0.0.1')).some((l) => l.includes('[warn] http: 429')));
  } finally {
    for (const s of open) s.destroy();
  }
  // Closed connections free their places.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await fetch(server.url + '/api/version')).status, 200);
});

test('every refused request has an error-log line with status, client and request id', async () => {
  const rid = 'limits-test-431';
  const headers = { 'x-request-id': rid };
  for (let i = 0; i < 30; ++i) headers[`x-filler-${i}`] = 'y';
  assert.equal((await fetch(server.url + '/api/version', { headers })).status, 431);
  const big = await fetch(server.url + '/api/chat', { method: 'POST', body: 'x'.repeat(100 * 1024),
                                                      headers: { 'x-request-id': 'limits-test-413' } });
  assert.equal(big.status, 413);
  const lines = await logLines('limits-test-4');
  assert.ok(lines.some((l) => /\[warn\] http: 431 \S+ \S+ client=127\.0\.0\.1/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /\[warn\] http: 413 POST \/api\/chat client=127\.0\.0\.1 rid=limits-test-413: /.test(l)),
            lines.join('\n'));
});

test('--max-stream-duration: a stream ends with an error event, a whole response is 503', async () => {
  // Room for far more tokens than a machine generates in a second with the tiny model (a Zen 5
  // host finished 4000 in 0.8 s and got a 200), so the cut is what ends these requests.
  const s = await startServer(['--max-stream-duration', '1', '--ctx-size', '32768', '--max-output-tokens', '32000']);
  try {
    const body = { model: MODEL, prompt: 'hi', max_tokens: 32000, ignore_eos: true };
    const t0 = Date.now();
    const streamed = await fetch(s.url + '/v1/completions', { method: 'POST', body: JSON.stringify({ ...body, stream: true }) });
    assert.equal(streamed.status, 200);
    const text = await streamed.text();
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 5000, `cut after ${elapsed} ms`);
    const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
    assert.ok(events.length > 2, 'tokens were streamed before the cut');
    const last = JSON.parse(events.at(-1).slice(6));
    assert.match(last.error.message, /maximum stream duration \(1 s\)/);
    const ndjson = await (await fetch(s.url + '/api/generate', { method: 'POST', body: JSON.stringify(
      { model: MODEL, prompt: 'hi', options: { num_predict: 4000 } }) })).text();
    // (EOS may end this one first; when it runs long, the last line is the error.)
    const lastLine = JSON.parse(ndjson.trim().split('\n').at(-1));
    assert.ok(lastLine.done === true || /maximum stream duration/.test(lastLine.error), ndjson.slice(-300));
    const whole = await fetch(s.url + '/v1/completions', { method: 'POST', body: JSON.stringify(body) });
    assert.equal(whole.status, 503);
    assert.match((await whole.json()).error.message, /maximum stream duration/);
    await new Promise((r) => setTimeout(r, 100));
    assert.match(s.log(), /\[warn\] http: stream cut POST \/v1\/completions client=127\.0\.0\.1 rid=\S+: the generation ran longer/);
    assert.match(s.log(), /\[warn\] http: 503 POST \/v1\/completions .*maximum stream duration/);
  } finally {
    await s.stop();
  }
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
