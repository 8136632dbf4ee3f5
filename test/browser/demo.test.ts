// The demo page (demo/) in real headless Chromium: built with Vite, served on 127.0.0.1, driven through its
// data-testid elements. With --enable-unsafe-webgpu (a SwiftShader adapter here) and without it (no adapter),
// every backend choice must rank the sample corpus exactly as the float64 reference does, label the backend
// truthfully and explain a missing or software WebGPU; the alignment view must show one row per query token
// whose maxima add up to the score; a /pooling server (the local stand-in, which answers CORS as vLLM does) must
// work and its failures must read clearly.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DOCUMENTS as SAMPLE_DOCUMENTS, DEMO_QUERY as SAMPLE_QUERY } from '../../src/embed/sample-corpus.js';
import { createHashEmbedder, type HashEmbedder } from '../../src/embed/hash-embedder.js';
import { maxsimReference } from '../../src/core/reference.js';
import { startPoolingServer, type PoolingServer } from '../../src/testing/pooling-server/index.js';
import {
  buildWithVite,
  launchChromium,
  serveDirectory,
  type ChromiumSession,
  type StaticServer,
} from '../support/chromium.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The demo's in-page embedder (demo/main.ts: createHashEmbedder({ dim: 128 })). */
const pageEmbedder = createHashEmbedder({ dim: 128 });
/** f32 kernels against the float64 reference on sums of ~15 unit-vector dot products. */
const SCORE_TOLERANCE = 1e-4;

let dist: string;
let site: StaticServer;

beforeAll(async () => {
  dist = await buildWithVite(resolve(repo, 'demo/vite.config.ts'));
  site = await serveDirectory(dist);
}, 120_000);

afterAll(async () => {
  await site?.close();
  if (dist !== undefined) await rm(dist, { recursive: true, force: true });
});

interface PageState {
  state: string;
  backend: string;
  backendKind: string;
  notice: string | null;
  error: string | null;
  timings: string;
  results: { index: number; score: number }[];
  alignmentIndex: number;
  alignmentRows: { token: string; best: number; similarity: number }[];
}

function readPage(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    const text = (id: string): string | null => {
      const node = document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
      return node === null || node.hidden ? null : (node.textContent ?? '');
    };
    return {
      state: document.body.dataset.state ?? '',
      backend: text('backend') ?? '',
      backendKind: document.querySelector<HTMLElement>('[data-testid="backend"]')?.dataset.backend ?? '',
      notice: text('notice'),
      error: text('error'),
      timings: text('timings') ?? '',
      results: [...document.querySelectorAll<HTMLElement>('[data-testid="result"]')].map((li) => ({
        index: Number(li.dataset.index),
        score: Number(li.dataset.score),
      })),
      alignmentIndex: Number(document.querySelector<HTMLElement>('[data-testid="alignment"]')?.dataset.index ?? -1),
      alignmentRows: [...document.querySelectorAll<HTMLElement>('[data-testid="alignment-row"]')].map((row) => ({
        token: row.dataset.queryToken ?? '',
        best: Number(row.dataset.best),
        similarity: Number(row.dataset.similarity),
      })),
    };
  });
}

async function runs(page: Page): Promise<number> {
  return page.evaluate(() => Number(document.body.dataset.runs ?? 0));
}

async function waitForRuns(page: Page, n: number): Promise<void> {
  await page.waitForFunction((want: number) => Number(document.body.dataset.runs ?? 0) >= want, { timeout: 60_000 }, n);
}

async function setValue(page: Page, testid: string, value: string): Promise<void> {
  await page.$eval(
    `[data-testid="${testid}"]`,
    (node, v) => {
      const field = node as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
      field.value = v;
      field.dispatchEvent(new Event('change', { bubbles: true }));
    },
    value,
  );
}

/** Clicks Rank with the given settings and waits for that run to finish. */
async function rank(page: Page, settings: Record<string, string> = {}): Promise<PageState> {
  for (const [testid, value] of Object.entries(settings)) await setValue(page, testid, value);
  const before = await runs(page);
  await page.click('[data-testid="rank"]');
  await waitForRuns(page, before + 1);
  return readPage(page);
}

async function openDemo(chromium: ChromiumSession): Promise<Page> {
  const page = await chromium.newPage();
  await page.goto(site.url, { waitUntil: 'load' });
  await waitForRuns(page, 1); // the page ranks the sample corpus once on load
  return page;
}

