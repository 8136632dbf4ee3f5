// The /pooling stand-in, checked over real HTTP with plain fetch / node:http (not through the client), against
// the conformance cases of docs/vllm-pooling.md §7 that a server can be held to.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEmbedDtype } from '../../src/pooling/encode.js';
import {
  startPoolingServer,
  type PoolingServer,
  type PoolingServerOptions,
} from '../../src/testing/pooling-server/index.js';

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  bytes: Uint8Array;
  json: any; // arbitrary response JSON: the assertions check its shape
}

async function send(
  server: PoolingServer,
  body: unknown,
  init: { path?: string; headers?: Record<string, string>; raw?: string; method?: string } = {},
): Promise<Reply> {
  const res = await fetch(`${server.url}${init.path ?? '/pooling'}`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.method === 'GET' ? {} : { body: init.raw ?? JSON.stringify(body) }),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  let json: unknown;
  if ((res.headers.get('content-type') ?? '').includes('json')) json = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, bytes, json };
}

const servers: PoolingServer[] = [];
async function start(options: PoolingServerOptions = {}): Promise<PoolingServer> {
  const s = await startPoolingServer({ dim: 16, ...options });
  servers.push(s);
  return s;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

function rowNorms(rows: number[][]): number[] {
  return rows.map((r) => Math.hypot(...r));
}

function expectError(reply: Reply, status: number, message: string | RegExp): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.json.error.code).toBe(status);
  expect(typeof reply.json.error.type).toBe('string');
  if (typeof message === 'string') expect(reply.json.error.message).toContain(message);
  else expect(reply.json.error.message).toMatch(message);
}

