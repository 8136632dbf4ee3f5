// The demo page: embed a query and documents (in the page, or through a vLLM /pooling server), score them with
// MaxSim on the backend asked for, list them best first, and draw the token alignment of the chosen result.
// It uses only the public API, imported as a user would (`webgpu-maxsim`; vite.config.ts maps the name).
//
// For tests (test/browser/demo.test.ts) the page keeps `data-state` (busy | done | error) and `data-runs`
// (finished rank attempts) on <body>, so a test can wait for a run without timing guesses.
import {
  BackendUnavailableError,
  MaxsimError,
  PoolingClient,
  PoolingConnectionError,
  PoolingHttpError,
  PoolingTimeoutError,
  createHashEmbedder,
  createScorer,
  type BackendChoice,
  type Scorer,
  type TokenMatrix,
} from 'webgpu-maxsim';
import { renderAlignment } from './alignment.js';
import { setupSearch } from './search.js';
import { DEMO_DOCUMENTS, DEMO_QUERY } from '../src/embed/sample-corpus.js';

/** Input limits: past these the page says so instead of freezing the tab. */
const MAX_DOCUMENTS = 2000;
const MAX_DOCUMENT_CHARS = 400_000;
const MAX_QUERY_CHARS = 2000;
/** Results listed; the rest are counted. */
const MAX_LISTED = 200;
const HASH_DIM = 128;

const $ = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page lacks #${id}`);
  return node as T;
};

const ui = {
  query: $<HTMLInputElement>('query'),
  documents: $<HTMLTextAreaElement>('documents'),
  backendChoice: $<HTMLSelectElement>('backend-choice'),
  embedder: $<HTMLSelectElement>('embedder'),
  poolingSettings: $<HTMLDivElement>('pooling-settings'),
  poolingUrl: $<HTMLInputElement>('pooling-url'),
  poolingModel: $<HTMLInputElement>('pooling-model'),
  builtinHint: $<HTMLParagraphElement>('builtin-hint'),
  rank: $<HTMLButtonElement>('rank'),
  backend: $<HTMLSpanElement>('backend'),
  timings: $<HTMLSpanElement>('timings'),
  notice: $<HTMLDivElement>('notice'),
  error: $<HTMLDivElement>('error'),
  results: $<HTMLOListElement>('results'),
  alignment: $<HTMLDivElement>('alignment'),
};

const hashEmbedder = createHashEmbedder({ dim: HASH_DIM });

/** What WebGPU looks like in this browser, found once (the answer does not change while the page lives). */
type WebGpuState =
  | { readonly kind: 'no-api' }
  | { readonly kind: 'no-adapter' }
  | { readonly kind: 'adapter'; readonly name: string; readonly software: boolean };

const webGpuState: Promise<WebGpuState> = (async () => {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (gpu === undefined) return { kind: 'no-api' };
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (adapter === null) return { kind: 'no-adapter' };
  const { vendor, architecture, description, device } = adapter.info;
  const name = [description || device, vendor, architecture].filter((s) => s !== '').join(' ') || 'unknown adapter';
  return { kind: 'adapter', name, software: adapter.info.isFallbackAdapter === true };
})();

function describeMissing(state: WebGpuState): string | undefined {
  if (state.kind === 'no-api') {
    return (
      'WebGPU is missing: this browser has no navigator.gpu (it needs Chrome or Edge 113+, Safari 26+, or ' +
      'Firefox 141+ on Windows, over https or localhost).'
    );
  }
  if (state.kind === 'no-adapter') {
    return (
      'WebGPU is missing: navigator.gpu.requestAdapter() found no adapter (WebGPU switched off, the GPU ' +
      'blocklisted, or Chrome on Linux without --enable-unsafe-webgpu).'
    );
  }
  return undefined;
}

// One scorer per backend choice, created on first use and kept: creating a WebGPU scorer compiles pipelines.
const scorers = new Map<BackendChoice, Promise<Scorer>>();

async function scorerFor(choice: BackendChoice): Promise<{ scorer: Scorer; startMs: number | undefined }> {
  const existing = scorers.get(choice);
  if (existing !== undefined) return { scorer: await existing, startMs: undefined };
  const t0 = performance.now();
  const created = createScorer({ backend: choice, scale: 'sum' });
  scorers.set(choice, created);
  try {
    const scorer = await created;
    return { scorer, startMs: performance.now() - t0 };
  } catch (err) {
    scorers.delete(choice); // let the next click try again
    throw err;
  }
}

