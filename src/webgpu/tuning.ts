// Choosing a kernel variant per adapter by measuring: at the first score() call of a kind (storage, arithmetic,
// dim bucket, query-batch bucket, short or long documents), the candidate variants run on a small synthetic
// corpus with the call's own queries, timed with timestamp queries where the device has them (else
// submit → onSubmittedWorkDone), and the fastest is kept for the rest of the process, for every scorer on the
// same adapter. Software adapters skip it and take the default (their timings say nothing about a GPU, and
// tuning there would cost seconds); so does `tune: false`. Tuning is capped in time and never fails a call: a
// candidate that fails to compile or run is dropped, and if tuning itself fails the default is used.
import type { TokenMatrix } from '../core/token-matrix.js';
import { float32ToFloat16Bits } from '../core/float16.js';
import { seededRandom } from '../core/seeded-random.js';
import type { GpuCorpus } from './corpus.js';
import {
  BUFFER_COPY_DST,
  BUFFER_COPY_SRC,
  BUFFER_MAP_READ,
  BUFFER_QUERY_RESOLVE,
  BUFFER_STORAGE,
  MAP_MODE_READ,
  captureGpuErrors,
  type MaxsimDevice,
} from './device.js';
import { MaxsimWorkspace, prepareDispatch } from './dispatch.js';
import { getKernelPipeline, type KernelPipeline } from './pipelines.js';
import { candidateVariants, defaultVariant, paddedRowWords, variantName, type Storage } from './variants.js';

/** How a variant came to be used. */
export type ChoiceHow = 'tuned' | 'default' | 'forced';

/** One decision: for calls of kind `key`, variant `variant`, and why. */
export interface VariantChoice {
  /** e.g. `f32 dim≤128 queries=1 long-docs`. */
  readonly key: string;
  readonly variant: string;
  readonly how: ChoiceHow;
  /** Tuned: median milliseconds per dispatch of every candidate measured (NaN for one that failed). */
  readonly timingsMs?: Readonly<Record<string, number>>;
  /** Tuned: how the candidates were timed. */
  readonly method?: 'timestamp-query' | 'submit-done';
  /** Tuned: wall time spent tuning (compiling included), in milliseconds. */
  readonly tuneMs?: number;
  /** Why the default was used, or what was dropped. */
  readonly note?: string;
}

/** Tuning knobs (defaults suit a real GPU; tests shrink them). */
export interface TuningSettings {
  /** Wall-clock cap on one tuning, compiling included (default 3000 ms). Measured rounds stop past it. */
  readonly budgetMs?: number;
  /** FLOPs of one synthetic dispatch (default 2e9: ~40 µs on an H200). */
  readonly flop?: number;
  /** Largest synthetic corpus in bytes (default 128 MiB, and under the device's binding limit). */
  readonly maxBytes?: number;
  /** Rounds of interleaved timed runs (default 5). */
  readonly rounds?: number;
  /** Shortest timed pass: dispatches repeat inside a pass until it lasts this long (default 2 ms). */
  readonly minPassMs?: number;
}

/** What a batch looks like to the chooser. */
export interface BatchShape {
  readonly queries: number;
  readonly maxRows: number;
}

/** The choices made in this process, per adapter and kind of call (shared by every scorer on that adapter). */
const decided = new Map<string, Promise<VariantChoice>>();

/** Forgets every decision (tests). */
export function clearTuningCache(): void {
  decided.clear();
}

/** The adapter part of a decision's key: what it is and what it allows. */
export function adapterKey(md: MaxsimDevice): string {
  const a = md.adapter;
  return [
    a.vendor,
    a.architecture,
    a.device,
    a.description,
    `wg${md.limits.maxComputeWorkgroupStorageSize}`,
    md.features.subgroups ? 'sg' : '',
    md.features.shaderF16 ? 'f16' : '',
  ].join('|');
}

/** Dim buckets: the query block's size class (resident or streamed). */
function dimBucket(dim: number): string {
  for (const b of [64, 128, 256, 512, 1024]) if (dim <= b) return `dim≤${b}`;
  return 'dim>1024';
}

