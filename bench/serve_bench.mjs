#!/usr/bin/env node
// serve_bench: time to first token and generation speed of `bastion serve` under 1, 4 and 8
// concurrent streamed chat requests (OpenAI API), each with a ~512-token prompt and 128 output
// tokens. Starts its own server on a free port unless --url is given.
//
//   node bench/serve_bench.mjs --bin build/release/bastion --model /tmp/q4km.gguf [--parallel 8]
//   node bench/serve_bench.mjs --url http://127.0.0.1:11434 --name qwen2.5:0.5b
//
// Reports per concurrency level: median TTFT, per-stream decode t/s, aggregate t/s (all tokens
// of all streams / wall time from request to last byte, prompt processing included), the same
// as a multiple of 1 stream, and the steady-state decode aggregate: tokens that arrived while
// every stream was decoding (after the last first token, before the first stream ended) / that
// window — what continuous batching gives once the prompts are in.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]);
  return acc;
}, []));
const levels = (args.levels ?? '1,4,8').split(',').map(Number);
const outTokens = Number(args.tokens ?? 128);
const reps = Number(args.reps ?? 2);

async function startServer() {
  if (args.url) return { url: args.url, name: args.name ?? 'model', stop: async () => {} };
  const proc = spawn(args.bin ?? 'build/release/bastion',
    ['serve', '-m', args.model, '--alias', 'bench', '--port', '0', '--no-tls', '--parallel', args.parallel ?? '8',
     '--rate', '1000r/s', '--burst', '1000',
     '--state-dir', mkdtempSync(path.join(tmpdir(), 'bastion-bench-'))], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => { log += d; const m = log.match(/listening on (http:\/\/\S+)/); if (m) resolve(m[1]); });
    proc.once('exit', () => reject(new Error(log)));
  });
  return { url, name: 'bench', stop: () => new Promise((r) => { proc.once('exit', r); proc.kill('SIGTERM'); }) };
}

// A user message whose chat prompt is about 512 tokens; distinct per request so the prefix cache
// does not skip the prompt (the first words differ).
function promptText(i) {
  const words = 'the quick brown fox jumps over a lazy dog while seven wise owls watch from old oak trees'.split(' ');
  let text = `Request ${i} ${'abcdefghij'[i % 10]}: `;
  for (let k = 0; text.split(" ").length < 225; ++k) text += words[(k * 7 + i) % words.length] + ' ';
  return text;
}

// One streamed request on a connection of its own (node:http without keep-alive): with fetch's
// pooled keep-alive connections a request could go out on a connection llama-server was just
// closing as idle, and die with a socket error before any response.
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

function post(url, body, onChunk) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`)));
        return;
      }
      res.setEncoding('utf8');
      res.on('data', onChunk);
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function one(server, i) {
  const t0 = performance.now();
  let ttft = null, buf = '', usage = null, tokens = 0;
  const stamps = [];  // arrival time of each content chunk (for the steady-state window)
  await post(server.url + '/v1/chat/completions', {
    model: server.name, messages: [{ role: 'user', content: promptText(i) }], stream: true,
    max_tokens: outTokens, temperature: 0, ignore_eos: true, stream_options: { include_usage: true },
  }, (chunk) => {
    buf += chunk;
    let idx;
    while ((idx = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, idx); buf = buf.slice(idx + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      if (j.choices?.[0]?.delta?.content) {
        const now = performance.now();
        if (ttft === null) ttft = now - t0;
        stamps.push(now);
        ++tokens;
      }
    }
  });
  const total = performance.now() - t0;
  const gen = usage?.completion_tokens ?? tokens;
  return { ttft, total, gen, stamps, prompt: usage?.prompt_tokens, decodeTps: (gen - 1) / ((total - ttft) / 1000) };
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

const server = await startServer();
try {
  await one(server, 999);  // warm up
  const rows = [];
  let base = null, baseSteady = null;
  for (const n of levels) {
    const agg = [], ttfts = [], per = [], steady = [];
    let prompt = 0;
    for (let r = 0; r < reps; ++r) {
      const t0 = performance.now();
      const results = await Promise.all(Array.from({ length: n }, (_, i) => one(server, r * 100 + i)));
      const wall = (performance.now() - t0) / 1000;
      agg.push(results.reduce((s, x) => s + x.gen, 0) / wall);
      const from = Math.max(...results.map((x) => x.stamps[0]));
      const to = Math.min(...results.map((x) => x.stamps[x.stamps.length - 1]));
      const inWindow = results.reduce((s, x) => s + x.stamps.filter((t) => t > from && t <= to).length, 0);
      if (to > from) steady.push(inWindow / ((to - from) / 1000));
      for (const x of results) { ttfts.push(x.ttft); per.push(x.decodeTps); prompt = x.prompt; }
    }
    const a = median(agg);
    const st = median(steady);
    if (n === 1) base = a, baseSteady = st;
    rows.push({ streams: n, prompt_tokens: prompt, ttft_ms_median: Math.round(median(ttfts)), per_stream_tps: +median(per).toFixed(1),
                aggregate_tps: +a.toFixed(1), vs_one_stream: base ? +(a / base).toFixed(2) : null,
                steady_decode_tps: +st.toFixed(1), steady_vs_one: baseSteady ? +(st / baseSteady).toFixed(2) : null });
  }
  console.table(rows);
  if (args.json) console.log(JSON.stringify(rows));
} finally {
  await server.stop();
}