/** Scoring failures after which a scorer refuses further work (a lost device, a failed CPU worker). */
function scorerBroken(err: unknown): boolean {
  return (
    err instanceof MaxsimError &&
    !err.code.startsWith('E_POOLING') &&
    err.code !== 'E_ABORTED' &&
    !(err instanceof BackendUnavailableError)
  );
}

/** Drops a scorer so the next click starts a fresh one. */
function forgetScorer(choice: BackendChoice): void {
  const pending = scorers.get(choice);
  scorers.delete(choice);
  // A scorer that never started has nothing to destroy, and its failure was already shown by scorerFor.
  void pending?.then((scorer) => scorer.destroy()).catch(() => undefined);
}

function backendLabel(scorer: Scorer, choice: BackendChoice): string {
  const { info } = scorer;
  if (info.backend === 'webgpu' && info.adapter !== undefined) {
    const a = info.adapter;
    const name = [a.description || a.device, a.vendor, a.architecture].filter((s) => s !== '').join(' ');
    return `webgpu · ${name || 'unknown adapter'}${a.isFallbackAdapter ? ' (software adapter)' : ''}`;
  }
  if (info.backend === 'cpu') {
    const threads = info.threads ?? 1;
    // Why not WebGPU (no adapter, a software one, a lost device), unless the CPU was simply asked for.
    const why = info.fallbackReason === undefined || choice === 'cpu' ? '' : ` · not WebGPU: ${info.fallbackReason}`;
    return `cpu · ${info.kernel ?? 'kernel'}, ${threads} thread${threads === 1 ? '' : 's'}${why}`;
  }
  return info.summary;
}

/** Input problems the person can fix, shown as they are (no stack, no code). */
class InputProblem extends Error {}

interface Inputs {
  readonly query: string;
  readonly documents: string[];
}

function readInputs(): Inputs {
  const query = ui.query.value.trim();
  const documents = ui.documents.value
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (query === '') throw new InputProblem('The query is empty: type what you are looking for.');
  if (query.length > MAX_QUERY_CHARS) {
    throw new InputProblem(
      `The query is too long: ${query.length.toLocaleString('en')} characters; this demo takes at most ` +
        `${MAX_QUERY_CHARS.toLocaleString('en')}.`,
    );
  }
  if (documents.length === 0) throw new InputProblem('There are no documents: paste at least one, one per line.');
  if (documents.length > MAX_DOCUMENTS) {
    throw new InputProblem(
      `Too many documents: ${documents.length.toLocaleString('en')}; this demo takes at most ` +
        `${MAX_DOCUMENTS.toLocaleString('en')} (one per line). Use the library directly for more.`,
    );
  }
  const chars = documents.reduce((n, d) => n + d.length, 0);
  if (chars > MAX_DOCUMENT_CHARS) {
    throw new InputProblem(
      `The documents are too large: ${chars.toLocaleString('en')} characters in all; this demo takes at most ` +
        `${MAX_DOCUMENT_CHARS.toLocaleString('en')}.`,
    );
  }
  return { query, documents };
}

/** Token matrices plus how to label their rows in the alignment view. */
interface Embedded {
  readonly query: TokenMatrix;
  readonly docs: TokenMatrix[];
  readonly tokensOf: (text: string, rows: number) => Promise<string[]>;
}

const displayToken = (token: string | null, row: number): string =>
  token === null ? `#${row}` : token.startsWith('\u2581') ? token.slice(1) || '▁' : token;

const rowNumbers = (rows: number): string[] => Array.from({ length: rows }, (_, i) => `#${i}`);

async function embedBuiltin(inputs: Inputs): Promise<Embedded> {
  return {
    query: hashEmbedder.embedText(inputs.query),
    docs: inputs.documents.map((d) => hashEmbedder.embedText(d)),
    tokensOf: async (text) => hashEmbedder.encode(text).tokens.map(displayToken),
  };
}

function poolingBaseUrl(): string {
  const raw = ui.poolingUrl.value.trim();
  if (raw === '')
    throw new InputProblem('The server URL is empty: enter the vLLM server root, e.g. http://127.0.0.1:8000.');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InputProblem(`The server URL ${JSON.stringify(raw)} is not a URL: write it like http://127.0.0.1:8000.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputProblem(`The server URL must start with http:// or https://, got ${JSON.stringify(raw)}.`);
  }
  return url.href.replace(/\/+$/, '');
}