/** Batch buckets: 1, 2–4, 5–16, more. */
function batchBucket(queries: number): string {
  if (queries <= 1) return 'queries=1';
  if (queries <= 4) return 'queries=2-4';
  if (queries <= 16) return 'queries=5-16';
  return 'queries>16';
}

/**
 * The key of a kind of call: storage, arithmetic, dim bucket, query-batch bucket, short (< 48 tokens on average)
 * or long documents.
 *
 * @example
 * choiceKey('f32', false, 128, { queries: 1, maxRows: 32 }, 300); // 'f32 dim≤128 queries=1 long-docs'
 */
export function choiceKey(
  storage: Storage,
  f16Math: boolean,
  dim: number,
  batch: BatchShape,
  meanTokens: number,
): string {
  return [
    f16Math ? `${storage}+f16math` : storage,
    dimBucket(dim),
    batchBucket(batch.queries),
    meanTokens < 48 ? 'short-docs' : 'long-docs',
  ].join(' ');
}

/** What {@link chooseVariant} needs. */
export interface ChooseRequest {
  readonly storage: Storage;
  readonly dim: number;
  readonly f16Math: boolean;
  readonly queries: readonly TokenMatrix[];
  readonly meanTokens: number;
  /** Measure (hardware adapters, unless tuning is off) or take the default. */
  readonly tune: boolean;
  readonly settings: TuningSettings;
  readonly maxPerDimension: number;
}

/**
 * The variant for a kind of call on this adapter: decided once per process (tuned or default) and then reused.
 *
 * @example
 * const choice = await chooseVariant(md, { storage: 'f32', dim: 128, f16Math: false, queries, meanTokens: 300,
 *   tune: true, settings: {}, maxPerDimension: 65535 });
 * choice.variant; // e.g. 'q32'
 */
export function chooseVariant(md: MaxsimDevice, request: ChooseRequest): Promise<VariantChoice> {
  const batch = batchOf(request.queries);
  const key = choiceKey(request.storage, request.f16Math, request.dim, batch, request.meanTokens);
  const fullKey = `${adapterKey(md)}#${key}${request.tune ? '' : '#untuned'}`;
  let known = decided.get(fullKey);
  if (known === undefined) {
    const fallback = (): VariantChoice => ({
      key,
      variant: variantName(
        defaultVariant(md, request.storage, request.dim, request.f16Math, batch, md.adapter.isFallbackAdapter),
      ),
      how: 'default',
      note: md.adapter.isFallbackAdapter
        ? 'software adapter: not tuned'
        : request.storage === 'int8'
          ? 'int8 storage: not tuned'
          : 'tuning off',
    });
    if (!request.tune) {
      known = Promise.resolve(fallback());
    } else {
      known = tune(md, request, key, batch).catch((err: unknown) => ({
        ...fallback(),
        note: `tuning failed: ${err instanceof Error ? err.message : String(err)}`,
      }));
      // A failed tuning (a lost device, say) is not kept: the next call may tune again.
      known.then((c) => {
        if (c.how !== 'tuned' && decided.get(fullKey) === known) decided.delete(fullKey);
      });
    }
    decided.set(fullKey, known);
  }
  return known;
}

function batchOf(queries: readonly TokenMatrix[]): BatchShape {
  let maxRows = 0;
  for (const q of queries) maxRows = Math.max(maxRows, q.rows);
  return { queries: queries.length, maxRows };
}

