// The demo's Search mode: the corpus file shipped with the page (./corpus.safetensors, built from the docs by
// shipped-corpus.ts) or one the user drops, fetched and decoded once, uploaded to the GPU (or CPU) once, and
// searched as the user types. Queries are embedded in the page by the hashing embedder the file names, so once the
// page has loaded, searching needs no network; a corpus from another model embeds its queries through a vLLM
// /pooling server instead. Uses only the public API, as main.ts does.
//
// For tests (test/browser/search.test.ts) <body> carries `data-mode` (rerank | search), `data-search-state`
// (loading | busy | done | error), `data-searches` (finished searches) and `data-corpus-loads` (finished corpus
// loads, failed ones included); the results list carries `data-query`, the query its results belong to.
import {
  CorpusFileError,
  PoolingClient,
  createHashEmbedder,
  readCorpusFileStream,
  type BackendChoice,
  type Corpus,
  type CorpusFile,
  type HashEmbedder,
  type Scorer,
  type TokenMatrix,
} from 'webgpu-maxsim';

/** What main.ts shares with this mode: its scorers (one per backend choice) and how it names and explains things. */
export interface SearchDeps {
  scorerFor(choice: BackendChoice): Promise<{ scorer: Scorer; startMs: number | undefined }>;
  forgetScorer(choice: BackendChoice): void;
  scorerBroken(err: unknown): boolean;
  backendLabel(scorer: Scorer, choice: BackendChoice): string;
  describeError(err: unknown): string;
}

const SHIPPED_FILE = 'corpus.safetensors';
const DEFAULT_QUERY = 'int8 corpus files in safetensors';
const TOP_K = 10;
const DEBOUNCE_MS = 150;
const MAX_QUERY_CHARS = 2000;

const $ = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page lacks #${id}`);
  return node as T;
};

/** A problem the person can fix, shown as it is. */
class SearchProblem extends Error {}

interface LoadedCorpus {
  readonly file: CorpusFile;
  readonly name: string;
  readonly origin: 'shipped' | 'dropped';
  /** Bytes transferred: on the wire for the shipped file (compressed, if the server compresses), the file size for a dropped one. */
  readonly transferBytes: number;
  readonly loadMs: number;
  /** The hashing embedder's width when the file says it made the vectors (`model: hash-embedder-d<dim>`). */
  readonly hashDim: number | undefined;
}

interface Resident {
  readonly corpus: LoadedCorpus;
  readonly choice: BackendChoice;
  readonly scorer: Scorer;
  readonly handle: Corpus;
  readonly uploadMs: number;
  /** How long the scorer took to start, when this resident started it; shown with the first search only. */
  startMs: number | undefined;
}

const formatBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 2 ** 20).toFixed(2)} MB`;
const ms = (v: number): string => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

export function setupSearch(deps: SearchDeps): void {
  const ui = {
    tabRerank: $<HTMLButtonElement>('tab-rerank'),
    tabSearch: $<HTMLButtonElement>('tab-search'),
    rerankMode: $<HTMLElement>('rerank-mode'),
    searchMode: $<HTMLElement>('search-mode'),
    query: $<HTMLInputElement>('search-query'),
    backendChoice: $<HTMLSelectElement>('search-backend-choice'),
    fileInput: $<HTMLInputElement>('corpus-file'),
    drop: $<HTMLDivElement>('corpus-drop'),
    shipped: $<HTMLButtonElement>('corpus-shipped'),
    pooling: $<HTMLDivElement>('search-pooling'),
    poolingWhy: $<HTMLParagraphElement>('search-pooling-why'),
    poolingUrl: $<HTMLInputElement>('search-pooling-url'),
    poolingModel: $<HTMLInputElement>('search-pooling-model'),
    corpusInfo: $<HTMLParagraphElement>('corpus-info'),
    backend: $<HTMLSpanElement>('search-backend'),
    timings: $<HTMLSpanElement>('search-timings'),
    notice: $<HTMLDivElement>('search-notice'),
    error: $<HTMLDivElement>('search-error'),
    results: $<HTMLOListElement>('search-results'),
  };
  const body = document.body.dataset;

  const show = (node: HTMLElement, text: string | undefined): void => {
    node.hidden = text === undefined;
    node.textContent = text ?? '';
  };

  let current: LoadedCorpus | undefined;
  let loading: Promise<void> = Promise.resolve();
  let resident: Resident | undefined;
  let shippedCorpus: LoadedCorpus | undefined;
  let loads = 0;
  let searches = 0;
  let searchedOnce = false;
  const hashEmbedders = new Map<number, HashEmbedder>();

  // ---- the corpus ----

  async function fetchShipped(): Promise<LoadedCorpus> {
    const url = new URL(SHIPPED_FILE, document.baseURI).href;
    const t0 = performance.now();
    const res = await fetch(url);
    if (!res.ok || res.body === null) {
      throw new SearchProblem(`Could not load the shipped corpus ${SHIPPED_FILE}: HTTP ${res.status}.`);
    }
    let received = 0;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          received += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
    const file = await readCorpusFileStream(counted);
    const loadMs = performance.now() - t0;
    const timing = performance.getEntriesByName(url).at(-1) as PerformanceResourceTiming | undefined;
    const transferBytes = timing !== undefined && timing.encodedBodySize > 0 ? timing.encodedBodySize : received;
    return { file, name: SHIPPED_FILE, origin: 'shipped', transferBytes, loadMs, hashDim: hashDimOf(file) };
  }

  async function readDropped(blob: File): Promise<LoadedCorpus> {
    const t0 = performance.now();
    let file: CorpusFile;
    try {
      file = await readCorpusFileStream(blob);
    } catch (err) {
      if (err instanceof CorpusFileError) {
        throw new SearchProblem(
          `${blob.name} is not a corpus file this page can read: ${err.message} [${err.code}, ${err.problem}]. ` +
            'The corpus you had stays loaded.',
        );
      }
      throw err;
    }
    return {
      file,
      name: blob.name,
      origin: 'dropped',
      transferBytes: blob.size,
      loadMs: performance.now() - t0,
      hashDim: hashDimOf(file),
    };
  }

  function hashDimOf(file: CorpusFile): number | undefined {
    const m = /^hash-embedder-d(\d+)$/.exec(file.metadata.model ?? '');
    return m !== null && Number(m[1]) === file.dim ? file.dim : undefined;
  }

  function useCorpus(corpus: LoadedCorpus): void {
    current = corpus;
    resident?.handle.destroy();
    resident = undefined;
    const { file } = corpus;
    const tokens = file.rowOffsets[file.rowOffsets.length - 1] ?? 0;
    const where = corpus.origin === 'shipped' ? 'on the wire' : 'from your disk';
    ui.corpusInfo.textContent =
      `${corpus.name}${corpus.origin === 'shipped' ? ' (shipped with this page)' : ''} · ` +
      `${formatBytes(corpus.transferBytes)} ${where} · ${file.dtype} · ` +
      `${file.documents.length.toLocaleString('en')} documents · ${tokens.toLocaleString('en')} tokens · ` +
      `d=${file.dim} · model ${file.metadata.model ?? 'not named'} · read in ${ms(corpus.loadMs)} ms`;
    Object.assign(ui.corpusInfo.dataset, {
      name: corpus.name,
      origin: corpus.origin,
      bytes: String(file.byteLength),
      transferBytes: String(corpus.transferBytes),
      documents: String(file.documents.length),
      dtype: file.dtype,
    });
    ui.shipped.hidden = corpus.origin === 'shipped' || shippedCorpus === undefined;
    const needsServer = corpus.hashDim === undefined;
    ui.pooling.hidden = !needsServer;
    if (needsServer) {
      const model = file.metadata.model;
      ui.poolingWhy.textContent =
        `This corpus was embedded by ${model === undefined || model === 'unknown' ? 'a model the file does not name' : model} ` +
        `(d=${file.dim}), not by the built-in hashing embedder, so queries must come from the same model: enter a ` +
        'vLLM /pooling server that serves it. Each search then asks the server to embed the query.';
      if (model !== undefined && model !== 'unknown') ui.poolingModel.value = model;
    }
  }

  function loadFile(blob: File): void {
    loading = loading.then(async () => {
      try {
        useCorpus(await readDropped(blob));
        show(ui.error, undefined);
        requestSearch();
      } catch (err) {
        failed(err);
      } finally {
        loads++;
        body.corpusLoads = String(loads);
      }
    });
  }

  // ---- searching ----

  function queryEmbedder(corpus: LoadedCorpus): (text: string) => Promise<TokenMatrix> {
    if (corpus.hashDim !== undefined) {
      const dim = corpus.hashDim;
      let embedder = hashEmbedders.get(dim);
      if (embedder === undefined) hashEmbedders.set(dim, (embedder = createHashEmbedder({ dim })));
      const e = embedder;
      return async (text) => e.embedText(text);
    }
    const raw = ui.poolingUrl.value.trim();
    if (raw === '') {
      throw new SearchProblem(
        `Enter the /pooling server URL: this corpus (${corpus.file.metadata.model ?? 'unnamed model'}) needs its ` +
          "model's query vectors.",
      );
    }
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new SearchProblem(
        `The server URL ${JSON.stringify(raw)} is not a URL: write it like http://127.0.0.1:8000.`,
      );
    }
    const model = ui.poolingModel.value.trim();
    const client = new PoolingClient({
      baseUrl: url.href.replace(/\/+$/, ''),
      ...(model === '' ? {} : { model }),
      maxRetries: 1,
      retryDelayMs: 250,
      timeoutMs: 30_000,
    });
    return async (text) => (await client.embed([text])).matrices[0]!;
  }

  async function residentFor(corpus: LoadedCorpus, choice: BackendChoice): Promise<Resident> {
    if (
      resident !== undefined &&
      resident.corpus === corpus &&
      resident.choice === choice &&
      !resident.handle.destroyed
    ) {
      return resident;
    }
    resident?.handle.destroy();
    resident = undefined;
    const { scorer, startMs } = await deps.scorerFor(choice);
    const t0 = performance.now();
    const handle = await scorer.upload(corpus.file.documents);
    resident = { corpus, choice, scorer, handle, uploadMs: performance.now() - t0, startMs };
    return resident;
  }

  let latest = 0;
  let chain: Promise<void> = Promise.resolve();

  /** Queues a search for what is in the box now; searches run one at a time, and only the newest request runs. */
  function requestSearch(): void {
    const ticket = ++latest;
    chain = chain.then(() => (ticket === latest ? search() : undefined));
  }

  async function search(): Promise<void> {
    body.searchState = 'busy';
    searchedOnce = true;
    const choice = ui.backendChoice.value as BackendChoice;
    try {
      await loading;
      const corpus = current;
      if (corpus === undefined) throw new SearchProblem('No corpus is loaded: drop a corpus file on this page.');
      const text = ui.query.value.trim();
      if (text.length > MAX_QUERY_CHARS) {
        throw new SearchProblem(`The query is too long: ${text.length} characters; at most ${MAX_QUERY_CHARS}.`);
      }
      const embed = queryEmbedder(corpus);
      const r = await residentFor(corpus, choice);
      ui.backend.textContent = deps.backendLabel(r.scorer, r.choice);
      ui.backend.dataset.backend = r.scorer.backend;
      const reason = r.scorer.info.fallbackReason;
      show(ui.notice, choice !== 'cpu' && reason !== undefined ? `Scoring on the CPU: ${reason}` : undefined);
      if (text === '') {
        ui.results.replaceChildren();
        ui.results.dataset.query = '';
        ui.timings.textContent = `upload ${ms(r.uploadMs)} ms · type to search`;
      } else {
        const t0 = performance.now();
        const query = await embed(text);
        const t1 = performance.now();
        const top = await r.scorer.rerank(query, r.handle, { topK: TOP_K });
        const t2 = performance.now();
        render(corpus, top, text);
        ui.timings.textContent =
          `query ${ms(t2 - t0)} ms (embed ${ms(t1 - t0)} · score + top ${TOP_K} ${ms(t2 - t1)}) · ` +
          `upload ${ms(r.uploadMs)} ms` +
          (r.startMs === undefined ? '' : ` · backend start ${ms(r.startMs)} ms`);
        r.startMs = undefined;
        ui.timings.dataset.queryMs = String(t2 - t0);
      }
      show(ui.error, undefined);
      body.searchState = 'done';
    } catch (err) {
      if (deps.scorerBroken(err)) {
        deps.forgetScorer(choice);
        resident = undefined;
      }
      failed(err);
    } finally {
      searches++;
      body.searches = String(searches);
    }
  }

  function failed(err: unknown): void {
    if (!(err instanceof SearchProblem)) console.warn(err);
    show(ui.error, err instanceof SearchProblem ? err.message : deps.describeError(err));
    body.searchState = 'error';
  }

  function render(corpus: LoadedCorpus, top: readonly { index: number; score: number }[], query: string): void {
    const { file } = corpus;
    const best = top[0]?.score ?? 0;
    ui.results.replaceChildren(
      ...top.map(({ index, score }, position) => {
        const li = document.createElement('li');
        li.className = 'result search-result';
        li.dataset.testid = 'search-result';
        li.dataset.index = String(index);
        li.dataset.score = String(score);
        const id = file.ids?.[index];
        if (id !== undefined) li.dataset.id = id;
        const rank = document.createElement('span');
        rank.className = 'result-rank';
        rank.textContent = String(position + 1);
        const main = document.createElement('span');
        main.className = 'result-body';
        const textEl = document.createElement('span');
        textEl.className = 'result-text';
        textEl.textContent = file.texts?.[index] ?? id ?? `document ${index}`;
        const meta = document.createElement('span');
        meta.className = 'result-meta';
        meta.textContent = `${id === undefined ? '' : `${id} · `}document ${index} · ${file.documents[index]!.rows} tokens`;
        main.append(textEl, meta);
        const scoreEl = document.createElement('span');
        scoreEl.className = 'result-score';
        const value = document.createElement('span');
        value.className = 'score-value';
        value.textContent = Number.isFinite(score) ? score.toFixed(4) : '—';
        const bar = document.createElement('span');
        bar.className = 'score-bar';
        bar.style.width = `${Number.isFinite(score) && best > 0 ? Math.max(0, score / best) * 100 : 0}%`;
        scoreEl.append(value, bar);
        li.append(rank, main, scoreEl);
        li.tabIndex = 0;
        const toggle = (): void => void li.classList.toggle('expanded');
        li.addEventListener('click', toggle);
        li.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') toggle();
        });
        return li;
      }),
    );
    ui.results.dataset.query = query;
  }

  // ---- modes, events ----

  function showMode(mode: 'rerank' | 'search'): void {
    ui.rerankMode.hidden = mode !== 'rerank';
    ui.searchMode.hidden = mode !== 'search';
    ui.tabRerank.setAttribute('aria-selected', String(mode === 'rerank'));
    ui.tabSearch.setAttribute('aria-selected', String(mode === 'search'));
    body.mode = mode;
    history.replaceState(null, '', mode === 'search' ? '#search' : window.location.pathname + window.location.search);
    if (mode === 'search' && !searchedOnce) requestSearch();
  }

  let debounce: ReturnType<typeof setTimeout> | undefined;
  ui.query.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(requestSearch, DEBOUNCE_MS);
  });
  ui.query.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(debounce);
      requestSearch();
    }
  });
  ui.backendChoice.addEventListener('change', requestSearch);
  ui.poolingUrl.addEventListener('change', requestSearch);
  ui.poolingModel.addEventListener('change', requestSearch);
  ui.tabRerank.addEventListener('click', () => showMode('rerank'));
  ui.tabSearch.addEventListener('click', () => showMode('search'));
  ui.fileInput.addEventListener('change', () => {
    const picked = ui.fileInput.files?.[0];
    if (picked !== undefined) loadFile(picked);
    ui.fileInput.value = '';
  });
  ui.shipped.addEventListener('click', () => {
    if (shippedCorpus === undefined) return;
    useCorpus(shippedCorpus);
    requestSearch();
  });
  // The whole Search mode takes a dropped file.
  ui.searchMode.addEventListener('dragover', (e) => {
    e.preventDefault();
    ui.drop.classList.add('dragging');
  });
  ui.searchMode.addEventListener('dragleave', () => ui.drop.classList.remove('dragging'));
  ui.searchMode.addEventListener('drop', (e) => {
    e.preventDefault();
    ui.drop.classList.remove('dragging');
    const dropped = e.dataTransfer?.files[0];
    if (dropped !== undefined) loadFile(dropped);
  });

  ui.query.value = DEFAULT_QUERY;
  body.searchState = 'loading';
  loading = (async () => {
    try {
      shippedCorpus = await fetchShipped();
      useCorpus(shippedCorpus);
    } catch (err) {
      failed(err);
    } finally {
      loads++;
      body.corpusLoads = String(loads);
    }
  })();
  showMode(window.location.hash === '#search' ? 'search' : 'rerank');
}