/** Float64 reference scores of the documents for the query, and the order the page must list them in. */
function reference(
  embedder: HashEmbedder,
  query: string,
  docs: readonly string[],
): { scores: number[]; order: number[] } {
  const q = embedder.embedText(query);
  const scores = docs.map((d) => maxsimReference(q, embedder.embedText(d)));
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return { scores, order };
}

function expectReferenceRanking(state: PageState, expected: { scores: number[]; order: number[] }): void {
  expect(state.error).toBeNull();
  expect(state.state).toBe('done');
  // Adjacent reference scores are far apart compared with f32 error, so the order is exact.
  for (let i = 1; i < expected.order.length; i++) {
    expect(expected.scores[expected.order[i - 1]!]! - expected.scores[expected.order[i]!]!).toBeGreaterThan(
      10 * SCORE_TOLERANCE,
    );
  }
  expect(state.results.map((r) => r.index)).toEqual(expected.order);
  for (const r of state.results) expect(Math.abs(r.score - expected.scores[r.index]!)).toBeLessThan(SCORE_TOLERANCE);
}

/** One row per query token, each row's best similarity summing to the listed score of that document. */
function expectAlignment(state: PageState, queryTokens: readonly string[]): void {
  const shown = state.results.find((r) => r.index === state.alignmentIndex);
  expect(shown, 'the alignment view shows a listed document').toBeDefined();
  expect(state.alignmentRows.map((r) => r.token)).toEqual([...queryTokens]);
  const sum = state.alignmentRows.reduce((s, r) => s + r.similarity, 0);
  expect(Math.abs(sum - shown!.score)).toBeLessThan(SCORE_TOLERANCE);
  for (const row of state.alignmentRows) expect(row.best).toBeGreaterThanOrEqual(0);
}

const queryTokens = pageEmbedder.encode(SAMPLE_QUERY).tokens.map((t) => (t ?? '').replace(/^\u2581/, ''));
const sampleReference = reference(pageEmbedder, SAMPLE_QUERY, SAMPLE_DOCUMENTS);