async function embedPooling(inputs: Inputs): Promise<Embedded> {
  const baseUrl = poolingBaseUrl();
  const model = ui.poolingModel.value.trim();
  const client = new PoolingClient({
    baseUrl,
    ...(model === '' ? {} : { model }),
    // A person is waiting: fail fast instead of the library's patient defaults.
    maxRetries: 1,
    retryDelayMs: 250,
    timeoutMs: 30_000,
  });
  const { matrices } = await client.embed([inputs.query, ...inputs.documents]);
  const [query, ...docs] = matrices;
  return {
    query: query!,
    docs,
    // Token strings come from vLLM's /tokenize when it answers with one per row; otherwise row numbers.
    tokensOf: async (text, rows) => {
      try {
        const res = await fetch(`${baseUrl}/tokenize`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...(model === '' ? {} : { model }), prompt: text, return_token_strs: true }),
        });
        if (!res.ok) return rowNumbers(rows);
        const body = (await res.json()) as { token_strs?: unknown };
        const strs = body.token_strs;
        if (!Array.isArray(strs) || strs.length !== rows) return rowNumbers(rows);
        return strs.map((s, i) => displayToken(typeof s === 'string' ? s : null, i));
      } catch (err) {
        console.warn('token strings from /tokenize unavailable, using row numbers:', err);
        return rowNumbers(rows);
      }
    },
  };
}

