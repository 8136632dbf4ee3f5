// One MaxSim dispatch over every chunk of a resident corpus, for any kernel variant, and the per-scorer buffers it
// reuses across calls (queries, offsets, params, scores, a small pool of readback buffers): in steady state a
// score() call creates no buffer and no bind group, it writes into buffers that already exist.
import { GpuLimitError } from './errors.js';
import { writeInt8Rows } from '../core/int8.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import { corpusGroups, type GpuCorpus } from './corpus.js';
import {
  BUFFER_COPY_DST,
  BUFFER_COPY_SRC,
  BUFFER_MAP_READ,
  BUFFER_STORAGE,
  BUFFER_UNIFORM,
  type MaxsimDevice,
} from './device.js';
import type { KernelPipeline } from './pipelines.js';
import { queriesPerGroup } from './variants.js';

/**
 * The split of `total` workgroups into an (x, y) grid with at most `maxPerDimension` along each; the kernels
 * rebuild the linear index as `y * x_count + x` and return early for the surplus of the last row.
 *
 * @example
 * dispatchGrid(100_000, 65_535); // { x: 65535, y: 2 }
 */
export function dispatchGrid(total: number, maxPerDimension: number): { x: number; y: number } {
  if (total <= 0) return { x: 0, y: 0 };
  const x = Math.min(total, maxPerDimension);
  const y = Math.ceil(total / x);
  if (y > maxPerDimension) {
    throw new GpuLimitError(
      `${total} workgroups do not fit a ${maxPerDimension} × ${maxPerDimension} dispatch grid; score fewer ` +
        'queries per call or split the corpus.',
    );
  }
  return { x, y };
}

let nextWorkspaceId = 1;

/** Rounds a byte size up for growth: to a multiple of 256, and at least double the old size when growing. */
function grownSize(needed: number, old: number): number {
  return Math.ceil(Math.max(needed, old === 0 ? 0 : 2 * old, 16) / 256) * 256;
}

/**
 * Buffers a scorer reuses across score() calls: queries, query offsets, params and scores grow when a call needs
 * more (then `generation` changes and bind groups are rebuilt once), and MAP_READ readback buffers come from a
 * pool of at most {@link READBACK_POOL} free ones. Calls that overlap share the input buffers safely: every write
 * and dispatch goes through the one device queue in order, and each call reads back through its own buffer.
 */
export class MaxsimWorkspace {
  readonly id = nextWorkspaceId++;
  generation = 0;
  #queries: GPUBuffer | undefined;
  #queryOffsets: GPUBuffer | undefined;
  #params: GPUBuffer | undefined;
  #scores: GPUBuffer | undefined;
  #queryScales: GPUBuffer | undefined;
  readonly #free: GPUBuffer[] = [];
  #destroyed = false;
  // Host scratch, reused: writeBuffer copies at call time.
  #queryData: Float32Array<ArrayBuffer> = new Float32Array(0);
  #offsetData: Uint32Array<ArrayBuffer> = new Uint32Array(0);
  #paramData: Uint32Array<ArrayBuffer> = new Uint32Array(0);
  #scaleData: Float32Array<ArrayBuffer> = new Float32Array(0);

  constructor(
    private readonly md: MaxsimDevice,
    private readonly label: string,
  ) {}

  get queries(): GPUBuffer {
    return this.#queries!;
  }
  get queryOffsets(): GPUBuffer {
    return this.#queryOffsets!;
  }
  get params(): GPUBuffer {
    return this.#params!;
  }
  get scores(): GPUBuffer {
    return this.#scores!;
  }
  /** int8 kernels: one f32 scale per query row (created on the first int8 call). */
  get queryScales(): GPUBuffer {
    return this.#queryScales!;
  }