describe('demo in Chromium with --enable-unsafe-webgpu (SwiftShader adapter)', () => {
  let chromium: ChromiumSession;
  let page: Page;
  // SwiftShader on machines without a GPU (CI); on one with a GPU Chromium may pick that, and 'auto' must too.
  let adapter: { name: string; software: boolean };

  beforeAll(async () => {
    chromium = await launchChromium({ webgpu: true, viewport: { width: 1360, height: 1020 } });
    page = await openDemo(chromium);
    adapter = await page.evaluate(async () => {
      const a = await navigator.gpu.requestAdapter();
      if (a === null) throw new Error('--enable-unsafe-webgpu gave no adapter');
      return { name: a.info.architecture || a.info.description || a.info.vendor, software: a.info.isFallbackAdapter };
    });
  }, 90_000);

  afterAll(async () => {
    await chromium?.close();
  });

  it('auto keeps to the CPU on a software adapter, says why, and ranks like the float64 reference', async () => {
    const state = await readPage(page); // the run on load, with the default choice 'auto'
    if (adapter.software) {
      expect(state.backendKind).toBe('cpu');
      // The label says why not WebGPU: info.fallbackReason.
      expect(state.backend).toMatch(/^cpu · wasm-(relaxed-)?simd, \d+ threads? · not WebGPU: .*software/i);
      expect(state.notice).toMatch(new RegExp(`auto chose the CPU.*${adapter.name}.*software`, 'i'));
    } else {
      expect(state.backendKind).toBe('webgpu');
      expect(state.notice).toBeNull();
    }
    expectReferenceRanking(state, sampleReference);
    expectAlignment(state, queryTokens);
    expect(state.alignmentIndex).toBe(sampleReference.order[0]);
    expect(state.timings).toMatch(/embedding [\d.]+ ms · upload [\d.]+ ms · scoring [\d.]+ ms/);
  });

  it('webgpu, when asked for, scores on the SwiftShader adapter with the same ranking and scores', async () => {
    const state = await rank(page, { 'backend-choice': 'webgpu' });
    expect(state.backendKind).toBe('webgpu');
    expect(state.backend).toMatch(new RegExp(`^webgpu · .*${adapter.name}`, 'i'));
    if (adapter.software) {
      expect(state.backend).toMatch(/\(software adapter\)$/);
      expect(state.notice).toMatch(/software adapter/);
    }
    expectReferenceRanking(state, sampleReference);
    expectAlignment(state, queryTokens);
    expect(state.timings).toMatch(/backend start [\d.]+ ms/); // first use of this backend
  });

  it('cpu, when asked for, ranks the same', async () => {
    const state = await rank(page, { 'backend-choice': 'cpu' });
    expect(state.backendKind).toBe('cpu');
    expect(state.backend).not.toMatch(/not WebGPU/); // asked for: nothing to explain
    expect(state.notice).toBeNull();
    expectReferenceRanking(state, sampleReference);
  });

  it('cpu on a corpus big enough for worker threads scores in Web Workers, like the reference', async () => {
    const words = ['river', 'capital', 'energy', 'protein', 'orbit', 'market', 'poem', 'glacier', 'neuron', 'harbor'];
    // 80 documents of ~45 tokens at d=128: ~3,600 token rows, past the single-thread threshold (2^17 floats a thread).
    const docs = Array.from(
      { length: 80 },
      (_, i) =>
        Array.from({ length: 40 }, (_, j) => words[(i * 7 + j * ((i % 5) + 1)) % words.length]).join(' ') +
        ` document ${i}.`,
    );
    const query = 'capital river energy';
    const state = await rank(page, { query, documents: docs.join('\n'), 'backend-choice': 'cpu' });
    expect(state.error).toBeNull();
    expect(state.backendKind).toBe('cpu');
    expect(state.backend).toMatch(/wasm-(relaxed-)?simd, [2-9] threads/);
    const ref = reference(pageEmbedder, query, docs);
    expect(state.results).toHaveLength(docs.length);
    for (const r of state.results) expect(Math.abs(r.score - ref.scores[r.index]!)).toBeLessThan(SCORE_TOLERANCE);
    // Back to the sample corpus, ranked on the CPU, as the tests after this one expect.
    expectReferenceRanking(
      await rank(page, { query: SAMPLE_QUERY, documents: SAMPLE_DOCUMENTS.join('\n'), 'backend-choice': 'cpu' }),
      sampleReference,
    );
  });

  it('picking a result redraws the alignment for that document', async () => {
    await rank(page, { 'backend-choice': 'webgpu' });
    const third = sampleReference.order[2]!;
    await page.click(`[data-testid="result"][data-index="${third}"]`);
    await page.waitForFunction(
      (i: number) => document.querySelector<HTMLElement>('[data-testid="alignment"]')?.dataset.index === String(i),
      { timeout: 10_000 },
      third,
    );
    const state = await readPage(page);
    expect(state.alignmentIndex).toBe(third);
    expectAlignment(state, queryTokens);
    // The ringed cell of each row is its maximum: the alignment agrees with a host-side argmax.
    const q = pageEmbedder.embedText(SAMPLE_QUERY);
    const d = pageEmbedder.embedText(SAMPLE_DOCUMENTS[third]!);
    state.alignmentRows.forEach((row, i) => {
      let best = 0;
      let top = -Infinity;
      for (let j = 0; j < d.rows; j++) {
        let s = 0;
        for (let k = 0; k < q.dim; k++) s += q.data[i * q.dim + k]! * d.data[j * d.dim + k]!;
        if (s > top) [top, best] = [s, j];
      }
      expect(row.best).toBe(best);
      expect(Math.abs(row.similarity - top)).toBeLessThan(1e-5);
    });
  });

  it('a screenshot after ranking on WebGPU (UPDATE_SCREENSHOT=1 writes docs/demo.png)', async () => {
    await rank(page, { 'backend-choice': 'webgpu' });
    await page.click(`[data-testid="result"][data-index="${sampleReference.order[0]}"]`);
    await page.evaluate(() => document.fonts.ready.then(() => undefined));
    const png = await page.screenshot({ type: 'png', fullPage: true });
    expect(Buffer.from(png.subarray(1, 4)).toString('latin1')).toBe('PNG');
    const target =
      process.env.UPDATE_SCREENSHOT === '1' ? resolve(repo, 'docs/demo.png') : resolve(dist, 'demo-screenshot.png');
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, png);
    expect(png.byteLength).toBeGreaterThan(20_000); // a rendered page, not a blank one
  });

  it('empty and oversized input get a message, not a ranking', async () => {
    let state = await rank(page, { query: '   ' });
    expect(state.state).toBe('error');
    expect(state.error).toMatch(/query is empty/);

    state = await rank(page, { query: SAMPLE_QUERY, documents: '\n \n' });
    expect(state.error).toMatch(/no documents/);

    state = await rank(page, { documents: Array.from({ length: 2001 }, (_, i) => `doc ${i}`).join('\n') });
    expect(state.error).toMatch(/Too many documents: 2,001; this demo takes at most 2,000/);

    state = await rank(page, { documents: 'x'.repeat(400_001) });
    expect(state.error).toMatch(/documents are too large: 400,001 characters/);

    state = await rank(page, { documents: SAMPLE_DOCUMENTS.join('\n') });
    expect(state.error).toBeNull();
    expect(state.results).toHaveLength(SAMPLE_DOCUMENTS.length);
  });

  it('nothing went wrong in the page', () => {
    expect(chromium.problems).toEqual([]);
  });
});

