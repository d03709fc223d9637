// The real `ollama` npm client against bastion serve: tags, show, ps, version, generate and chat
// streamed and not, structured output, options, errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import Ajv from 'ajv';
import { startServer, MODEL } from './harness.mjs';

let server;
let ollama;

before(async () => {
  server = await startServer();
  ollama = new Ollama({ host: server.url });
});
after(async () => { await server.stop(); });

test('list, show, ps, version', async () => {
  const tags = await ollama.list();
  const m = tags.models.find((x) => x.name === MODEL);
  assert.ok(m, JSON.stringify(tags));
  assert.equal(m.details.format, 'gguf');
  assert.equal(m.details.family, 'qwen2');
  assert.ok(m.size > 0);
  const show = await ollama.show({ model: MODEL });
  assert.equal(show.model_info['general.architecture'], 'qwen2');
  assert.ok(show.capabilities.includes('completion'));
  const ps = await ollama.ps();
  assert.ok(ps.models.some((x) => x.name === MODEL));
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+/);
});

test('chat streamed: chunks then a final one with statistics', async () => {
  const stream = await ollama.chat({
    model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], stream: true, options: { num_predict: 8, temperature: 0 },
  });
  let text = '';
  let last = null;
  for await (const part of stream) {
    if (!part.done) text += part.message.content;
    last = part;
  }
  assert.equal(last.done, true);
  assert.ok(['stop', 'length'].includes(last.done_reason));
  assert.ok(last.eval_count >= 1 && last.eval_count <= 8);
  assert.ok(last.prompt_eval_count > 5);
  assert.ok(last.total_duration > 0 && last.eval_duration > 0);
  const whole = await ollama.chat({
    model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], stream: false, options: { num_predict: 8, temperature: 0 },
  });
  assert.equal(whole.message.role, 'assistant');
  assert.equal(whole.message.content, text);
});

test('generate: prompt, system, raw and context', async () => {
  const r = await ollama.generate({ model: MODEL, prompt: 'Why is the sky blue?', system: 'Be short.', options: { num_predict: 6, temperature: 0 } });
  assert.equal(r.done, true);
  assert.equal(typeof r.response, 'string');
  assert.ok(Array.isArray(r.context) && r.context.length > r.prompt_eval_count - 1);
  const raw = await ollama.generate({ model: MODEL, prompt: 'once upon', raw: true, options: { num_predict: 4, temperature: 0 } });
  assert.ok(raw.prompt_eval_count <= 4, 'raw prompts get no template');
  const again = await ollama.generate({ model: MODEL, prompt: 'and then', context: r.context, options: { num_predict: 4, temperature: 0 } });
  assert.ok(again.prompt_eval_count > r.context.length);
});

test('format: a JSON schema constrains the output', async () => {
  const schema = {
    type: 'object',
    properties: { city: { type: 'string', enum: ['Paris', 'Rome'] }, population: { type: 'integer' }, capital: { type: 'boolean' } },
    required: ['city', 'capital'],
  };
  // Every string is an enum and integers have at most 15 digits, so the document is bounded
  // (whitespace runs are too): even a random-weight model must finish it within the budget.
  const r = await ollama.generate({ model: MODEL, prompt: 'Describe a city.', format: schema, options: { num_predict: 1000, temperature: 0.8, seed: 7 } });
  assert.equal(r.done_reason, 'stop', r.response);
  const value = JSON.parse(r.response);
  const validate = new Ajv().compile(schema);
  assert.ok(validate(value), JSON.stringify(validate.errors) + ' ' + r.response);
});

test('options: seed reproducibility and num_predict', async () => {
  const ask = () => ollama.generate({ model: MODEL, prompt: 'A poem:', options: { num_predict: 10, temperature: 1, seed: 11 } });
  const a = await ask();
  const b = await ask();
  assert.equal(a.response, b.response);
  assert.ok(a.eval_count <= 10);
  // Unknown options are ignored, as Ollama does.
  const c = await ollama.generate({ model: MODEL, prompt: 'x', options: { num_predict: 2, mirostat: 2, num_gpu: 99 } });
  assert.equal(c.done, true);
});

test('unknown model is a 404 in Ollama shape', async () => {
  await assert.rejects(ollama.chat({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status_code === 404 && /not found/.test(e.error));
});

test('an aborted stream leaves the server healthy', async () => {
  const client = new Ollama({ host: server.url });
  const stream = await client.generate({ model: MODEL, prompt: 'Tell me everything.', stream: true, options: { num_predict: 400 } });
  let n = 0;
  try {
    for await (const _ of stream) { if (++n === 3) client.abort(); }
  } catch (e) {
    assert.equal(e.name, 'AbortError');
  }
  const r = await ollama.generate({ model: MODEL, prompt: 'still there?', options: { num_predict: 3 } });
  assert.equal(r.done, true);
});