/** A raw GET/POST through node:http, whose header limit we can raise (fetch's is 16 KiB). */
function rawPost(
  url: string,
  body: unknown,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json' }, maxHeaderSize: 1 << 22 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('request parsing and routing (spec §7 cases 1–10)', () => {
  let s: PoolingServer;
  beforeAll(async () => {
    s = await start();
  });

  it('1: string, string[], int[] and int[][] inputs give 1, n, 1, n items in input order', async () => {
    const one = await send(s, { input: 'Hello, my name is' });
    expect(one.status).toBe(200);
    expect(one.json.data.map((d: any) => d.index)).toEqual([0]);
    const texts = ['alpha beta', 'gamma', 'delta epsilon zeta eta'];
    const many = await send(s, { input: texts });
    expect(many.json.data.map((d: any) => d.index)).toEqual([0, 1, 2]);
    // Item order is input order: each item's rows equal those of the same text sent alone.
    for (let i = 0; i < texts.length; i++) {
      const alone = await send(s, { input: texts[i] });
      expect(many.json.data[i].data).toEqual(alone.json.data[0].data);
    }
    const ids = s.embedder.encode('late interaction').ids;
    const flat = await send(s, { input: ids });
    expect(flat.json.data).toHaveLength(1);
    expect(flat.json.data[0].data).toHaveLength(ids.length);
    expect(flat.json.usage.prompt_tokens).toBe(ids.length);
    const nested = await send(s, { input: [ids, [5, 6], [7]] });
    expect(nested.json.data.map((d: any) => d.data.length)).toEqual([ids.length, 2, 1]);
    expect(nested.json.usage.prompt_tokens).toBe(ids.length + 3);
  });

  it('2: messages give exactly one item, with add_special_tokens defaulting to false', async () => {
    const r = await send(s, {
      messages: [
        { role: 'user', content: 'What is the capital of France?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Paris.' }] },
      ],
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json.data).toHaveLength(1);
    const rendered = 'What is the capital of France?\nParis.';
    const same = await send(s, { input: rendered, add_special_tokens: false });
    expect(r.json.data[0].data).toEqual(same.json.data[0].data);
    expect(r.json.usage.prompt_tokens).toBe(s.embedder.encode(rendered, { addSpecialTokens: false }).ids.length);
    const withSpecials = await send(s, { messages: [{ role: 'user', content: 'hi' }], add_special_tokens: true });
    expect(withSpecials.json.usage.prompt_tokens).toBe(3);
    expectError(
      await send(s, {
        messages: [{ role: 'user', content: 'hi' }],
        add_generation_prompt: true,
        continue_final_message: true,
      }),
      400,
      'Cannot set both',
    );
    expectError(await send(s, { messages: [], chat_template: '{{x}}' }), 400, '--trust-request-chat-template');
  });

  it('3: unknown fields are ignored', async () => {
    const r = await send(s, { input: 'x', temperature: 0.3, foo: { bar: [1] }, user: 'u', priority: 0 });
    expect(r.status, r.text).toBe(200);
  });

  it('4: model omitted or empty → 200; another model → 404 NotFoundError', async () => {
    expect((await send(s, { input: 'x' })).status).toBe(200);
    expect((await send(s, { input: 'x', model: '' })).status).toBe(200);
    expect((await send(s, { input: 'x', model: null })).status).toBe(200);
    expect((await send(s, { input: 'x', model: 'BAAI/bge-m3' })).status).toBe(200);
    const wrong = await send(s, { input: 'x', model: 'intfloat/e5' });
    expectError(wrong, 404, 'The model `intfloat/e5` does not exist.');
    expect(wrong.json.error.type).toBe('NotFoundError');
  });

  it('5: input [] → 400; more than 1024 prompts → 400 "input list length"', async () => {
    expectError(await send(s, { input: [] }), 400, 'You must pass at least one prompt');
    const tooMany = await send(s, { input: Array.from({ length: 1025 }, () => 'a') });
    expectError(tooMany, 400, 'input list length 1025 exceeds the maximum allowed count of 1024');
    // A flat token list is one prompt, however long.
    const longIds = await send(s, { input: Array.from({ length: 1100 }, (_, i) => 4 + i) });
    expect(longIds.status).toBe(200);
    expect((await send(s, { input: Array.from({ length: 1024 }, () => 'a') })).json.data).toHaveLength(1024);
    // The cap is a newest-version rule, configurable like VLLM_MAX_COMPLETION_PROMPTS.
    const capped = await start({ maxPrompts: 2 });
    expectError(await send(capped, { input: ['a', 'b', 'c'] }), 400, 'input list length 3');
    const older = await start({ mode: 'v0.21', maxPrompts: 2 });
    expect((await send(older, { input: ['a', 'b', 'c'] })).status).toBe(200);
  });

  it('6: a Content-Type other than application/json → 400', async () => {
    expectError(
      await send(s, { input: 'x' }, { headers: { 'content-type': 'text/plain' } }),
      400,
      "Only 'application/json' is allowed",
    );
    expect(
      (await send(s, { input: 'x' }, { headers: { 'content-type': 'application/json; charset=utf-8' } })).status,
    ).toBe(200);
    expectError(await send(s, null, { raw: '{"input": ' }), 400, 'json_invalid');
    expectError(await send(s, { inptu: 'x' }), 400, "'missing'");
    expectError(await send(s, { input: [1, 'a'] }), 400, 'validation error');
    expectError(await send(s, { input: 'x', add_special_tokens: 'maybe' }), 400, 'bool_parsing');
    expectError(await send(s, { input: 'x', add_special_tokens: [] }), 400, 'bool_type');
  });

  it("6b: pydantic's lax mode coerces numeric strings, integral floats and boolean words, as vLLM does", async () => {
    const plain = await send(s, { input: 'a b c d e' });
    const rows = (r: Reply): number => r.json.data[0].data.length;
    // truncate_prompt_tokens is an int: "3", " +3 ", "3.0", 3.0 and "0_3" all mean 3.
    for (const t of ['3', ' +3 ', '3.0', 3.0, '0_3']) {
      const r = await send(s, { input: 'a b c d e', truncate_prompt_tokens: t });
      expect(r.status, `${JSON.stringify(t)}: ${r.text}`).toBe(200);
      expect(rows(r)).toBe(3);
    }
    for (const [t, type] of [
      ['3.5', 'int_parsing'],
      ['3.', 'int_parsing'],
      ['1e2', 'int_parsing'],
      [3.5, 'int_from_float'],
      ['1__0', 'int_parsing'],
      [[3], 'int_type'],
    ] as const) {
      expectError(await send(s, { input: 'x', truncate_prompt_tokens: t }), 400, type);
    }
    expectError(await send(s, { input: 'x', truncate_prompt_tokens: '-2' }), 400, 'greater_than_equal');
    // add_special_tokens is a bool: "no", "off", "0", 0 and "FALSE" all mean false.
    for (const v of ['no', 'off', '0', 0, 'FALSE', 'f']) {
      const r = await send(s, { input: 'a b c d e', add_special_tokens: v });
      expect(r.status, JSON.stringify(v)).toBe(200);
      expect(rows(r)).toBe(rows(plain) - 2);
    }
    expectError(await send(s, { input: 'x', add_special_tokens: ' true' }), 400, 'bool_parsing');
    expectError(await send(s, { input: 'x', add_special_tokens: 2 }), 400, 'bool_parsing');
  });

  it('7: dimensions → 400 always; normalize → 400 in newest mode, an alias of use_activation before', async () => {
    expectError(await send(s, { input: 'x', dimensions: 8 }), 400, 'dimensions is currently not supported');
    const n = await send(s, { input: 'x', normalize: true });
    expectError(n, 400, 'Parameter `normalize` was removed; use `use_activation` instead.');
    expect(n.json.error.param).toBe('normalize');
    const older = await start({ mode: 'v0.21' });
    const raw = await send(older, { input: 'x y', normalize: false });
    expect(raw.status).toBe(200);
    for (const norm of rowNorms(raw.json.data[0].data)) expect(Math.abs(norm - 1)).toBeGreaterThan(0.1);
  });

  it('8: bad literals → 400 with literal_error and the bad value', async () => {
    for (const [field, value] of [
      ['encoding_format', 'binary'],
      ['embed_dtype', 'int8'],
      ['endianness', 'middle'],
      ['task', 'rerank'],
      ['truncation_side', 'middle'],
    ] as const) {
      const r = await send(s, { input: 'x', [field]: value });
      expectError(r, 400, 'literal_error');
      expect(r.json.error.message).toContain(`'${value}'`);
      expect(r.json.error.param).toBe(`body.${field}`);
    }
  });

  it('9: task rules per mode', async () => {
    // Newest, config B (token_embed server).
    expect((await send(s, { input: 'x' })).json.data[0].data[0]).toHaveLength(16);
    expect((await send(s, { input: 'x', task: 'token_embed' })).status).toBe(200);
    expectError(
      await send(s, { input: 'x', task: 'embed' }),
      400,
      "Try switching the model's pooling_task via --pooler-config.task embed.",
    );
    const unsupported = await send(s, { input: 'x', task: 'classify' });
    expectError(unsupported, 400, "Unsupported task: 'classify' Supported tasks: ('embed', 'token_embed')");
    expectError(
      await send(s, { input: 'x', task: 'encode' }),
      400,
      '`encode` task was removed; use `token_embed` or `token_classify` instead.',
    );
    expectError(await send(s, { input: 'x', task: 'score' }), 400, '`score` task was removed; use `classify` instead.');
    expectError(await send(s, { input: 'x', task: 'plugin' }), 400, 'No IOProcessor plugin installed');
    expectError(await send(s, { data: { x: 1 } }), 400, 'No IOProcessor plugin installed');
    // Newest, config A (embed server): a vector per input; token_embed must be switched on at start.
    const a = await start({ config: 'A' });
    expect((await send(a, { input: 'x' })).json.data[0].data).toHaveLength(16);
    expectError(await send(a, { input: 'x', task: 'token_embed' }), 400, '--pooler-config.task token_embed.');
    // v0.11.1-era: no task means token_embed even on an embed server; other supported tasks still run.
    const legacyA = await start({ config: 'A', mode: 'v0.13' });
    const rows = (await send(legacyA, { input: 'x' })).json.data[0].data;
    expect(rows).toHaveLength(3);
    expect(rows[0]).toHaveLength(16);
    expect((await send(legacyA, { input: 'x', task: 'embed' })).json.data[0].data).toHaveLength(16);
    expectError(await send(legacyA, { input: 'x', task: 'token_classify' }), 400, 'Unsupported task');
    const legacyC = await start({ config: 'C', mode: 'v0.11' });
    const sparse = (await send(legacyC, { input: 'a b c', task: 'token_classify' })).json.data[0].data;
    expect(sparse).toHaveLength(3); // <s> and </s> filtered
    for (const row of sparse) expect(row[0]).toBeGreaterThanOrEqual(0);
    // ≤ v0.10: `task` is not a field yet (ignored).
    const v10 = await start({ config: 'A', mode: 'v0.10' });
    expect((await send(v10, { input: 'x', task: 'embed' })).json.data[0].data).toHaveLength(3);
  });

  it('10: over-long input → 400 (input_tokens); truncate_prompt_tokens k, -1, > max_model_len', async () => {
    const t = await start({ maxModelLen: 12 });
    const text = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    const long = await send(t, { input: text });
    expectError(long, 400, 'You passed 32 input tokens and requested 0 output tokens');
    expect(long.json.error.param).toBe('input_tokens');
    for (const k of [12, -1]) {
      const r = await send(t, { input: text, truncate_prompt_tokens: k });
      expect(r.status, r.text).toBe(200);
      expect(r.json.data[0].data).toHaveLength(12);
      expect(r.json.usage.prompt_tokens).toBe(12);
    }
    expectError(
      await send(t, { input: text, truncate_prompt_tokens: 13 }),
      400,
      'truncate_prompt_tokens value is greater than max_model_len',
    );
    expectError(await send(t, { input: text, truncate_prompt_tokens: -2 }), 400, 'greater_than_equal');
    // Truncation keeps <s>/</s> and cuts the text: right (default) keeps the start, left keeps the end.
    const right = await send(t, { input: text, truncate_prompt_tokens: 5, task: 'token_embed' });
    expect(right.json.data[0].data).toEqual((await send(t, { input: 'w0 w1 w2' })).json.data[0].data);
    const left = await send(t, { input: text, truncate_prompt_tokens: 5, truncation_side: 'left' });
    expect(left.json.data[0].data).toEqual((await send(t, { input: 'w27 w28 w29' })).json.data[0].data);
    // Token-id prompts are cut as given (no specials to keep).
    const ids = await send(t, { input: [Array.from({ length: 20 }, (_, i) => 10 + i)], truncate_prompt_tokens: 4 });
    expect(ids.json.data[0].data).toEqual((await send(t, { input: [10, 11, 12, 13] })).json.data[0].data);
    expectError(await send(t, { input: Array.from({ length: 13 }, () => 5) }), 400, 'You passed 13 input tokens');
    const older = await start({ maxModelLen: 12, mode: 'v0.13' });
    expectError(await send(older, { input: text }), 400, "This model's maximum context length is 12 tokens");
    expectError(await send(s, { input: '', add_special_tokens: false }), 400, 'cannot be empty');
    expectError(await send(s, { input: [[]] }), 400, 'cannot be empty');
  });
});