  /** Makes every buffer at least as large as asked (creating buffers only when one must grow). */
  ensure(queryBytes: number, offsetBytes: number, paramBytes: number, scoresBytes: number, scaleBytes = 0): void {
    const { device } = this.md;
    const grow = (
      current: GPUBuffer | undefined,
      needed: number,
      usage: number,
      what: string,
    ): GPUBuffer | undefined => {
      if (current !== undefined && current.size >= needed) return undefined;
      const size = grownSize(needed, current?.size ?? 0);
      current?.destroy();
      this.generation++;
      return device.createBuffer({ label: `${this.label} ${what}`, size, usage });
    };
    this.#queries = grow(this.#queries, queryBytes, BUFFER_STORAGE | BUFFER_COPY_DST, 'queries') ?? this.#queries;
    this.#queryOffsets =
      grow(this.#queryOffsets, offsetBytes, BUFFER_STORAGE | BUFFER_COPY_DST, 'query offsets') ?? this.#queryOffsets;
    this.#params = grow(this.#params, paramBytes, BUFFER_UNIFORM | BUFFER_COPY_DST, 'params') ?? this.#params;
    this.#scores =
      grow(this.#scores, scoresBytes, BUFFER_STORAGE | BUFFER_COPY_SRC | BUFFER_COPY_DST, 'scores') ?? this.#scores;
    if (scaleBytes > 0) {
      this.#queryScales =
        grow(this.#queryScales, scaleBytes, BUFFER_STORAGE | BUFFER_COPY_DST, 'query scales') ?? this.#queryScales;
    }
  }

  /** Host scratch of at least `n` floats / words (grown, never shrunk). */
  queryScratch(n: number): Float32Array<ArrayBuffer> {
    if (this.#queryData.length < n) this.#queryData = new Float32Array(Math.max(n, 2 * this.#queryData.length));
    return this.#queryData;
  }
  offsetScratch(n: number): Uint32Array<ArrayBuffer> {
    if (this.#offsetData.length < n) this.#offsetData = new Uint32Array(Math.max(n, 2 * this.#offsetData.length));
    return this.#offsetData;
  }
  scaleScratch(n: number): Float32Array<ArrayBuffer> {
    if (this.#scaleData.length < n) this.#scaleData = new Float32Array(Math.max(n, 2 * this.#scaleData.length));
    return this.#scaleData;
  }
  paramScratch(n: number): Uint32Array<ArrayBuffer> {
    if (this.#paramData.length < n) this.#paramData = new Uint32Array(Math.max(n, 2 * this.#paramData.length));
    return this.#paramData;
  }

  /** A MAP_READ buffer of at least `bytes`: a free one from the pool, else a new one. Call in an error scope. */
  acquireReadback(bytes: number): GPUBuffer {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const b = this.#free[i]!;
      if (b.size >= bytes && (best < 0 || b.size < this.#free[best]!.size)) best = i;
    }
    if (best >= 0) return this.#free.splice(best, 1)[0]!;
    // None fits: replace the smallest free one (if any) with a larger buffer.
    if (this.#free.length > 0) {
      this.#free.sort((a, b) => a.size - b.size);
      this.#free.shift()!.destroy();
    }
    return this.md.device.createBuffer({
      label: `${this.label} readback`,
      size: grownSize(bytes, 0),
      usage: BUFFER_MAP_READ | BUFFER_COPY_DST,
    });
  }

  /** Returns an unmapped readback buffer to the pool (or destroys it if the pool is full or the workspace gone). */
  releaseReadback(buffer: GPUBuffer): void {
    if (this.#destroyed || this.#free.length >= READBACK_POOL) buffer.destroy();
    else this.#free.push(buffer);
  }

  destroy(): void {
    this.#destroyed = true;
    const all = [this.#queries, this.#queryOffsets, this.#params, this.#scores, this.#queryScales, ...this.#free];
    for (const b of all) b?.destroy();
    this.#free.length = 0;
    this.#queries = this.#queryOffsets = this.#params = this.#scores = this.#queryScales = undefined;
  }
}

/** Free readback buffers a workspace keeps (more concurrent calls than this create and drop extras). */
export const READBACK_POOL = 3;

/** A dispatch written into a workspace, ready to encode. */
export interface PreparedDispatch {
  readonly kernel: KernelPipeline;
  /** `queries × corpus.count` raw scores, query-major, in `workspace.scores`. */
  readonly scoresBytes: number;
  readonly grids: readonly { readonly x: number; readonly y: number }[];
  /** Records the dispatches (every chunk) into a compute pass; `repeat` runs them that many times (timing). */
  encode(pass: GPUComputePassEncoder, repeat?: number): void;
}

/**
 * The int8 kernels' queries: each row quantized to int8 with its own scale (max|row| / 127, the documents' rule,
 * src/core/int8.ts) and packed like the documents (`rowWords` u32 words per row, 4 values per word, zero padding),
 * rows back to back, in the workspace's query scratch (its bytes, viewed as words); the scales one per row. Returns
 * the words to write (`count`) and the scales (`rows`, at least 4: the buffer's minimum).
 */
function packInt8Queries(
  ws: MaxsimWorkspace,
  queries: readonly TokenMatrix[],
  offsets: Uint32Array,
  dim: number,
  rowWords: number,
): { count: number; scales: Float32Array<ArrayBuffer>; rows: number } {
  const rows = offsets[queries.length]!;
  const count = Math.max(4, rows * rowWords);
  // The f32 scratch's bytes, reused as words (it is sized in 4-byte elements either way).
  const words = new Uint32Array(ws.queryScratch(count).buffer, 0, count);
  words.fill(0);
  const scales = ws.scaleScratch(Math.max(4, rows));
  const values = new Int8Array(words.buffer, 0, count * 4);
  queries.forEach((q, i) => {
    writeInt8Rows(q.data.subarray(0, q.rows * dim), dim, offsets[i]!, values, rowWords * 4, scales);
  });
  return { count, scales, rows: Math.max(4, rows) };
}

/**
 * Writes `queries` (back to back; int8 kernels: quantized, see packInt8Queries), their row offsets and one
 * `Params` block per chunk (at the device's uniform offset alignment) into the workspace, and returns the dispatch of `kernel` over every chunk of `corpus`. Creates
 * buffers or bind groups only when the workspace grows or the corpus meets this kernel for the first time; call
 * it inside an error scope. Shared by scoring, tuning and the kernel-only benchmark, so all three run exactly
 * the same dispatch.
 */
export function prepareDispatch(
  md: MaxsimDevice,
  ws: MaxsimWorkspace,
  kernel: KernelPipeline,
  corpus: GpuCorpus,
  queries: readonly TokenMatrix[],
  maxPerDimension: number,
): PreparedDispatch {
  const { device } = md;
  const n = corpus.count;
  const dim = corpus.dim;
  const nq = queries.length;
  const offsets = ws.offsetScratch(nq + 1);
  offsets[0] = 0;
  for (let i = 0; i < nq; i++) offsets[i + 1] = offsets[i]! + queries[i]!.rows;
  const int8 = kernel.storage === 'int8' ? packInt8Queries(ws, queries, offsets, dim, corpus.rowWords) : undefined;
  const queryFloats = int8?.count ?? Math.max(4, offsets[nq]! * dim);
  const queryData = ws.queryScratch(queryFloats);
  if (int8 === undefined) {
    for (let i = 0; i < nq; i++) queryData.set(queries[i]!.data.subarray(0, queries[i]!.rows * dim), offsets[i]! * dim);
  }
  const align = md.limits.minUniformBufferOffsetAlignment;
  const stride = Math.ceil(kernel.paramsBytes / align) * align;
  const paramWords = (Math.max(1, corpus.chunks.length) * stride) / 4;
  const params = ws.paramScratch(paramWords);
  const scoresBytes = Math.max(4, nq * n * 4);
  ws.ensure(queryFloats * 4, Math.max(16, (nq + 1) * 4), paramWords * 4, scoresBytes, (int8?.rows ?? 0) * 4);

  const tiled = kernel.tiled;
  const groups = tiled === undefined ? undefined : corpusGroups(md, corpus, tiled.TT, tiled.MAXD);
  const G = tiled === undefined ? 1 : queriesPerGroup(offsets.subarray(0, nq + 1), tiled.QT);
  const qgroups = Math.ceil(nq / G);
  const cap = kernel.variant.kind === 'tiled' ? kernel.variant.workgroups : undefined;
  const grids = corpus.chunks.map((chunk, c) => {
    const base = (c * stride) / 4;
    if (groups === undefined) {
      const grid = dispatchGrid(chunk.docCount * nq, maxPerDimension);
      params.set([dim, chunk.docCount, nq, grid.x, chunk.firstDoc, n, corpus.rowWords, 0], base);
      return grid;
    }
    const groupCount = groups[c]!.count;
    const lanes = Math.max(1, Math.min(groupCount, cap === undefined ? groupCount : Math.ceil(cap / qgroups)));
    const wgCount = qgroups * lanes;
    const grid = dispatchGrid(wgCount, maxPerDimension);
    params.set(
      [dim, chunk.docCount, nq, grid.x, chunk.firstDoc, n, corpus.rowWords, groupCount, G, qgroups, wgCount, 0],
      base,
    );
    return grid;
  });
  // int8: the same bytes, written as the packed words they hold.
  device.queue.writeBuffer(ws.queries, 0, queryData, 0, queryFloats);
  if (int8 !== undefined) device.queue.writeBuffer(ws.queryScales, 0, int8.scales, 0, int8.rows);
  device.queue.writeBuffer(ws.queryOffsets, 0, offsets, 0, nq + 1);
  device.queue.writeBuffer(ws.params, 0, params, 0, paramWords);

  const cacheKey = `${kernel.key}|${ws.id}`;
  let cached = corpus.bindGroups.get(cacheKey);
  if (cached === undefined || cached.generation !== ws.generation) {
    const layout = kernel.pipeline.getBindGroupLayout(0);
    const bindGroups = corpus.chunks.map((chunk, c) => {
      const entries: GPUBindGroupEntry[] = [
        { binding: 0, resource: { buffer: ws.params, offset: c * stride, size: kernel.paramsBytes } },
        { binding: 1, resource: { buffer: chunk.docs } },
        { binding: 2, resource: { buffer: chunk.offsets } },
        { binding: 3, resource: { buffer: ws.queries } },
        { binding: 4, resource: { buffer: ws.queryOffsets } },
        { binding: 5, resource: { buffer: ws.scores } },
      ];
      if (groups !== undefined) entries.push({ binding: 6, resource: { buffer: groups[c]!.buffer } });
      if (kernel.storage === 'int8') {
        entries.push({ binding: 7, resource: { buffer: chunk.scales! } });
        entries.push({ binding: 8, resource: { buffer: ws.queryScales } });
      }
      return device.createBindGroup({ label: `maxsim ${kernel.name} chunk ${c}`, layout, entries });
    });
    cached = { generation: ws.generation, groups: bindGroups };
    // One entry per (kernel, workspace): a stale generation is replaced, never accumulated.
    corpus.bindGroups.set(cacheKey, cached);
  }
  const bindGroups = cached.groups;
  return {
    kernel,
    scoresBytes,
    grids,
    encode(pass, repeat = 1) {
      pass.setPipeline(kernel.pipeline);
      for (let r = 0; r < repeat; r++) {
        bindGroups.forEach((group, c) => {
          const grid = grids[c]!;
          if (grid.x === 0) return;
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(grid.x, grid.y);
        });
      }
    },
  };
}