describe('demo in Chromium without WebGPU (no adapter)', () => {
  let chromium: ChromiumSession;
  let page: Page;

  beforeAll(async () => {
    chromium = await launchChromium({ webgpu: false });
    page = await openDemo(chromium);
  }, 90_000);

  afterAll(async () => {
    await chromium?.close();
  });

  it('auto scores on the CPU, says WebGPU is missing, and ranks like the reference', async () => {
    const state = await readPage(page);
    expect(state.backendKind).toBe('cpu');
    expect(state.backend).toMatch(/^cpu · .* · not WebGPU: No WebGPU adapter: requestAdapter\(\) returned null$/);
    expect(state.notice).toMatch(
      /WebGPU is missing: navigator\.gpu\.requestAdapter\(\) found no adapter.*Scoring on the CPU/,
    );
    expectReferenceRanking(state, sampleReference);
    expectAlignment(state, queryTokens);
  });

  it('webgpu, when asked for, fails with a message that names the way out', async () => {
    const state = await rank(page, { 'backend-choice': 'webgpu' });
    expect(state.state).toBe('error');
    expect(state.error).toMatch(/WebGPU/);
    expect(state.error).toMatch(/Choose auto or cpu/);
  });

  describe('with a /pooling server (the stand-in, with vLLM’s default CORS: every origin)', () => {
    let pooling: PoolingServer;
    let strict: PoolingServer;

    beforeAll(async () => {
      pooling = await startPoolingServer({ dim: 64 });
      // As `vllm serve … --allowed-origins '["http://elsewhere.example"]'`: not the demo's origin.
      strict = await startPoolingServer({ dim: 64, cors: { allowedOrigins: ['http://elsewhere.example'] } });
    });

    afterAll(async () => {
      await pooling?.close();
      await strict?.close();
    });

    it('ranks with the server embeddings, labelled with the token strings from /tokenize', async () => {
      const state = await rank(page, { 'backend-choice': 'auto', embedder: 'pooling', 'pooling-url': pooling.url });
      expectReferenceRanking(state, reference(pooling.embedder, SAMPLE_QUERY, SAMPLE_DOCUMENTS));
      const tokens = pooling.embedder.encode(SAMPLE_QUERY).tokens.map((t) => (t ?? '').replace(/^\u2581/, ''));
      expectAlignment(state, tokens);
      expect(state.timings).toMatch(/d=64/);
      const paths = pooling.requests.map((r) => r.path);
      expect(paths).toContain('/pooling');
      expect(paths).toContain('/tokenize');
    });

    it('a server that does not allow the page origin reads as unreachable, with the CORS hint', async () => {
      const state = await rank(page, { 'pooling-url': strict.url });
      expect(state.state).toBe('error');
      expect(state.error).toMatch(/Could not reach the \/pooling server/);
      expect(state.error).toMatch(
        new RegExp(`allow this page's origin \\(${site.url.slice(0, -1).replace(/[.]/g, '\\.')}\\)`),
      );
      expect(state.error).toMatch(/--allowed-origins/);
    });

    it('an unreachable server, an error answer and a bad URL each get their message', async () => {
      const closed = createServer();
      await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
      const deadPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((done) => closed.close(() => done()));
      let state = await rank(page, { 'pooling-url': `http://127.0.0.1:${deadPort}` });
      expect(state.error).toMatch(/Could not reach the \/pooling server/);

      pooling.addFault({
        status: 400,
        body: {
          error: { message: 'input is longer than the model allows', type: 'BadRequestError', param: null, code: 400 },
        },
      });
      state = await rank(page, { 'pooling-url': pooling.url });
      expect(state.error).toMatch(/answered with an error \(HTTP 400\): input is longer than the model allows/);

      state = await rank(page, { 'pooling-url': 'not a url' });
      expect(state.error).toMatch(/is not a URL/);

      state = await rank(page, { 'pooling-url': pooling.url });
      expect(state.error).toBeNull();
    });
  });

  it('nothing went wrong in the page but the failed requests the tests asked for', () => {
    const unexpected = chromium.problems.filter(
      (p) => !/Failed to load resource|blocked by CORS policy|ERR_CONNECTION_REFUSED|ERR_FAILED/.test(p),
    );
    expect(unexpected).toEqual([]);
  });
});