describe('response structure (spec §7 cases 11–14)', () => {
  it('11: float JSON is a list of pooling items with [rows][1024] unit rows; use_activation:false is raw', async () => {
    const s = await start({ dim: 1024 });
    const r = await send(s, { input: ['Hello, my name is', 'The future of AI is'] });
    expect(r.headers.get('content-type')).toContain('application/json');
    expect(r.json.object).toBe('list');
    expect(Object.keys(r.json)).toEqual(['id', 'object', 'created', 'model', 'data', 'usage']);
    expect(r.json.model).toBe('BAAI/bge-m3');
    expect(Number.isInteger(r.json.created)).toBe(true);
    expect(Math.abs(r.json.created - Date.now() / 1000)).toBeLessThan(60);
    for (const item of r.json.data) {
      expect(Object.keys(item)).toEqual(['index', 'object', 'data']);
      expect(item.object).toBe('pooling');
      for (const row of item.data) expect(row).toHaveLength(1024);
      for (const n of rowNorms(item.data)) expect(n).toBeCloseTo(1, 3);
    }
    const raw = await send(s, { input: 'Hello, my name is', use_activation: false });
    for (const n of rowNorms(raw.json.data[0].data)) expect(Math.abs(n - 1)).toBeGreaterThan(0.1);
  });

  it('12: rows = prompt_tokens (B) or prompt_tokens − 1 (C); usage sums all prompt tokens', async () => {
    const b = await start({ config: 'B' });
    const c = await start({ config: 'C' });
    const input = ['Hello, my name is', 'The president of the United States is'];
    const counts = input.map((t) => b.embedder.encode(t).ids.length);
    const rb = await send(b, { input });
    const rc = await send(c, { input });
    expect(rb.json.data.map((d: any) => d.data.length)).toEqual(counts);
    expect(rc.json.data.map((d: any) => d.data.length)).toEqual(counts.map((n) => n - 1));
    for (const r of [rb, rc]) {
      expect(r.json.usage).toEqual({
        prompt_tokens: counts[0]! + counts[1]!,
        total_tokens: counts[0]! + counts[1]!,
        completion_tokens: 0,
        prompt_tokens_details: null,
      });
    }
    // C drops exactly the leading <s> row and keeps </s>.
    expect(rc.json.data[0].data).toEqual(rb.json.data[0].data.slice(1));
    // Without specials there is no <s> to drop.
    const bare = await send(c, { input: 'Hello there', add_special_tokens: false });
    expect(bare.json.data[0].data).toHaveLength(bare.json.usage.prompt_tokens);
  });

  it('13: an embed server (config A) returns one [dim] vector per input', async () => {
    const a = await start({ config: 'A' });
    const r = await send(a, { input: ['one two', 'three'] });
    for (const item of r.json.data) {
      expect(item.data).toHaveLength(16);
      expect(typeof item.data[0]).toBe('number');
      expect(Math.hypot(...item.data)).toBeCloseTo(1, 4);
    }
    const b = await start({ config: 'B' });
    // The CLS vector is the <s> row of the token_embed output.
    expect(r.json.data[0].data).toEqual((await send(b, { input: 'one two' })).json.data[0].data[0]);
  });

  it('14: id is pooling-/pool- + X-Request-Id (reflected) or random hex', async () => {
    const newest = await start();
    const mine = await send(newest, { input: 'x' }, { headers: { 'x-request-id': 'req-42' } });
    expect(mine.json.id).toBe('pooling-req-42');
    expect(mine.headers.get('x-request-id')).toBe('req-42');
    expect((await send(newest, { input: 'x' })).json.id).toMatch(/^pooling-[0-9a-f]{32}$/);
    const old = await start({ mode: 'v0.13' });
    expect((await send(old, { input: 'x' })).json.id).toMatch(/^pool-[0-9a-f]{32}$/);
  });
});

