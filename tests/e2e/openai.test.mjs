// The real `openai` npm client (v6) against bastion serve: models, chat and text completions,
// streaming with usage, structured output, errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Ajv from 'ajv';
import { startServer, MODEL } from './harness.mjs';

let server;
let client;

before(async () => {
  server = await startServer();
  client = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused', maxRetries: 0 });
});
after(async () => { await server.stop(); });

test('models are listed and retrievable', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.includes(MODEL), `models: ${ids}`);
  const m = await client.models.retrieve(MODEL);
  assert.equal(m.id, MODEL);
  assert.equal(m.object, 'model');
  await assert.rejects(client.models.retrieve('no-such-model'), (e) => e.status === 404 && e.error?.type === 'not_found_error');
});

test('chat completion, not streamed', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 12, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 10, 'prompt includes the chat template');
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('chat completion, streamed with usage', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Count to three.' }],
    max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let roleSeen = false;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    const c = chunk.choices[0];
    if (c.delta.role) roleSeen = true;
    text += c.delta.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.ok(roleSeen);
  assert.ok(['stop', 'length'].includes(finish));
  assert.ok(usage && usage.completion_tokens >= 1 && usage.completion_tokens <= 10);
  // Streaming and not streaming give the same greedy text.
  const whole = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Count to three.' }],
    max_tokens: 10, temperature: 0,
  });
  assert.equal(text, whole.choices[0].message.content);
});

test('text completion, streamed and not', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'once upon a time', max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  const stream = await client.completions.create({ model: MODEL, prompt: 'once upon a time', max_tokens: 8, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, r.choices[0].text);
});

test('the same seed gives the same sampled text', async () => {
  const ask = () => client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 16, temperature: 1.0, seed: 42,
  });
  const [a, b] = [await ask(), await ask()];
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test('stop strings end the output before the stop text', async () => {
  const base = await client.completions.create({ model: MODEL, prompt: 'hello there', max_tokens: 16, temperature: 0 });
  const text = base.choices[0].text;
  if (text.length < 4) return;  // nothing to cut
  const stop = text.slice(2, 4);
  const cut = await client.completions.create({ model: MODEL, prompt: 'hello there', max_tokens: 16, temperature: 0, stop: [stop] });
  assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, 'stop');
});

test('structured output follows the JSON schema', async () => {
  const schema = {
    type: 'object',
    properties: {
      answer: { type: 'string', enum: ['yes', 'no', 'maybe'] },
      confident: { type: 'boolean' },
      tags: { type: 'array', items: { type: 'string', enum: ['a', 'b'] }, maxItems: 3 },
    },
    required: ['answer', 'confident', 'tags'],
    additionalProperties: false,
  };
  const r = await client.chat.completions.create({
    // A bounded document (enums, maxItems), so the random-weight test model must finish it.
    model: MODEL, messages: [{ role: 'user', content: 'Answer in JSON.' }], max_tokens: 1000, temperature: 0.7, seed: 3,
    response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
  });
  assert.equal(r.choices[0].finish_reason, 'stop', r.choices[0].message.content);
  const value = JSON.parse(r.choices[0].message.content);
  const validate = new Ajv().compile(schema);
  assert.ok(validate(value), JSON.stringify(validate.errors));
});

test('json_object output parses', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'JSON please.' }], max_tokens: 300, temperature: 0,
    response_format: { type: 'json_object' },
  });
  if (r.choices[0].finish_reason === 'stop') {
    const value = JSON.parse(r.choices[0].message.content);
    assert.equal(typeof value, 'object');
  } else {
    // Cut by max_tokens: still a valid JSON prefix starting an object.
    assert.ok(r.choices[0].message.content.trimStart().startsWith('{'));
  }
});

test('errors have the OpenAI shape', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 2 }),
    (e) => e.status === 400 && /n/.test(e.error?.message ?? '') && e.error?.type === 'invalid_request_error');
  await assert.rejects(
    client.chat.completions.create({ model: 'missing', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status === 404);
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages: [{ role: 'wizard', content: 'hi' }] }),
    (e) => e.status === 400);
});
