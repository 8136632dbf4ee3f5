// The demo's Search mode (demo/search.ts) in real headless Chromium, with --enable-unsafe-webgpu (a SwiftShader
// adapter here) and without it: the corpus file built at demo:build time is fetched once and searched as the user
// types, and every result list must be the float64 reference ranking over the file's own (decoded int8)
// vectors, on every backend, offline, and for a corpus the user drops on the page (one from the built-in embedder,
// one from a /pooling model whose queries the page embeds through the server). A malformed file gets its typed error.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpusFile, writeCorpusFile, type CorpusFile } from '../../src/core/corpus-file.js';
import { maxsimReference } from '../../src/core/reference.js';
import type { TokenMatrix } from '../../src/core/token-matrix.js';
import { createHashEmbedder } from '../../src/embed/hash-embedder.js';
import { DEMO_DOCUMENTS, SAMPLE_DOCUMENTS, SAMPLE_QUERY } from '../../src/embed/sample-corpus.js';
import { startPoolingServer, type PoolingServer } from '../../src/testing/pooling-server/index.js';
import { startCorsLayer } from '../support/cors-layer.js';
import {
  buildWithVite,
  launchChromium,
  serveDirectory,
  type ChromiumSession,
  type StaticServer,
} from '../support/chromium.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_QUERY = 'int8 corpus files in safetensors'; // demo/search.ts
const TOP_K = 10;
/** f32 kernels against the float64 reference on sums of ~10 unit-vector dot products. */
const SCORE_TOLERANCE = 1e-4;
const pageEmbedder = createHashEmbedder({ dim: 128 });

let dist: string;
let site: StaticServer;
let shipped: Uint8Array;
let shippedFile: CorpusFile;
let scratch: string;

beforeAll(async () => {
  dist = await buildWithVite(resolve(repo, 'demo/vite.config.ts'));
  site = await serveDirectory(dist);
  shipped = new Uint8Array(await (await fetch(`${site.url}corpus.safetensors`)).arrayBuffer());
  shippedFile = readCorpusFile(shipped);
  scratch = await mkdtemp(join(tmpdir(), 'maxsim-search-'));
}, 120_000);

