// A real page on another origin (a static server on its own port) calls `serve` and `serve-pooling`, both started
// as users start them (dist/cli.js in child processes), from headless Chromium: the browser sends its own
// preflights and enforces the answers, so this checks CORS as browsers apply it, not as we read the spec.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveDirectory, type ChromiumSession, type StaticServer } from '../support/chromium.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

interface Served {
  child: ChildProcess;
  url: string;
}

async function start(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/[^\s)]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited early with ${code}: ${out}`)));
  });
  return { child, url };
}

async function stop(s: Served | undefined): Promise<void> {
  if (s === undefined || s.child.exitCode !== null) return;
  const exited = new Promise((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGTERM');
  await exited;
}

/** What a `fetch` from the page gave: the status and JSON, or the browser's error (a CORS refusal). */
type Outcome = { status: number; body: any } | { error: string };

function fetchFromPage(
  page: Page,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown },
): Promise<Outcome> {
  return page.evaluate(
    async (u: string, i: { method?: string; headers?: Record<string, string>; body?: unknown }) => {
      try {
        const res = await fetch(u, {
          method: i.method ?? 'GET',
          headers: i.headers ?? {},
          ...(i.body === undefined ? {} : { body: JSON.stringify(i.body) }),
        });
        const text = await res.text();
        return { status: res.status, body: text === '' ? null : JSON.parse(text) };
      } catch (err) {
        return { error: String(err) };
      }
    },
    url,
    init,
  );
}

let dir: string;
let site: StaticServer;
let serve: Served;
let pooling: Served;
let strictPooling: Served;
let chromium: ChromiumSession;
let page: Page;

beforeAll(async () => {
  expect(existsSync(CLI), 'dist/cli.js is missing: run `npm run build` (npm test does it first)').toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'maxsim-origin-'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>another origin</title><p>page</p>');
  site = await serveDirectory(dir, { crossOriginIsolated: false });
  [serve, pooling, strictPooling] = await Promise.all([
    start(['serve', '--local', '--backend', 'cpu', '--dim', '32', '--api-key', 'page-key']),
    start(['serve-pooling', '--dim', '32', '--config', 'B']),
    start(['serve-pooling', '--dim', '32', '--allowed-origins', '["http://allowed.example"]']),
  ]);
  chromium = await launchChromium({ webgpu: false });
  page = await chromium.newPage();
  await page.goto(site.url, { waitUntil: 'load' });
}, 90_000);

afterAll(async () => {
  await chromium?.close();
  await Promise.all([stop(serve), stop(pooling), stop(strictPooling)]);
  await site?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('a page on another origin, in Chromium', () => {
  it('is on another origin than both servers', async () => {
    const origin = await page.evaluate(() => window.location.origin);
    expect(origin).not.toBe(new URL(serve.url).origin);
    expect(origin).not.toBe(new URL(pooling.url).origin);
  });

  it('calls serve-pooling: POST /pooling (preflighted: JSON content type) and GET /v1/models', async () => {
    const pooled = await fetchFromPage(page, `${pooling.url}/pooling`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: { input: ['Hello, my name is'] },
    });
    // A readable answer is the proof: Chromium hands a cross-origin response to the page only if CORS allowed it.
    expect(pooled).toMatchObject({ status: 200 });
    expect((pooled as any).body.data[0].data[0]).toHaveLength(32);
    const models = await fetchFromPage(page, `${pooling.url}/v1/models`, {});
    expect(models).toMatchObject({ status: 200, body: { data: [{ id: 'BAAI/bge-m3' }] } });
  });

  it('calls serve: /v1/rerank, /v2/rerank and /score with a bearer key (preflighted), and GET /v1/models', async () => {
    const headers = { 'content-type': 'application/json', authorization: 'Bearer page-key' };
    const body = {
      query: 'capital of France',
      documents: ['Berlin is in Germany.', 'Paris is the capital of France.'],
    };
    for (const path of ['/v1/rerank', '/v2/rerank']) {
      const ranked = await fetchFromPage(page, `${serve.url}${path}`, { method: 'POST', headers, body });
      expect(ranked, path).toMatchObject({ status: 200, body: { results: [{ index: 1 }, { index: 0 }] } });
    }
    const scored = await fetchFromPage(page, `${serve.url}/score`, {
      method: 'POST',
      headers,
      body: { text_1: body.query, text_2: body.documents },
    });
    expect(scored).toMatchObject({ status: 200, body: { object: 'list', data: [{ index: 0 }, { index: 1 }] } });
    const models = await fetchFromPage(page, `${serve.url}/v1/models`, {
      headers: { authorization: 'Bearer page-key' },
    });
    expect(models).toMatchObject({ status: 200, body: { data: [{ id: 'hash-embedder-d32' }] } });
    // Without the key the page reads the 401 itself (serve adds CORS headers to it, unlike vLLM).
    const denied = await fetchFromPage(page, `${serve.url}/v1/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(denied).toMatchObject({ status: 401, body: { error: 'Unauthorized' } });
  });

  it('is refused by a server started with --allowed-origins that does not list it', async () => {
    const refused = await fetchFromPage(page, `${strictPooling.url}/pooling`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: { input: ['x'] },
    });
    expect(refused).toEqual({ error: expect.stringMatching(/Failed to fetch/) });
    const simple = await fetchFromPage(page, `${strictPooling.url}/v1/models`, {});
    expect(simple).toEqual({ error: expect.stringMatching(/Failed to fetch/) });
  });

  it('logged nothing unexpected in the page (only the CORS refusals asked for)', () => {
    const unexpected = chromium.problems.filter((p) => !/blocked by CORS policy|Failed to load resource/.test(p));
    expect(unexpected).toEqual([]);
  });
});
