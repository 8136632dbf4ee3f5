// `webgpu-maxsim search --corpus FILE`: the best documents of a safetensors corpus file for a query, without a
// store. The file is streamed into one resident corpus (uploaded once) and every document scored exactly; the
// query is embedded by the embedder that matches the file's model: the built-in hashing embedder for a
// `hash-embedder-dN` file, otherwise a /pooling server serving that model.
import { createReadStream, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { readCorpusFileStream, type CorpusFile } from '../core/corpus-file.js';
import { CorpusFileError } from '../core/errors.js';
import type { Scale } from '../core/reference.js';
import type { BackendChoice } from '../core/scorer.js';
import { parseSafetensorsHeader, readHeaderSize } from '../core/safetensors.js';
import { createScorer } from '../node.js';
import { cliProgress, count, describeBackend, UsageError } from './common.js';
import type { EmbedderValues } from './embed.js';
import { cliTextEmbedder } from './store-options.js';

/** What `search --corpus` needs from the parsed options. */
export interface CorpusSearchOptions {
  readonly path: string;
  readonly query: string;
  readonly topK: number;
  readonly backend: BackendChoice;
  readonly scale: Scale;
  readonly json: boolean;
  readonly quiet: boolean;
  /** The embedder options as parsed (`--local`, `--pooling-url`, `--model`, ...). */
  readonly values: EmbedderValues & { 'pooling-url'?: string | undefined };
  /** Names of the options given on the command line (not defaulted). */
  readonly given: ReadonlySet<string>;
}

/** A `hash-embedder-dN` model name: the built-in hashing embedder at width N. */
const HASH_MODEL = /^hash-embedder-d([1-9]\d*)$/;
/** Options that ask for a /pooling server explicitly. */
const SERVER_OPTIONS = ['pooling-url', 'base-url', 'host', 'port'] as const;

/** The model and width a corpus file's header declares, read before the file is loaded. */
interface FileHeader {
  /** `__metadata__.model`, unless absent or `unknown` (a writer that did not know it). */
  readonly model: string | undefined;
  /** `embeddings` shape[1], when the header has an `embeddings` tensor. */
  readonly dim: number | undefined;
}

/** Runs `search --corpus`; returns the exit code. */
export async function searchCorpus(options: CorpusSearchOptions): Promise<number> {
  const { path, query, values } = options;
  const size = (await checkCorpusPath(path)).size;
  const header = await readHeader(path);
  const { embedder, source, close } = corpusEmbedder(options, header);
  try {
    // The query first: a server that is down, or serves another model or width, fails before the file is loaded
    // and before a GPU device or worker threads are started.
    const [q] = await embedder.embed([query]);
    if (q === undefined) throw new UsageError(`the embedder (${source}) returned no matrix for the query`);
    if (header.dim !== undefined && q.dim !== header.dim) {
      throw mismatch(path, header, `${source} gave`, { model: embedder.model, dim: q.dim });
    }
    const scorer = await createScorer({ backend: options.backend, scale: options.scale });
    try {
      const progress = cliProgress({ noun: 'documents', quiet: options.quiet });
      let file: CorpusFile;
      let corpus: Awaited<ReturnType<typeof scorer.upload>>;
      const t0 = performance.now();
      let t1: number;
      try {
        file = await loadCorpus(path, size, progress);
        t1 = performance.now();
        corpus = await scorer.upload(file.documents, {
          onProgress: (p) => progress.update('uploading', p.done, p.total),
        });
      } catch (err) {
        if (err instanceof CorpusFileError) throw new UsageError(`--corpus ${path}: ${err.message}`);
        throw err;
      } finally {
        progress.finish();
      }
      const t2 = performance.now();
      try {
        const ranked = await scorer.rerank(q, corpus, { topK: options.topK });
        const results = ranked.map(({ index, score }) => ({
          id: file.ids?.[index] ?? String(index),
          score,
          text: file.texts?.[index] ?? '',
        }));
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ backend: scorer.backend, results })}\n`);
          return 0;
        }
        const rows = file.rowOffsets[file.documents.length] ?? 0;
        const width = Math.max(4, ...results.map((r) => Math.min(r.id.length, 32)));
        const lines = [
          `Query: ${JSON.stringify(query)}, embedded by ${source}`,
          `${path}: ${count(file.documents.length)} documents, ${count(rows)} token rows of dim ${file.dim} ` +
            `(${file.metadata.model ?? 'model not recorded'}, ${file.dtype}), read in ${((t1 - t0) / 1000).toFixed(2)} s, ` +
            `uploaded in ${((t2 - t1) / 1000).toFixed(2)} s; exact MaxSim (${options.scale})`,
          `Scored on ${describeBackend(scorer.info)}`,
          '',
          `${'rank'.padStart(4)}  ${'score'.padStart(9)}  ${'id'.padEnd(width)}  text`,
          ...results.map(
            (r, i) =>
              `${String(i + 1).padStart(4)}  ${r.score.toFixed(4).padStart(9)}  ${r.id.padEnd(width)}  ${preview(r.text)}`,
          ),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        return 0;
      } finally {
        corpus.destroy();
      }
    } finally {
      scorer.destroy();
    }
  } finally {
    await close();
  }

  function corpusEmbedder(o: CorpusSearchOptions, file: FileHeader): ReturnType<typeof cliTextEmbedder> {
    const given = o.given;
    const server = SERVER_OPTIONS.find((name) => given.has(name));
    const hashWidth = file.model === undefined ? undefined : HASH_MODEL.exec(file.model)?.[1];
    const stored = {
      model: file.model ?? '',
      dim: file.dim ?? (hashWidth === undefined ? undefined : Number(hashWidth)),
    };
    if (values.local === true || (hashWidth !== undefined && server === undefined)) {
      if (values.local === true && server !== undefined) {
        throw new UsageError(`--local and --${server} exclude each other: pick one embedder`);
      }
      // The built-in embedder at the file's width, named hash-embedder-dN unless --model says otherwise.
      const local = cliTextEmbedder({ ...values, local: true }, stored);
      if (file.model !== undefined && local.embedder.model !== file.model) {
        throw mismatch(path, file, '--local embeds with', { model: local.embedder.model, dim: undefined });
      }
      return local;
    }
    const model = values.model as string | undefined;
    if (model !== undefined && file.model !== undefined && model !== file.model) {
      throw mismatch(path, file, 'asked for', { model, dim: undefined });
    }
    // The query goes as float JSON unless --encoding says otherwise (one small request, shape included).
    return cliTextEmbedder(
      { ...values, encoding: given.has('encoding') ? values.encoding : 'float' },
      file.model === undefined ? undefined : stored,
    );
  }
}

/** `--corpus FILE` must be a readable regular file. */
async function checkCorpusPath(path: string): Promise<Stats> {
  let info: Stats;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new UsageError(
        `--corpus ${path}: no such file (relative paths start at ${process.cwd()}); write one with ` +
          '`webgpu-maxsim export` or writeCorpusFile',
      );
    }
    if (code === 'EACCES') throw new UsageError(`--corpus ${path}: permission denied; check the file's permissions`);
    throw err;
  }
  if (info.isDirectory()) {
    throw new UsageError(
      `--corpus ${path} is a directory: pass a .safetensors corpus file (a store's folder goes to --store)`,
    );
  }
  if (!info.isFile()) throw new UsageError(`--corpus ${path} is not a regular file: pass a .safetensors corpus file`);
  return info;
}