describe('encodings (spec §7 cases 15–22, server side)', () => {
  let s: PoolingServer;
  const input = ['Hello, my name is', 'The capital of France is', 'x'];
  let floats: number[][][];
  beforeAll(async () => {
    s = await start({ dim: 24 });
    floats = (await send(s, { input })).json.data.map((d: any) => d.data);
  });

  it('base64 float32 little-endian is Math.fround of the float JSON values', async () => {
    const r = await send(s, { input, encoding_format: 'base64', endianness: 'little' });
    expect(r.json.data).toHaveLength(3);
    r.json.data.forEach((item: any, i: number) => {
      expect(typeof item.data).toBe('string');
      const bytes = Buffer.from(item.data, 'base64');
      expect(bytes.length % (4 * 24)).toBe(0);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const flat = floats[i]!.flat();
      expect(bytes.length / 4).toBe(flat.length);
      flat.forEach((v, k) => {
        expect(view.getFloat32(k * 4, true)).toBe(Math.fround(v));
      });
    });
  });

  it('base64 for every dtype × endianness is the torch cast of the float values in that byte order', async () => {
    for (const dtype of ['float32', 'float16', 'bfloat16', 'fp8_e4m3', 'fp8_e5m2'] as const) {
      for (const endianness of ['little', 'big', 'native'] as const) {
        const r = await send(s, { input, encoding_format: 'base64', embed_dtype: dtype, endianness });
        expect(r.status, r.text).toBe(200);
        r.json.data.forEach((item: any, i: number) => {
          const order = endianness === 'big' ? 'big' : 'little';
          const expected = encodeEmbedDtype(Float32Array.from(floats[i]!.flat()), dtype, order);
          expect(Buffer.from(item.data, 'base64').equals(Buffer.from(expected)), `${dtype}/${endianness}`).toBe(true);
        });
      }
    }
  });

  it('19/22: bytes: octet-stream, Python-style metadata header, contiguous offsets, chunked body', async () => {
    const r = await send(s, { input, encoding_format: 'bytes', embed_dtype: 'float16', endianness: 'native' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.headers.get('transfer-encoding')).toBe('chunked');
    const header = r.headers.get('metadata')!;
    expect(header).toMatch(
      /^\{"id": "pooling-[0-9a-f]+", "created": \d+, "model": "BAAI\/bge-m3", "data": \[\{"index": 0, /,
    );
    const meta = JSON.parse(header);
    expect(Object.keys(meta)).toEqual(['id', 'created', 'model', 'data', 'usage']);
    const promptTokens = floats.reduce((sum, rows) => sum + rows.length, 0);
    expect(meta.usage).toEqual({ prompt_tokens: promptTokens, total_tokens: promptTokens });
    let start = 0;
    meta.data.forEach((item: any, i: number) => {
      expect(Object.keys(item)).toEqual(['index', 'embed_dtype', 'endianness', 'start', 'end', 'shape']);
      expect(item).toMatchObject({ index: i, embed_dtype: 'float16', endianness: 'native', start });
      expect(item.shape).toEqual([floats[i]!.length, 24]);
      expect(item.end - item.start).toBe(floats[i]!.length * 24 * 2);
      const expected = encodeEmbedDtype(Float32Array.from(floats[i]!.flat()), 'float16', 'little');
      expect(Buffer.from(r.bytes.subarray(item.start, item.end)).equals(Buffer.from(expected))).toBe(true);
      start = item.end;
    });
    expect(start).toBe(r.bytes.length);
  });

  it('21: bytes_only: the same body without a metadata header', async () => {
    const body = { input, encoding_format: 'bytes', embed_dtype: 'bfloat16', endianness: 'big' };
    const bytes = await send(s, body);
    const only = await send(s, { ...body, encoding_format: 'bytes_only' });
    expect(only.headers.get('metadata')).toBeNull();
    expect(only.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(only.bytes).equals(Buffer.from(bytes.bytes))).toBe(true);
  });

  it('20: a bytes response for many inputs carries a metadata header beyond 16 KiB', async () => {
    const many = Array.from({ length: 200 }, (_, i) => `document number ${i}`);
    const r = await rawPost(`${s.url}/pooling`, { input: many, encoding_format: 'bytes', embed_dtype: 'fp8_e4m3' });
    expect(r.status).toBe(200);
    const header = r.headers['metadata'] as string;
    expect(header.length).toBeGreaterThan(16 * 1024);
    const meta = JSON.parse(header);
    expect(meta.data).toHaveLength(200);
    expect(meta.data[199].end).toBe(r.body.length);
  });

  it('older modes: v0.11 has no bytes_only; ≤ v0.10 has only float/base64, base64 always float32', async () => {
    const v11 = await start({ dim: 24, mode: 'v0.11' });
    expect((await send(v11, { input, encoding_format: 'bytes' })).status).toBe(200);
    expectError(await send(v11, { input, encoding_format: 'bytes_only' }), 400, "'bytes_only'");
    const v10 = await start({ dim: 24, mode: 'v0.10' });
    const b64 = await send(v10, { input, encoding_format: 'base64', embed_dtype: 'float16', endianness: 'big' });
    const first = Buffer.from(b64.json.data[0].data, 'base64');
    expect(first.length).toBe(floats[0]!.length * 24 * 4);
    expect(first.readFloatLE(0)).toBe(Math.fround(floats[0]![0]![0]!));
    const bad = await send(v10, { input, encoding_format: 'bytes' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ object: 'error', code: 400 });
    expect(bad.json.message).toContain('literal_error');
  });
});

describe('errors, auth and other routes (spec §7 case 23)', () => {
  it('error envelopes: nested (newest), flat (≤ v0.10), and 401 {"error":"Unauthorized"}', async () => {
    const s = await start();
    const nested = await send(s, { input: 'x', dimensions: 3 });
    expect(nested.json).toEqual({
      error: {
        message: 'dimensions is currently not supported',
        type: 'BadRequestError',
        param: 'dimensions',
        code: 400,
      },
    });
    const old = await start({ mode: 'v0.10' });
    const flat = await send(old, { input: 'x', model: 'nope' });
    expect(flat.status).toBe(404);
    expect(flat.json).toEqual({
      object: 'error',
      message: 'The model `nope` does not exist.',
      type: 'NotFoundError',
      param: 'model',
      code: 404,
    });
    const locked = await start({ apiKey: 'sekret' });
    const denied = await send(locked, { input: 'x' });
    expect(denied.status).toBe(401);
    expect(denied.json).toEqual({ error: 'Unauthorized' });
    expect((await send(locked, { input: 'x' }, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await send(locked, { input: 'x' }, { headers: { authorization: 'Bearer sekret' } })).status).toBe(200);
    expect((await send(locked, null, { path: '/health', method: 'GET' })).status).toBe(200);
    // The request log never keeps the key.
    expect(locked.requests.every((r) => !('authorization' in r.headers))).toBe(true);
    expect(locked.requests.length).toBeGreaterThanOrEqual(4);
  });

  it('/health, /v1/models, /tokenize, /invocations, unknown routes', async () => {
    const s = await start({ maxModelLen: 512 });
    const health = await send(s, null, { path: '/health', method: 'GET' });
    expect(health.status).toBe(200);
    const models = await send(s, null, { path: '/v1/models', method: 'GET' });
    expect(models.json.object).toBe('list');
    expect(models.json.data[0]).toMatchObject({
      id: 'BAAI/bge-m3',
      object: 'model',
      owned_by: 'vllm',
      max_model_len: 512,
    });
    const tok = await send(s, { prompt: 'Hello, my name is' }, { path: '/tokenize' });
    expect(tok.json).toEqual({
      count: s.embedder.encode('Hello, my name is').ids.length,
      max_model_len: 512,
      tokens: s.embedder.encode('Hello, my name is').ids,
      token_strs: null,
    });
    const pooled = await send(s, { input: 'Hello, my name is' });
    expect(pooled.json.data[0].data).toHaveLength(tok.json.count);
    const bare = await send(
      s,
      { prompt: 'Hello', add_special_tokens: false, return_token_strs: true },
      { path: '/tokenize' },
    );
    expect(bare.json.token_strs).toEqual(['▁hello']);
    expectError(await send(s, { prompt: 'x', model: 'other' }, { path: '/tokenize' }), 404, 'does not exist');
    const inv = await send(s, { input: ['a', 'b'] }, { path: '/invocations' });
    expect(inv.json.data.map((d: any) => d.data)).toEqual(
      (await send(s, { input: ['a', 'b'] })).json.data.map((d: any) => d.data),
    );
    expectError(await send(s, { prompt: 'x' }, { path: '/invocations' }), 400, 'pooling');
    const missing = await send(s, { input: 'x' }, { path: '/v1/pooling' });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ detail: 'Not Found' });
    expect((await send(s, null, { path: '/pooling', method: 'GET' })).status).toBe(405);
  });

  it('Python json.dumps escaping in the metadata header (ensure_ascii)', async () => {
    const s = await start({ model: 'modèle/ü' });
    const r = await send(s, { input: 'x', encoding_format: 'bytes' });
    const header = r.headers.get('metadata')!;
    expect(header).toContain('"model": "mod\\u00e8le/\\u00fc"');
    expect(JSON.parse(header).model).toBe('modèle/ü');
  });
});

describe('/v1/embeddings (what every vLLM base64/bytes example calls)', () => {
  it('config A: one pooled [dim] vector per input in the OpenAI shape, float and base64 alike', async () => {
    const a = await start({ config: 'A' });
    const texts = ['Hello, my name is', 'The capital of France is'];
    const float = await send(a, { model: 'BAAI/bge-m3', input: texts }, { path: '/v1/embeddings' });
    expect(float.status, float.text).toBe(200);
    expect(float.json).toMatchObject({ id: expect.stringMatching(/^embd-/), object: 'list', model: 'BAAI/bge-m3' });
    expect(Object.keys(float.json)).toEqual(['id', 'object', 'created', 'model', 'data', 'usage']);
    const tokens = texts.reduce((n, t) => n + a.embedder.encode(t).ids.length, 0);
    expect(float.json.usage).toEqual({
      prompt_tokens: tokens,
      total_tokens: tokens,
      completion_tokens: 0,
      prompt_tokens_details: null,
    });
    expect(float.json.data.map((d: any) => [d.index, d.object, d.embedding.length])).toEqual([
      [0, 'embedding', 16],
      [1, 'embedding', 16],
    ]);
    // The vector is the /pooling embed answer: CLS (the <s> row), unit length.
    const pooled = await send(a, { input: texts });
    expect(float.json.data.map((d: any) => d.embedding)).toEqual(pooled.json.data.map((d: any) => d.data));
    expect(Math.abs(Math.hypot(...float.json.data[0].embedding) - 1)).toBeLessThan(1e-6);
    const b64 = await send(a, { input: texts[0], encoding_format: 'base64' }, { path: '/v1/embeddings' });
    const bytes = Uint8Array.from(atob(b64.json.data[0].embedding), (c) => c.charCodeAt(0));
    expect(Array.from(new Float32Array(bytes.buffer))).toEqual(float.json.data[0].embedding.map(Math.fround));
    const f16 = await send(
      a,
      { input: texts[0], encoding_format: 'base64', embed_dtype: 'float16' },
      { path: '/v1/embeddings' },
    );
    expect(atob(f16.json.data[0].embedding)).toHaveLength(32);
    const bin = await rawPost(`${a.url}/v1/embeddings`, { input: texts, encoding_format: 'bytes' });
    expect(bin.headers['content-type']).toBe('application/octet-stream');
    expect(JSON.parse(bin.headers.metadata as string).data.map((d: any) => d.shape)).toEqual([[16], [16]]);
    expect(bin.body.byteLength).toBe(2 * 16 * 4);
  });

  it('config A: dimensions is refused as vLLM refuses it for a model without Matryoshka', async () => {
    const a = await start({ config: 'A' });
    expectError(
      await send(a, { input: 'x', dimensions: 8 }, { path: '/v1/embeddings' }),
      400,
      'Model "BAAI/bge-m3" does not support matryoshka representation',
    );
    expectError(
      await send(a, { input: 'x', encoding_format: 'hex' }, { path: '/v1/embeddings' }),
      400,
      'literal_error',
    );
    expectError(await send(a, { input: 'x', model: 'x' }, { path: '/v1/embeddings' }), 404, 'does not exist');
  });

  it('configs B and C (token_embed): 501 in single-task vLLM, the dense vector in older multi-task versions', async () => {
    for (const config of ['B', 'C'] as const) {
      for (const mode of ['newest', 'v0.21'] as const) {
        const s = await start({ config, mode });
        const r = await send(s, { input: 'x' }, { path: '/v1/embeddings' });
        expect(r.status).toBe(501);
        expect(r.json).toEqual({
          error: {
            message: 'The model does not support Embeddings API',
            type: 'NotImplementedError',
            param: null,
            code: 501,
          },
        });
      }
      const old = await start({ config, mode: 'v0.13' });
      const dense = await send(old, { input: ['a b', 'c'] }, { path: '/v1/embeddings' });
      expect(dense.status).toBe(200);
      expect(dense.json.data.map((d: any) => d.embedding.length)).toEqual([16, 16]);
    }
  });
});

describe("CORS: vLLM's --allowed-origins/--allowed-methods/--allowed-headers/--allow-credentials", () => {
  const preflight = (server: PoolingServer, headers: Record<string, string>) =>
    fetch(`${server.url}/pooling`, { method: 'OPTIONS', headers });

  it('defaults: every origin; preflights answered 200 "OK" as Starlette does, the requested headers echoed', async () => {
    const s = await start({ apiKey: 'k' });
    const res = await preflight(s, {
      origin: 'http://localhost:5173',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('OK');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toBe('DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization,content-type');
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    // An actual request from that origin: the answer carries ACAO; without Origin nothing is added.
    const ok = await send(
      s,
      { input: 'x' },
      { headers: { origin: 'http://localhost:5173', authorization: 'Bearer k' } },
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect(
      (await send(s, { input: 'x' }, { headers: { authorization: 'Bearer k' } })).headers.has(
        'access-control-allow-origin',
      ),
    ).toBe(false);
    // vLLM's API-key middleware sits outside its CORS middleware: a 401 carries no CORS headers.
    const denied = await send(s, { input: 'x' }, { headers: { origin: 'http://localhost:5173' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.has('access-control-allow-origin')).toBe(false);
    // OPTIONS without Access-Control-Request-Method is no preflight: the route answers 405, with ACAO.
    const plain = await fetch(`${s.url}/pooling`, { method: 'OPTIONS', headers: { origin: 'http://a.example' } });
    expect(plain.status).toBe(405);
    expect(plain.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('listed origins, methods and headers: echoed with Vary: Origin; anything else 400 "Disallowed CORS …"', async () => {
    const s = await start({
      cors: {
        allowedOrigins: ['http://good.example'],
        allowedMethods: ['POST'],
        allowedHeaders: ['X-Custom'],
        allowCredentials: true,
      },
    });
    const good = await preflight(s, {
      origin: 'http://good.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, x-custom',
    });
    expect(good.status).toBe(200);
    expect(good.headers.get('access-control-allow-origin')).toBe('http://good.example');
    expect(good.headers.get('vary')).toBe('Origin');
    expect(good.headers.get('access-control-allow-methods')).toBe('POST');
    expect(good.headers.get('access-control-allow-headers')).toBe(
      'Accept, Accept-Language, Content-Language, Content-Type, X-Custom',
    );
    expect(good.headers.get('access-control-allow-credentials')).toBe('true');
    const bad = await preflight(s, {
      origin: 'http://evil.example',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'x-other',
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe('Disallowed CORS origin, method, headers');
    expect(bad.headers.has('access-control-allow-origin')).toBe(false);
    const simple = await send(s, { input: 'x' }, { headers: { origin: 'http://good.example' } });
    expect(simple.headers.get('access-control-allow-origin')).toBe('http://good.example');
    expect(simple.headers.get('vary')).toBe('Origin');
    expect(simple.headers.get('access-control-allow-credentials')).toBe('true');
    const foreign = await send(s, { input: 'x' }, { headers: { origin: 'http://evil.example' } });
    expect(foreign.status).toBe(200); // the request runs; the browser withholds the answer
    expect(foreign.headers.has('access-control-allow-origin')).toBe(false);
  });
});

describe('test hooks', () => {
  it('faults: status, body, Retry-After, times; then normal answers; the log records what was sent', async () => {
    const s = await start({ faults: [{ status: 503, retryAfter: 2, times: 2 }] });
    const first = await send(s, { input: 'x', encoding_format: 'float' }, { headers: { authorization: 'Bearer k' } });
    expectError(first, 503, 'Injected failure');
    expect(first.headers.get('retry-after')).toBe('2');
    expect((await send(s, { input: 'x' })).status).toBe(503);
    expect((await send(s, { input: 'x' })).status).toBe(200);
    s.addFault({
      status: 400,
      body: { error: { message: 'custom', type: 'BadRequestError', param: null, code: 400 } },
    });
    const custom = await send(s, { input: 'x' });
    expect(custom.json.error.message).toBe('custom');
    // Faults target /pooling by default: /tokenize and /health are unaffected.
    s.addFault({ status: 500 });
    expect((await send(s, { prompt: 'x' }, { path: '/tokenize' })).status).toBe(200);
    expect((await send(s, { input: 'x' })).status).toBe(500);
    expect(s.requests[0]).toMatchObject({
      method: 'POST',
      path: '/pooling',
      body: { input: 'x', encoding_format: 'float' },
    });
    expect(s.requests[0]!.headers['content-type']).toBe('application/json');
    expect('authorization' in s.requests[0]!.headers).toBe(false);
    s.clearRequests();
    expect(s.requests).toHaveLength(0);
  });

  it('hang and reset faults, and per-request delays that reorder completions', async () => {
    const s = await start({
      faults: [{ hang: true }, { reset: true }],
      delayMs: (r) => ((r.body as { input?: unknown[] }).input?.[0] === 'slow' ? 150 : 0),
    });
    const hung = fetch(`${s.url}/pooling`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"input":"x"}',
      signal: AbortSignal.timeout(200),
    });
    await expect(hung).rejects.toThrow();
    await expect(send(s, { input: 'x' })).rejects.toThrow();
    const done: string[] = [];
    await Promise.all(
      ['slow', 'fast'].map(async (first) => {
        await send(s, { input: [first, 'other'] });
        done.push(first);
      }),
    );
    expect(done).toEqual(['fast', 'slow']);
  });

  it('close() is idempotent and drops hung connections', async () => {
    const s = await startPoolingServer({ dim: 8, faults: [{ hang: true }] });
    const hung = fetch(`${s.url}/pooling`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"input":"x"}',
    });
    await new Promise((r) => setTimeout(r, 50));
    await Promise.all([s.close(), s.close()]);
    await expect(hung).rejects.toThrow();
  });
});

describe('serve-pooling CLI', () => {
  it('prints the URL and the mimicked command, serves, and stops on SIGTERM', async () => {
    const cli = new URL('../../dist/cli.js', import.meta.url);
    expect(existsSync(cli), 'dist/cli.js is missing: run `npm run build` (npm test does it first)').toBe(true);
    const child = spawn(
      process.execPath,
      [cli.pathname, 'serve-pooling', '--port', '0', '--dim', '8', '--config', 'C'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        const m = /listening on (http:\/\/\S+) /.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)));
    });
    expect(out).toContain('BgeM3EmbeddingModel');
    expect(out).toContain('lexical');
    const res = await fetch(`${url}/pooling`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'a b' }),
    });
    const body = (await res.json()) as { data: { data: number[][] }[] };
    expect(body.data[0]!.data).toHaveLength(3);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('stopped');
  });
});