async function tune(md: MaxsimDevice, request: ChooseRequest, key: string, batch: BatchShape): Promise<VariantChoice> {
  const started = performance.now();
  const settings = request.settings;
  const budgetMs = settings.budgetMs ?? 3000;
  const { storage, dim, f16Math } = request;
  const fallbackVariant = defaultVariant(md, storage, dim, f16Math, batch, false);
  const candidates = candidateVariants(md, storage, dim, f16Math, batch);
  // The default first: it calibrates the repeat count.
  candidates.sort(
    (a, b) =>
      Number(variantName(b) === variantName(fallbackVariant)) - Number(variantName(a) === variantName(fallbackVariant)),
  );
  const compiled = await Promise.all(
    candidates.map((v) =>
      getKernelPipeline(md, storage, v, dim).then(
        (k) => k,
        () => undefined,
      ),
    ),
  );
  const kernels = compiled.filter((k): k is KernelPipeline => k !== undefined);
  const dropped = candidates.filter((_, i) => compiled[i] === undefined).map(variantName);
  if (kernels.length === 0) throw new Error('no candidate variant compiled');
  const corpus = await syntheticCorpus(md, storage, dim, request);
  // One workspace per candidate: a prepared dispatch reads its Params, queries and scores from its workspace's
  // buffers, so candidates sharing one would all run with the Params the last one wrote (a tiled kernel reading
  // the baseline's Params sees no work and returns at once: timings of nothing).
  const workspaces: MaxsimWorkspace[] = [];
  const timer = await createPassTimer(md);
  try {
    const prepared = new Map<KernelPipeline, ReturnType<typeof prepareDispatch>>();
    const runs = new Map<KernelPipeline, number[]>();
    for (const k of kernels) {
      try {
        const ws = new MaxsimWorkspace(md, `maxsim tuning ${k.name}`);
        workspaces.push(ws);
        const p = await captureGpuErrors(md, `preparing ${k.name} for tuning`, () =>
          prepareDispatch(md, ws, k, corpus.gpu, request.queries, request.maxPerDimension),
        );
        prepared.set(k, p);
        runs.set(k, []);
      } catch {
        dropped.push(k.name);
      }
    }
    // Warm-up (first-run costs stay out of the timings) and the repeat count from the default variant.
    let repeat = 1;
    let first = true;
    for (const [k, p] of prepared) {
      try {
        const ms = await timer.time(p, 1);
        if (first) {
          const minPass = settings.minPassMs ?? 2;
          repeat = ms > 0 ? Math.max(1, Math.min(256, Math.ceil(minPass / ms))) : 64;
          first = false;
        }
      } catch {
        prepared.delete(k);
        dropped.push(k.name);
      }
    }
    // Every candidate must compute what the baseline computes on the tuning corpus: a variant a driver
    // miscompiles, or a dispatch that does no work, is dropped rather than chosen for being fast.
    const disagreeing = await checkAgainstBaseline(md, prepared, workspaces, kernels);
    for (const k of disagreeing) {
      prepared.delete(k);
      dropped.push(`${k.name} (scores disagree with the baseline's)`);
    }
    const rounds = settings.rounds ?? 5;
    for (let r = 0; r < rounds; r++) {
      if (r > 0 && performance.now() - started > budgetMs) break;
      for (const [k, p] of prepared) {
        try {
          runs.get(k)!.push((await timer.time(p, repeat)) / repeat);
        } catch {
          prepared.delete(k);
          dropped.push(k.name);
        }
      }
    }
    const timingsMs: Record<string, number> = {};
    let best: KernelPipeline | undefined;
    let bestMs = Infinity;
    for (const k of kernels) {
      const ms = prepared.has(k) ? median(runs.get(k)!) : Number.NaN;
      timingsMs[k.name] = ms;
      if (ms < bestMs) {
        bestMs = ms;
        best = k;
      }
    }
    if (best === undefined) throw new Error('no candidate variant ran');
    return {
      key,
      variant: best.name,
      how: 'tuned',
      timingsMs,
      method: timer.method,
      tuneMs: performance.now() - started,
      ...(dropped.length === 0 ? {} : { note: `dropped: ${[...new Set(dropped)].join(', ')}` }),
    };
  } finally {
    timer.destroy();
    for (const ws of workspaces) ws.destroy();
    corpus.destroy();
  }
}

/**
 * Runs each prepared candidate once, reads its scores back and returns the candidates whose scores differ from
 * the baseline's by more than 2 % of max(1, |score|): loose enough for f16 arithmetic's bound (≈ 1.7 %), far
 * tighter than any real fault (an empty dispatch leaves the zeros written first; a miscompile, garbage). Without the baseline among
 * the candidates there is nothing to compare with, and nothing is dropped.
 */