/** The file's model and width from its header alone (the whole file is checked when it is loaded). */
async function readHeader(path: string): Promise<FileHeader> {
  const handle = await open(path, 'r');
  try {
    const prefix = new Uint8Array(8);
    const { bytesRead } = await handle.read(prefix, 0, 8, 0);
    const size = readHeaderSize(prefix.subarray(0, bytesRead));
    const bytes = new Uint8Array(size);
    const got = await handle.read(bytes, 0, size, 8);
    if (got.bytesRead < size) {
      throw new CorpusFileError(
        'truncated',
        `the header size field says ${size} bytes but the file ends after ${got.bytesRead}: the file is truncated`,
      );
    }
    const layout = parseSafetensorsHeader(bytes);
    const model = layout.metadata.model;
    const dim = layout.byName.get('embeddings')?.shape[1];
    return { model: model === undefined || model === '' || model === 'unknown' ? undefined : model, dim };
  } catch (err) {
    if (err instanceof CorpusFileError) throw new UsageError(`--corpus ${path}: ${err.message}`);
    throw err;
  } finally {
    await handle.close();
  }
}

/** Streams the file into a CorpusFile (decoded as it is read), with progress in MiB. */
async function loadCorpus(path: string, size: number, progress: ReturnType<typeof cliProgress>): Promise<CorpusFile> {
  const mib = (bytes: number): number => Math.floor((bytes / 2 ** 20) * 10) / 10;
  let read = 0;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    progress.update('reading', 0, mib(size), 'MiB');
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      read += chunk.byteLength;
      progress.update('reading', mib(read), mib(size), 'MiB');
      yield chunk;
    }
  }
  return readCorpusFileStream(chunks());
}

/** The corpus file holds vectors of another model or width than the embedder gives. */
function mismatch(
  path: string,
  file: FileHeader,
  what: string,
  asked: { model: string | undefined; dim: number | undefined },
): UsageError {
  const show = (s: { model: string | undefined; dim: number | undefined }): string =>
    [s.model === undefined ? undefined : `model "${s.model}"`, s.dim === undefined ? undefined : `dim ${s.dim}`]
      .filter((x) => x !== undefined)
      .join(', ');
  const fix =
    file.model === undefined
      ? 'use the embedder the file was written with'
      : HASH_MODEL.test(file.model)
        ? 'drop the embedder options (the built-in hashing embedder matches it)'
        : `serve ${file.model} (--pooling-url URL, or --host/--port) and drop --local/--model`;
  return new UsageError(
    `the corpus file ${path} holds ${show(file) || 'vectors of an unrecorded model'}; ${what} ${show(asked)}. ` +
      `Vectors of different models (or widths) cannot be scored together: ${fix}, or re-embed the corpus.`,
  );
}

function preview(text: string, width = 64): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}
