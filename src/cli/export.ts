// `webgpu-maxsim export`: a store's documents (ids, texts, token matrices) as a safetensors corpus file, for a
// browser, a Worker, `search --corpus` or Python. Streamed: the store is read a batch at a time into one set of
// token matrices and the file is encoded and written a chunk at a time, so the corpus is held once.
import type { Stats } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeCorpusFileChunks, type CorpusWriteDtype } from '../core/corpus-file.js';
import { MaxsimError } from '../core/errors.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import { openStore } from '../store/store.js';
import { cliProgress, count, parseCliArgs, UsageError, type CliCommand } from './common.js';
import { storeOption } from './store-options.js';

const HELP = `Usage: webgpu-maxsim export --store DIR --out FILE [options]

Writes every document of a store (id, text and token matrix; model and width in the metadata) as a safetensors
corpus file: what \`search --corpus\`, readCorpusFile / readCorpusFileStream (browsers, Workers, Node) and numpy
read (see the README, Corpus files). The store is read a batch at a time and the file written a chunk at a time
(the corpus is held in memory once), to a temporary file beside FILE that is renamed when complete: an
interrupted export never leaves a partial FILE. Progress goes to stderr. Per-document metadata is not exported.

Options:
  --store DIR            the store's folder (or an s3:// gs:// az:// URI; credentials from the environment)
  --out FILE             the corpus file to write (.safetensors)
  --dtype D              f16 | int8 | f32 (default: the store's precision, so the file holds exactly the
                         stored values). int8: per-row scales, |error| <= max|row| / 254, 0.26x the f32 size
                         at dim 128; f16: relative error <= 2^-11
  --force                replace FILE if it exists
  -q, --quiet            no progress on stderr
  -h, --help             show this help

Examples:
  webgpu-maxsim export --store ./docs.lance --out docs.safetensors
  webgpu-maxsim export --store ./docs.lance --out docs-int8.safetensors --dtype int8`;

const DTYPES: readonly CorpusWriteDtype[] = ['f16', 'int8', 'f32'];

export const command: CliCommand = {
  async run(args) {
    const { values, positionals } = parseCliArgs('export', {
      args,
      options: {
        store: { type: 'string' },
        out: { type: 'string' },
        dtype: { type: 'string' },
        force: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
    if (values.help === true) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}: name the file with --out FILE`);
    }
    const location = storeOption(values.store);
    const out = values.out;
    if (out === undefined || out.trim() === '') {
      throw new UsageError('--out FILE is required: the corpus file to write (e.g. --out docs.safetensors)');
    }
    const dtypeOption = values.dtype;
    if (dtypeOption !== undefined && !DTYPES.includes(dtypeOption as CorpusWriteDtype)) {
      throw new UsageError(`--dtype is ${JSON.stringify(dtypeOption)}, expected f16, int8 or f32`);
    }
    await checkOut(out, values.force === true);

    const store = await openStore(location);
    try {
      const dtype = (dtypeOption as CorpusWriteDtype | undefined) ?? store.precision;
      // Created before anything is read, so a path that cannot be written fails at once.
      const temp = join(dirname(out), `.${basename(out)}.${process.pid}.partial`);
      const handle = await openTemp(out, temp);
      let closed = false;
      let written = false;
      try {
        const progress = cliProgress({ noun: 'documents', quiet: values.quiet === true });
        const ids: string[] = [];
        const texts: string[] = [];
        const matrices: TokenMatrix[] = [];
        let rows = 0;
        let version: number;
        let byteLength: number;
        try {
          version = await store.version();
          const total = await store.count();
          progress.update('reading', 0, total);
          for await (const batch of store.documents()) {
            for (const d of batch) {
              ids.push(d.id);
              texts.push(d.text);
              matrices.push(d.matrix);
              rows += d.matrix.rows;
            }
            progress.update('reading', ids.length, Math.max(total, ids.length));
          }
          const chunks = writeCorpusFileChunks(matrices, {
            dtype,
            model: store.model,
            ids,
            texts,
            ...(store.dim === undefined ? {} : { dim: store.dim }),
            metadata: { source: 'webgpu-maxsim export', store_version: String(version) },
          });
          byteLength = chunks.byteLength;
          const mib = (bytes: number): number => Math.floor((bytes / 2 ** 20) * 10) / 10;
          let done = 0;
          progress.update('writing', 0, mib(byteLength), 'MiB');
          for (const chunk of chunks) {
            await writeAll(handle, chunk, out);
            done += chunk.byteLength;
            progress.update('writing', mib(done), mib(byteLength), 'MiB');
          }
        } finally {
          progress.finish();
        }
        await handle.sync();
        closed = true;
        await handle.close();
        await rename(temp, out);
        written = true;
        process.stdout.write(
          `${out}: ${count(ids.length)} documents, ${count(rows)} token rows of dim ${store.dim ?? '?'} ` +
            `(${store.model}) as ${dtype}, ${formatBytes(byteLength)}, from ${location} version ${version}\n`,
        );
        return 0;
      } finally {
        if (!written) {
          if (!closed) await handle.close();
          await rm(temp, { force: true });
        }
      }
    } finally {
      store.close();
    }
  },
};

/** Refuses an --out that is a directory, or that exists without --force, before the store is opened. */
async function checkOut(out: string, force: boolean): Promise<void> {
  let info: Stats | undefined;
  try {
    info = await stat(out);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOTDIR') throw new UsageError(`--out ${out}: a part of the path is not a directory`);
    if (code !== 'ENOENT') throw err;
  }
  if (info === undefined) return;
  if (info.isDirectory())
    throw new UsageError(`--out ${out} is a directory: pass a file path (e.g. ${join(out, 'corpus.safetensors')})`);
  if (!force) throw new UsageError(`--out ${out} already exists: pass --force to replace it, or another path`);
  if (!info.isFile()) throw new UsageError(`--out ${out} is not a regular file; pass a file path`);
}

/** Creates the temporary file beside --out; problems with the path are usage errors naming --out. */
async function openTemp(out: string, temp: string): Promise<FileHandle> {
  try {
    return await open(temp, 'wx');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const where = `--out ${out}: cannot write in ${dirname(out)}`;
    if (code === 'ENOENT') throw new UsageError(`${where}: no such directory (create it first)`);
    if (code === 'ENOTDIR') throw new UsageError(`${where}: a part of the path is not a directory`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new UsageError(`${where}: permission denied; pick a folder you can write to`);
    }
    throw err;
  }
}

/** Writes all of `bytes` (a disk that fills up is one line naming the file). */
async function writeAll(handle: FileHandle, bytes: Uint8Array, out: string): Promise<void> {
  try {
    for (let at = 0; at < bytes.byteLength; ) {
      const { bytesWritten } = await handle.write(bytes, at, bytes.byteLength - at);
      at += bytesWritten;
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new MaxsimError(
        'E_WRITE',
        `writing ${out} failed: the disk is full (${code}); free space or write elsewhere`,
      );
    }
    throw err;
  }
}

/** `7.8 KiB`, `263.9 MiB`, `1.2 GiB`. */
function formatBytes(bytes: number): string {
  if (bytes < 2 ** 20) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  if (bytes < 2 ** 30) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