afterAll(async () => {
  await site?.close();
  if (dist !== undefined) await rm(dist, { recursive: true, force: true });
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

interface SearchState {
  state: string;
  searches: number;
  loads: number;
  query: string;
  backend: string;
  backendKind: string;
  timings: string;
  notice: string | null;
  error: string | null;
  info: string;
  infoData: Record<string, string>;
  results: { index: number; score: number; id: string | undefined; text: string }[];
  poolingShown: boolean;
  mode: string;
}

function readSearch(page: Page): Promise<SearchState> {
  return page.evaluate(() => {
    const node = (id: string): HTMLElement => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
    const text = (id: string): string | null => (node(id).hidden ? null : (node(id).textContent ?? ''));
    return {
      state: document.body.dataset.searchState ?? '',
      searches: Number(document.body.dataset.searches ?? 0),
      loads: Number(document.body.dataset.corpusLoads ?? 0),
      query: node('search-results').dataset.query ?? '',
      backend: text('search-backend') ?? '',
      backendKind: node('search-backend').dataset.backend ?? '',
      timings: text('search-timings') ?? '',
      notice: text('search-notice'),
      error: text('search-error'),
      info: text('corpus-info') ?? '',
      infoData: { ...node('corpus-info').dataset } as Record<string, string>,
      results: [...document.querySelectorAll<HTMLElement>('[data-testid="search-result"]')].map((li) => ({
        index: Number(li.dataset.index),
        score: Number(li.dataset.score),
        id: li.dataset.id,
        text: li.querySelector('.result-text')?.textContent ?? '',
      })),
      poolingShown: !document.getElementById('search-pooling')!.hidden,
      mode: document.body.dataset.mode ?? '',
    };
  });
}

/** Waits for a search after `after` finished searches that shows `query` (or failed), and reads the page. */
async function waitForSearch(page: Page, query: string, after: number): Promise<SearchState> {
  await page.waitForFunction(
    (q: string, n: number) => {
      const { searchState, searches } = document.body.dataset;
      if (Number(searches ?? 0) <= n) return false;
      if (searchState === 'error') return true;
      const shown = document.querySelector<HTMLElement>('[data-testid="search-results"]')?.dataset.query;
      return searchState === 'done' && shown === q;
    },
    { timeout: 60_000 },
    query,
    after,
  );
  return readSearch(page);
}

/** Replaces the search box's text by typing it, key by key, as a person would. */
async function typeQuery(page: Page, query: string): Promise<SearchState> {
  const before = (await readSearch(page)).searches;
  await page.click('[data-testid="search-query"]', { count: 3 });
  await page.keyboard.press('Backspace');
  await page.keyboard.type(query, { delay: 15 });
  return waitForSearch(page, query, before);
}

async function select(page: Page, testid: string, value: string): Promise<void> {
  await page.select(`[data-testid="${testid}"]`, value);
}

/** Float64 MaxSim of `query` against every document of `file`, and the top-10 order (ties: lower index). */
function reference(file: CorpusFile, query: TokenMatrix): { scores: number[]; order: number[] } {
  const scores = file.documents.map((d) => maxsimReference(query, d));
  const order = scores
    .map((_, i) => i)
    .sort((a, b) => scores[b]! - scores[a]! || a - b)
    .slice(0, TOP_K);
  return { scores, order };
}

/**
 * The page lists the reference top 10: each position holds a document whose float64 score is that position's
 * reference score, with its own score within f32 error; where the reference has no near-tie around a position,
 * the document there is exactly the reference's.
 */
function expectReferenceTop(state: SearchState, ref: { scores: number[]; order: number[] }): void {
  expect(state.error).toBeNull();
  expect(state.state).toBe('done');
  expect(state.results.map((r) => r.index)).toHaveLength(ref.order.length);
  expect(new Set(state.results.map((r) => r.index)).size).toBe(ref.order.length);
  let exact = 0;
  state.results.forEach((r, i) => {
    const want = ref.scores[ref.order[i]!]!;
    expect(Math.abs(r.score - ref.scores[r.index]!), `score of document ${r.index}`).toBeLessThan(SCORE_TOLERANCE);
    expect(Math.abs(ref.scores[r.index]! - want), `position ${i}`).toBeLessThan(SCORE_TOLERANCE);
    const gapBefore = i === 0 ? Infinity : ref.scores[ref.order[i - 1]!]! - want;
    const gapAfter = i + 1 < ref.order.length ? want - ref.scores[ref.order[i + 1]!]! : Infinity;
    if (gapBefore > 10 * SCORE_TOLERANCE && gapAfter > 10 * SCORE_TOLERANCE) {
      expect(r.index, `position ${i}`).toBe(ref.order[i]);
      exact++;
    }
  });
  expect(exact).toBeGreaterThan(ref.order.length / 2); // the comparison above is not vacuous
}

const shippedReference = (query: string) => reference(shippedFile, pageEmbedder.embedText(query));

/** Drops `bytes` as a file named `name` on the Search mode, as a drag from the desktop would. */
async function dropFile(page: Page, name: string, bytes: Uint8Array): Promise<SearchState> {
  const before = await readSearch(page);
  await page.evaluate(
    (fileName: string, b64: string) => {
      const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([raw], fileName, { type: 'application/octet-stream' }));
      const target = document.getElementById('search-mode')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    },
    name,
    Buffer.from(bytes).toString('base64'),
  );
  await page.waitForFunction((n: number) => Number(document.body.dataset.corpusLoads ?? 0) > n, {}, before.loads);
  return readSearch(page);
}

/** Whether each mode's panel is on screen (rendered with a size), not merely marked hidden. */
function displayed(page: Page): Promise<{ rerank: boolean; search: boolean }> {
  return page.evaluate(() => {
    const on = (id: string): boolean => document.getElementById(id)!.getBoundingClientRect().height > 0;
    return { rerank: on('rerank-mode'), search: on('search-mode') };
  });
}

async function openSearch(chromium: ChromiumSession): Promise<{ page: Page; requests: string[] }> {
  const page = await chromium.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`${site.url}#search`, { waitUntil: 'load' });
  await waitForSearch(page, DEFAULT_QUERY, 0);
  return { page, requests };
}