async function checkAgainstBaseline(
  md: MaxsimDevice,
  prepared: ReadonlyMap<KernelPipeline, ReturnType<typeof prepareDispatch>>,
  workspaces: readonly MaxsimWorkspace[],
  kernels: readonly KernelPipeline[],
): Promise<KernelPipeline[]> {
  const { device } = md;
  const read = async (k: KernelPipeline): Promise<Float32Array> => {
    const p = prepared.get(k)!;
    const ws = workspaces[kernels.indexOf(k)]!;
    const buffer = device.createBuffer({
      label: `maxsim tuning check ${k.name}`,
      size: p.scoresBytes,
      usage: BUFFER_MAP_READ | BUFFER_COPY_DST,
    });
    try {
      await captureGpuErrors(md, `checking ${k.name}'s scores`, () => {
        const encoder = device.createCommandEncoder({ label: `maxsim tuning check ${k.name}` });
        // Zeros first, so a dispatch that writes nothing cannot pass on what an earlier one left.
        encoder.clearBuffer(ws.scores, 0, p.scoresBytes);
        const pass = encoder.beginComputePass({ label: `maxsim tuning check ${k.name}` });
        p.encode(pass, 1);
        pass.end();
        encoder.copyBufferToBuffer(ws.scores, 0, buffer, 0, p.scoresBytes);
        device.queue.submit([encoder.finish()]);
      });
      await buffer.mapAsync(MAP_MODE_READ);
      return new Float32Array(buffer.getMappedRange().slice(0));
    } finally {
      buffer.destroy();
    }
  };
  const baseline = [...prepared.keys()].find((k) => k.variant.kind === 'baseline');
  if (baseline === undefined) return [];
  const expected = await read(baseline);
  const out: KernelPipeline[] = [];
  for (const k of prepared.keys()) {
    if (k === baseline) continue;
    const got = await read(k);
    const bad = expected.some((e, i) => !(Math.abs(got[i]! - e) <= 0.02 * Math.max(1, Math.abs(e))));
    if (bad) out.push(k);
  }
  return out;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Times compute passes: timestamp queries where the device has them, else submit → onSubmittedWorkDone. */
interface PassTimer {
  readonly method: 'timestamp-query' | 'submit-done';
  /** Milliseconds of one pass running `prepared` `repeat` times. */
  time(prepared: ReturnType<typeof prepareDispatch>, repeat: number): Promise<number>;
  destroy(): void;
}

async function createPassTimer(md: MaxsimDevice): Promise<PassTimer> {
  const { device } = md;
  if (!md.features.timestampQuery) {
    return {
      method: 'submit-done',
      async time(prepared, repeat) {
        const t0 = performance.now();
        await await captureGpuErrors(md, 'timing a tuning pass', () => {
          const encoder = device.createCommandEncoder({ label: 'maxsim tuning' });
          const pass = encoder.beginComputePass({ label: 'maxsim tuning' });
          prepared.encode(pass, repeat);
          pass.end();
          device.queue.submit([encoder.finish()]);
          return device.queue.onSubmittedWorkDone();
        });
        return performance.now() - t0;
      },
      destroy() {},
    };
  }
  const { querySet, resolve, stamps } = await captureGpuErrors(md, 'creating the tuning timer', () => ({
    querySet: device.createQuerySet({ label: 'maxsim tuning', type: 'timestamp', count: 2 }),
    resolve: device.createBuffer({
      label: 'maxsim tuning resolve',
      size: 16,
      usage: BUFFER_QUERY_RESOLVE | BUFFER_COPY_SRC,
    }),
    stamps: device.createBuffer({ label: 'maxsim tuning stamps', size: 16, usage: BUFFER_MAP_READ | BUFFER_COPY_DST }),
  }));
  return {
    method: 'timestamp-query',
    async time(prepared, repeat) {
      await captureGpuErrors(md, 'timing a tuning pass', () => {
        const encoder = device.createCommandEncoder({ label: 'maxsim tuning' });
        const pass = encoder.beginComputePass({
          label: 'maxsim tuning',
          timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
        });
        prepared.encode(pass, repeat);
        pass.end();
        encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, stamps, 0, 16);
        device.queue.submit([encoder.finish()]);
      });
      await stamps.mapAsync(MAP_MODE_READ);
      const [begin, end] = new BigUint64Array(stamps.getMappedRange().slice(0));
      stamps.unmap();
      return Math.max(0, Number(end! - begin!) / 1e6);
    },
    destroy() {
      querySet.destroy();
      resolve.destroy();
      stamps.destroy();
    },
  };
}