function describeError(err: unknown): string {
  if (err instanceof InputProblem) return err.message;
  const origin = window.location.origin;
  if (err instanceof PoolingConnectionError) {
    return (
      `Could not reach the /pooling server. Is it running at that address, and does it allow this page's origin ` +
      `(${origin})? vLLM allows every origin unless started with --allowed-origins. Details: ${err.message}`
    );
  }
  if (err instanceof PoolingHttpError) {
    return `The /pooling server answered with an error (HTTP ${err.status}): ${err.serverMessage ?? err.message}`;
  }
  if (err instanceof PoolingTimeoutError) return `The /pooling server did not answer in time. ${err.message}`;
  if (err instanceof BackendUnavailableError) {
    return `${err.message} Choose auto or cpu to score on the CPU.`;
  }
  if (err instanceof MaxsimError) return `${err.message} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}

const ms = (v: number): string => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

function show(node: HTMLElement, text: string | undefined): void {
  node.hidden = text === undefined;
  node.textContent = text ?? '';
}

interface Run {
  readonly inputs: Inputs;
  readonly embedded: Embedded;
  readonly scores: Float32Array;
  readonly scorer: Scorer;
}

let lastRun: Run | undefined;
let runs = 0;

async function rank(): Promise<void> {
  document.body.dataset.state = 'busy';
  ui.rank.disabled = true;
  show(ui.error, undefined);
  try {
    const inputs = readInputs();
    const choice = ui.backendChoice.value as BackendChoice;
    const state = await webGpuState;
    const { scorer, startMs } = await scorerFor(choice);

    const t0 = performance.now();
    const embedded = ui.embedder.value === 'pooling' ? await embedPooling(inputs) : await embedBuiltin(inputs);
    const t1 = performance.now();
    const corpus = await scorer.upload(embedded.docs);
    const t2 = performance.now();
    let scores: Float32Array;
    try {
      [scores] = (await scorer.score([embedded.query], corpus)) as [Float32Array];
    } finally {
      corpus.destroy();
    }
    const t3 = performance.now();

    ui.backend.textContent = backendLabel(scorer, choice);
    ui.backend.dataset.backend = scorer.backend;
    const tokens = embedded.docs.reduce((n, d) => n + d.rows, 0);
    ui.timings.textContent =
      `embedding ${ms(t1 - t0)} ms · upload ${ms(t2 - t1)} ms · scoring ${ms(t3 - t2)} ms` +
      (startMs === undefined ? '' : ` · backend start ${ms(startMs)} ms`) +
      ` — ${inputs.documents.length} docs, ${tokens.toLocaleString('en')} tokens, d=${embedded.query.dim}`;
    show(ui.notice, backendNotice(choice, scorer, state));

    lastRun = { inputs, embedded, scores, scorer };
    renderResults(lastRun);
    await selectResult(lastRun, bestIndex(scores));
    document.body.dataset.state = 'done';
  } catch (err) {
    if (!(err instanceof InputProblem)) console.warn(err);
    if (scorerBroken(err)) forgetScorer(ui.backendChoice.value as BackendChoice);
    show(ui.error, describeError(err));
    document.body.dataset.state = 'error';
  } finally {
    ui.rank.disabled = false;
    runs += 1;
    document.body.dataset.runs = String(runs);
  }
}

function backendNotice(choice: BackendChoice, scorer: Scorer, state: WebGpuState): string | undefined {
  const missing = describeMissing(state);
  if (scorer.backend === 'cpu' && missing !== undefined) return `${missing} Scoring on the CPU instead.`;
  if (choice === 'auto' && scorer.backend === 'cpu' && state.kind === 'adapter' && state.software) {
    return (
      `auto chose the CPU: the only WebGPU adapter here (${state.name}) is a software one, slower than the CPU ` +
      'path. Choose webgpu to score on it anyway.'
    );
  }
  if (scorer.backend === 'webgpu' && scorer.info.adapter?.isFallbackAdapter === true) {
    return 'WebGPU runs on a software adapter here: the scores are right, the timings say nothing about a GPU.';
  }
  return undefined;
}

function bestIndex(scores: Float32Array): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  return best;
}

function renderResults(run: Run): void {
  const order = Array.from(run.scores.keys()).sort((a, b) => run.scores[b]! - run.scores[a]! || a - b);
  const top = run.scores[order[0]!]!;
  const items = order.slice(0, MAX_LISTED).map((index, position) => {
    const score = run.scores[index]!;
    const li = document.createElement('li');
    li.className = 'result';
    li.dataset.testid = 'result';
    li.dataset.index = String(index);
    li.dataset.score = String(score);
    li.tabIndex = 0;
    const rankEl = document.createElement('span');
    rankEl.className = 'result-rank';
    rankEl.textContent = String(position + 1);
    const body = document.createElement('span');
    body.className = 'result-body';
    const text = document.createElement('span');
    text.className = 'result-text';
    text.textContent = run.inputs.documents[index]!;
    const meta = document.createElement('span');
    meta.className = 'result-meta';
    meta.textContent = `document ${index}`;
    body.append(text, meta);
    const scoreEl = document.createElement('span');
    scoreEl.className = 'result-score';
    const bar = document.createElement('span');
    bar.className = 'score-bar';
    bar.style.width = `${Number.isFinite(score) && top > 0 ? Math.max(0, score / top) * 100 : 0}%`;
    const value = document.createElement('span');
    value.className = 'score-value';
    value.textContent = Number.isFinite(score) ? score.toFixed(4) : '—';
    scoreEl.append(value, bar);
    li.append(rankEl, body, scoreEl);
    const pick = (): void => void selectResult(run, index);
    li.addEventListener('click', pick);
    li.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') pick();
    });
    return li;
  });
  if (order.length > MAX_LISTED) {
    const more = document.createElement('li');
    more.className = 'result-more';
    more.textContent = `… and ${order.length - MAX_LISTED} more`;
    items.push(more);
  }
  ui.results.replaceChildren(...items);
}

async function selectResult(run: Run, index: number): Promise<void> {
  for (const li of ui.results.querySelectorAll<HTMLLIElement>('li.result')) {
    li.classList.toggle('selected', li.dataset.index === String(index));
    li.setAttribute('aria-selected', String(li.dataset.index === String(index)));
  }
  const doc = run.embedded.docs[index]!;
  const text = run.inputs.documents[index]!;
  const [queryTokens, docTokens] = await Promise.all([
    run.embedded.tokensOf(run.inputs.query, run.embedded.query.rows),
    run.embedded.tokensOf(text, doc.rows),
  ]);
  if (run !== lastRun) return; // a newer ranking replaced this one while tokens were fetched
  ui.alignment.dataset.index = String(index);
  renderAlignment(ui.alignment, {
    query: run.embedded.query,
    doc,
    queryTokens,
    docTokens,
    title: `document ${index}: ${text}`,
    score: run.scores[index]!,
    scale: run.scorer.scale,
  });
}

function syncEmbedderFields(): void {
  const pooling = ui.embedder.value === 'pooling';
  ui.poolingSettings.hidden = !pooling;
  ui.builtinHint.hidden = pooling;
}

for (const node of document.querySelectorAll('.origin')) node.textContent = window.location.origin;
ui.query.value = DEMO_QUERY;
ui.documents.value = DEMO_DOCUMENTS.join('\n');
ui.embedder.addEventListener('change', syncEmbedderFields);
syncEmbedderFields();
ui.rank.addEventListener('click', () => void rank());
ui.query.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') void rank();
});
void webGpuState.then((state) => {
  const missing = describeMissing(state);
  if (missing !== undefined && ui.notice.hidden) show(ui.notice, `${missing} The CPU path will be used.`);
});
void rank();
// The Search mode (search.ts) shares this page's scorers and messages.
setupSearch({ scorerFor, forgetScorer, scorerBroken, backendLabel, describeError });