describe('the shipped corpus file', () => {
  it('is an int8 corpus of the docs with ids and texts, embedded by the page’s hashing embedder', () => {
    expect(shippedFile.dtype).toBe('int8');
    expect(shippedFile.metadata.model).toBe('hash-embedder-d128');
    expect(shippedFile.dim).toBe(128);
    expect(shippedFile.documents.length).toBeGreaterThan(100);
    expect(shippedFile.texts).toHaveLength(shippedFile.documents.length);
    expect(shippedFile.ids).toContain('sample-0');
    expect(shippedFile.ids!.some((id) => id.startsWith('README.md#'))).toBe(true);
    // Each document is the hashing embedder's rows for its text, int8-quantized.
    for (const i of [0, 50, shippedFile.documents.length - 1]) {
      const exact = pageEmbedder.embedText(shippedFile.texts![i]!);
      const doc = shippedFile.documents[i]!;
      expect(doc.rows).toBe(exact.rows);
      for (let k = 0; k < exact.data.length; k++) expect(Math.abs(doc.data[k]! - exact.data[k]!)).toBeLessThan(0.01);
    }
  });
});

describe('search in Chromium with --enable-unsafe-webgpu (SwiftShader adapter)', () => {
  let chromium: ChromiumSession;
  let page: Page;
  let requests: string[];

  beforeAll(async () => {
    chromium = await launchChromium({ webgpu: true, viewport: { width: 1360, height: 1020 } });
    ({ page, requests } = await openSearch(chromium));
  }, 90_000);

  afterAll(async () => {
    await chromium?.close();
  });

  it('opens on #search, fetches the corpus once, shows its size on the wire, and ranks like the reference', async () => {
    const state = await readSearch(page);
    expect(state.mode).toBe('search');
    expectReferenceTop(state, shippedReference(DEFAULT_QUERY));
    expect(requests.filter((u) => u.endsWith('/corpus.safetensors'))).toHaveLength(1);
    expect(state.infoData).toMatchObject({
      name: 'corpus.safetensors',
      origin: 'shipped',
      bytes: String(shipped.byteLength),
      transferBytes: String(shipped.byteLength), // the test server does not compress
      documents: String(shippedFile.documents.length),
      dtype: 'int8',
    });
    const mb = (shipped.byteLength / 2 ** 20).toFixed(2);
    expect(state.info).toMatch(new RegExp(`${mb} MB on the wire · int8 · ${shippedFile.documents.length} documents`));
    expect(state.timings).toMatch(
      // The rerank mode may have started the 'auto' scorer first; then this search reports no start time.
      /^query [\d.]+ ms \(embed [\d.]+ · score \+ top 10 [\d.]+\) · upload [\d.]+ ms( · backend start [\d.]+ ms)?$/,
    );
    // The texts shown are the file's texts.
    expect(state.results.map((r) => r.text)).toEqual(state.results.map((r) => shippedFile.texts![r.index]));
    expect(state.results.map((r) => r.id)).toEqual(state.results.map((r) => shippedFile.ids![r.index]));
  });

  it('searches as the user types, debounced: far fewer searches than keystrokes, the last one right', async () => {
    const before = (await readSearch(page)).searches;
    const query = 'late interaction MaxSim on the GPU';
    const state = await typeQuery(page, query);
    expectReferenceTop(state, shippedReference(query));
    const searches = state.searches - before;
    expect(searches).toBeGreaterThanOrEqual(1);
    expect(searches).toBeLessThan(query.length / 3);
  });

  it('webgpu scores on the SwiftShader adapter after one upload, with the same ranking', async () => {
    let before = (await readSearch(page)).searches;
    await select(page, 'search-backend-choice', 'webgpu');
    const query = 'late interaction MaxSim on the GPU';
    let state = await waitForSearch(page, query, before);
    expect(state.backendKind).toBe('webgpu');
    expect(state.backend).toMatch(/^webgpu · /);
    expectReferenceTop(state, shippedReference(query));
    const upload = /upload ([\d.]+) ms/.exec(state.timings)![1];
    for (const next of ['vLLM pooling bytes encoding', 'error codes for a lost GPU device']) {
      before = state.searches;
      state = await typeQuery(page, next);
      expect(state.backendKind).toBe('webgpu');
      expectReferenceTop(state, shippedReference(next));
      // The corpus stayed resident: the upload figure is the one from the first search on this backend.
      expect(/upload ([\d.]+) ms/.exec(state.timings)![1]).toBe(upload);
      expect(state.timings).not.toMatch(/backend start/);
    }
  });

  it('works offline once loaded: searching sends no request at all', async () => {
    await page.setOfflineMode(true);
    try {
      const sent = requests.length;
      for (const query of ['float16 storage accuracy bound', 'Deno Bun and Workers']) {
        const state = await typeQuery(page, query);
        expectReferenceTop(state, shippedReference(query));
      }
      expect(requests.slice(sent)).toEqual([]);
    } finally {
      await page.setOfflineMode(false);
    }
  });

  it('a dropped corpus file replaces the shipped one and is searched the same way', async () => {
    const embedder = pageEmbedder;
    const mine = writeCorpusFile(
      SAMPLE_DOCUMENTS.map((d) => embedder.embedText(d)),
      {
        dtype: 'f16',
        model: 'hash-embedder-d128',
        ids: SAMPLE_DOCUMENTS.map((_, i) => `mine-${i}`),
        texts: [...SAMPLE_DOCUMENTS],
      },
    );
    let state = await dropFile(page, 'mine.safetensors', mine);
    expect(state.infoData).toMatchObject({
      name: 'mine.safetensors',
      origin: 'dropped',
      dtype: 'f16',
      documents: '10',
    });
    expect(state.info).toMatch(/from your disk · f16 · 10 documents/);
    state = await typeQuery(page, SAMPLE_QUERY);
    expectReferenceTop(state, reference(readCorpusFile(mine), embedder.embedText(SAMPLE_QUERY)));
    expect(state.results[0]!.id).toMatch(/^mine-/);
  });

  it('a malformed file (through the file picker) gets E_CORPUS_FORMAT, and the corpus in use stays', async () => {
    const good = writeCorpusFile([pageEmbedder.embedText('one document')], { dtype: 'int8' });
    const path = join(scratch, 'cut.safetensors');
    await writeFile(path, good.subarray(0, good.byteLength - 10));
    const before = await readSearch(page);
    const input = (await page.$('input[data-testid="corpus-file"]'))!;
    await input.uploadFile(path);
    await page.waitForFunction((n: number) => Number(document.body.dataset.corpusLoads ?? 0) > n, {}, before.loads);
    let state = await readSearch(page);
    expect(state.state).toBe('error');
    expect(state.error).toMatch(
      /^cut\.safetensors is not a corpus file this page can read: .*truncated.* \[E_CORPUS_FORMAT, truncated\]\. The corpus you had stays loaded\.$/,
    );
    expect(state.infoData.name).toBe('mine.safetensors');
    state = await typeQuery(page, 'solar panels and sunlight');
    expect(state.error).toBeNull();
    expect(state.results).toHaveLength(TOP_K);
  });

  it('"back to the shipped corpus" restores it, on the CPU too', async () => {
    const before = (await readSearch(page)).searches;
    await select(page, 'search-backend-choice', 'cpu');
    await waitForSearch(page, 'solar panels and sunlight', before);
    const after = (await readSearch(page)).searches;
    await page.click('[data-testid="corpus-shipped"]');
    const state = await waitForSearch(page, 'solar panels and sunlight', after);
    expect(state.infoData.origin).toBe('shipped');
    expect(state.backendKind).toBe('cpu');
    expectReferenceTop(state, shippedReference('solar panels and sunlight'));
  });

  it('the rerank mode is still there and still ranks', async () => {
    expect(await displayed(page)).toEqual({ rerank: false, search: true });
    await page.click('[data-testid="tab-rerank"]');
    expect(await displayed(page)).toEqual({ rerank: true, search: false });
    const runs = await page.evaluate(() => Number(document.body.dataset.runs ?? 0));
    await page.click('[data-testid="rank"]');
    await page.waitForFunction((n: number) => Number(document.body.dataset.runs ?? 0) > n, {}, runs);
    const ranked = await page.$$eval('[data-testid="result"]', (lis) => lis.length);
    expect(ranked).toBe(DEMO_DOCUMENTS.length);
    expect(page.url()).not.toMatch(/#search$/);
    await page.click('[data-testid="tab-search"]');
    expect(page.url()).toMatch(/#search$/);
    expect(await displayed(page)).toEqual({ rerank: false, search: true });
  });

  it('nothing went wrong in the page', () => {
    expect(chromium.problems).toEqual([]);
  });
});

describe('search in Chromium without WebGPU (no adapter)', () => {
  let chromium: ChromiumSession;
  let page: Page;

  beforeAll(async () => {
    chromium = await launchChromium({ webgpu: false });
    ({ page } = await openSearch(chromium));
  }, 90_000);

  afterAll(async () => {
    await chromium?.close();
  });

  it('auto searches on the CPU, says why, and ranks like the reference', async () => {
    const state = await readSearch(page);
    expect(state.backendKind).toBe('cpu');
    expect(state.notice).toMatch(/^Scoring on the CPU: .*(WebGPU|adapter)/);
    expectReferenceTop(state, shippedReference(DEFAULT_QUERY));
    const query = 'bytes metadata header limit';
    expectReferenceTop(await typeQuery(page, query), shippedReference(query));
  });

  it('webgpu, when asked for, fails with a message that names the way out', async () => {
    const before = (await readSearch(page)).searches;
    await select(page, 'search-backend-choice', 'webgpu');
    const state = await waitForSearch(page, '', before);
    expect(state.state).toBe('error');
    expect(state.error).toMatch(/WebGPU/);
    expect(state.error).toMatch(/Choose auto or cpu/);
    const again = (await readSearch(page)).searches;
    await select(page, 'search-backend-choice', 'auto');
    const query = 'bytes metadata header limit';
    expectReferenceTop(await waitForSearch(page, query, again), shippedReference(query));
  });

  describe('a corpus from another model, its queries embedded by a /pooling server', () => {
    let pooling: PoolingServer;
    let cors: Server;
    let corsUrl: string;
    let file: CorpusFile;

    beforeAll(async () => {
      pooling = await startPoolingServer({ dim: 64 });
      cors = await startCorsLayer(pooling.port);
      corsUrl = `http://127.0.0.1:${(cors.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      await new Promise<void>((done) => {
        cors?.closeAllConnections();
        cors?.close(() => done());
      });
      await pooling?.close();
    });

    it('asks for the server, then ranks like the reference with the server’s query vectors', async () => {
      const bytes = writeCorpusFile(
        SAMPLE_DOCUMENTS.map((d) => pooling.embedder.embedText(d)),
        { dtype: 'int8', model: pooling.model, texts: [...SAMPLE_DOCUMENTS] },
      );
      file = readCorpusFile(bytes);
      let state = await dropFile(page, 'pooled.safetensors', bytes);
      expect(state.poolingShown).toBe(true);
      expect(await page.$eval('#search-pooling-why', (n) => n.textContent)).toMatch(
        new RegExp(`embedded by ${pooling.model.replace(/[.]/g, '\\.')} \\(d=64\\)`),
      );
      expect(await page.$eval('[data-testid="search-pooling-model"]', (n) => (n as HTMLInputElement).value)).toBe(
        pooling.model,
      );
      await page.waitForFunction(() => document.body.dataset.searchState === 'error');
      state = await readSearch(page);
      expect(state.error).toMatch(/Enter the \/pooling server URL/);

      const before = state.searches;
      await page.$eval(
        '[data-testid="search-pooling-url"]',
        (n, url) => {
          (n as HTMLInputElement).value = url;
          n.dispatchEvent(new Event('change', { bubbles: true }));
        },
        corsUrl,
      );
      const query = 'bytes metadata header limit'; // still in the box from the tests above
      state = await waitForSearch(page, query, before);
      expectReferenceTop(state, reference(file, pooling.embedder.embedText(query)));
      const sent = pooling.requests.filter((r) => r.path === '/pooling').length;
      state = await typeQuery(page, SAMPLE_QUERY);
      expectReferenceTop(state, reference(file, pooling.embedder.embedText(SAMPLE_QUERY)));
      expect(pooling.requests.filter((r) => r.path === '/pooling').length).toBeGreaterThan(sent);
    });
  });

  it('nothing went wrong in the page', () => {
    expect(chromium.problems).toEqual([]);
  });
});