/**
 * A synthetic resident corpus for tuning: documents of 256 tokens (24 for the short-document bucket), enough of
 * them for about `settings.flop` FLOPs with these queries, filled on the GPU by doubling copies of a 1 MiB random
 * block (so building 128 MiB costs the host 1 MiB).
 */
async function syntheticCorpus(
  md: MaxsimDevice,
  storage: Storage,
  dim: number,
  request: ChooseRequest,
): Promise<{ readonly gpu: GpuCorpus; destroy(): void }> {
  const { device } = md;
  const settings = request.settings;
  const tokens = request.meanTokens < 48 ? 24 : 256;
  const rowWords = paddedRowWords(storage, dim);
  const rowBytes = rowWords * 4;
  let rows = 0;
  for (const q of request.queries) rows += q.rows;
  const flopPerToken = 2 * Math.max(1, rows) * dim;
  const maxBytes = Math.min(
    settings.maxBytes ?? 128 << 20,
    md.limits.maxStorageBufferBindingSize,
    md.limits.maxBufferSize,
  );
  const byFlop = Math.ceil((settings.flop ?? 2e9) / flopPerToken / tokens);
  const docs = Math.max(1, Math.min(byFlop, Math.floor(maxBytes / (rowBytes * tokens))));
  const totalRows = docs * tokens;
  const size = Math.max(16, totalRows * rowBytes);
  // One block of whole rows, random values of a unit-norm scale.
  const blockRows = Math.max(1, Math.min(totalRows, Math.floor((1 << 20) / rowBytes)));
  const block = new Uint32Array(blockRows * rowWords);
  const random = seededRandom(0x5eed + dim);
  const scale = 1 / Math.sqrt(dim);
  const f = new Float32Array(block.buffer);
  for (let r = 0; r < blockRows; r++) {
    for (let k = 0; k < dim; k++) {
      const v = (random() * 2 - 1) * scale * 1.7;
      if (storage === 'f32') f[r * rowWords + k] = v;
      else block[r * rowWords + (k >> 1)]! |= float32ToFloat16Bits(v) << (16 * (k & 1));
    }
  }
  const relativeOffsets = new Uint32Array(docs + 1);
  for (let i = 0; i <= docs; i++) relativeOffsets[i] = i * tokens;
  const blockBytes = blockRows * rowBytes;
  const { docsBuffer, offsets } = await captureGpuErrors(md, 'building the tuning corpus', () => {
    const docsBuffer = device.createBuffer({
      label: 'maxsim tuning docs',
      size,
      usage: BUFFER_STORAGE | BUFFER_COPY_DST | BUFFER_COPY_SRC,
    });
    const offsets = device.createBuffer({
      label: 'maxsim tuning offsets',
      size: relativeOffsets.byteLength,
      usage: BUFFER_STORAGE | BUFFER_COPY_DST,
    });
    device.queue.writeBuffer(offsets, 0, relativeOffsets);
    // A copy's source and destination must differ: the block goes to its own buffer, then copies fill the rest.
    const source = device.createBuffer({
      label: 'maxsim tuning block',
      size: blockBytes,
      usage: BUFFER_COPY_SRC | BUFFER_COPY_DST,
    });
    device.queue.writeBuffer(source, 0, block);
    const encoder = device.createCommandEncoder({ label: 'maxsim tuning fill' });
    for (let at = 0; at < totalRows * rowBytes; at += blockBytes) {
      encoder.copyBufferToBuffer(source, 0, docsBuffer, at, Math.min(blockBytes, totalRows * rowBytes - at));
    }
    device.queue.submit([encoder.finish()]);
    source.destroy();
    return { docsBuffer, offsets };
  });
  const gpu: GpuCorpus = {
    count: docs,
    dim,
    storage,
    rowWords,
    chunks: [
      { firstDoc: 0, docCount: docs, firstRow: 0, rowCount: totalRows, docs: docsBuffer, offsets, relativeOffsets },
    ],
    emptyDocs: new Uint32Array(0),
    bytes: size,
    maxAbs: 1,
    meanTokens: tokens,
    groups: new Map(),
    bindGroups: new Map(),
  };
  return {
    gpu,
    destroy() {
      docsBuffer.destroy();
      offsets.destroy();
      for (const g of gpu.groups.values()) for (const x of g) x.buffer.destroy();
    },
  };
}
