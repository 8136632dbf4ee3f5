// What `index`, `search` and `serve --store` share: the embedder options (those of `embed`/`rerank`, plus
// --pooling-url as `serve` spells it), the embedder they build (defaulting to the store's model and width),
// and the docs-file reader.
import { readFile } from 'node:fs/promises';
import type { ParseArgsConfig } from 'node:util';
import { InvalidArgumentError } from '../core/errors.js';
import { createHashEmbedder } from '../embed/hash-embedder.js';
import { hashTextEmbedder, poolingTextEmbedder, type TextEmbedder } from '../embed/text-embedder.js';
import { openStore, type TextDocument } from '../store/store.js';
import { intOption } from './common.js';
import { EMBEDDER_OPTIONS, poolingClientFromCliOptions, type EmbedderValues } from './embed.js';

/** `embed`/`rerank`'s embedder options, with --model defaulting to the store's and --pooling-url as a name for --base-url. */
export const STORE_EMBEDDER_OPTIONS = {
  ...EMBEDDER_OPTIONS,
  model: { type: 'string' },
  'pooling-url': { type: 'string' },
  store: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** Help lines for the options {@link STORE_EMBEDDER_OPTIONS} adds or changes. */
export const STORE_EMBEDDER_HELP = `  --pooling-url URL      the /pooling server's base URL (same as --base-url)
  --model NAME           served model (default: the store's model; a new store: BAAI/bge-m3)
  --local                the built-in hashing embedder (lexical, not a neural model); --dim sets its width
                         (default: the store's; a new store: 128); its model name is hash-embedder-dDIM`;

/** The width a new store gets from --local when no --dim is given. */
export const DEFAULT_LOCAL_DIM = 128;

type StoreEmbedderValues = EmbedderValues & { 'pooling-url'?: string | undefined };

/** A TextEmbedder built from the CLI options, what it is (for messages) and how to release it. */
export interface CliTextEmbedder {
  readonly embedder: TextEmbedder;
  readonly source: string;
  close(): Promise<void>;
}

/**
 * The embedder the options describe. `stored` (an existing store's model and width) supplies the defaults, so
 * `search --store DIR --port 8000` asks for the model the store was indexed with.
 */
export function cliTextEmbedder(
  values: StoreEmbedderValues,
  stored: { model: string; dim: number | undefined } | undefined,
): CliTextEmbedder {
  const dim = values.dim === undefined ? undefined : intOption('--dim', values.dim as string, 1);
  if (values.local === true) {
    if (values['pooling-url'] !== undefined || values['base-url'] !== undefined) {
      throw new InvalidArgumentError('--local and --pooling-url/--base-url exclude each other: pick one embedder');
    }
    const width = dim ?? stored?.dim ?? DEFAULT_LOCAL_DIM;
    const hash = createHashEmbedder({ dim: width });
    const base = hashTextEmbedder(hash, (values.model as string | undefined) ?? `hash-embedder-d${width}`);
    const embedder: TextEmbedder =
      values['drop-leading-token'] === true
        ? {
            model: base.model,
            embed: async (texts, options) =>
              (await base.embed(texts, options)).map((m) => ({
                data: m.data.subarray(m.dim),
                rows: Math.max(0, m.rows - 1),
                dim: m.dim,
              })),
          }
        : base;
    return {
      embedder,
      source: `built-in hashing embedder (${embedder.model}; lexical, not a neural model)`,
      close: async () => undefined,
    };
  }
  if (values['pooling-url'] !== undefined && values['base-url'] !== undefined) {
    throw new InvalidArgumentError('--pooling-url and --base-url name the same thing: pass one');
  }
  const model = (values.model as string | undefined) ?? stored?.model ?? 'BAAI/bge-m3';
  const client = poolingClientFromCliOptions(
    {
      ...values,
      model,
      ...(values['pooling-url'] === undefined ? {} : { 'base-url': values['pooling-url'] }),
    },
    dim,
  );
  return {
    embedder: poolingTextEmbedder(client, model),
    source: `${model} at ${client.baseUrl}/pooling`,
    close: () => client.close(),
  };
}

/** The model and width of the store at `location`, or undefined when there is none yet. */
export async function storedLayout(location: string): Promise<{ model: string; dim: number | undefined } | undefined> {
  let store: Awaited<ReturnType<typeof openStore>>;
  try {
    store = await openStore(location);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'E_STORE_NOT_FOUND') return undefined;
    throw err;
  }
  const layout = { model: store.model, dim: store.dim };
  store.close();
  return layout;
}

/** `--store DIR`, required. */
export function storeOption(value: string | undefined): string {
  if (value === undefined || value.trim() === '') {
    throw new InvalidArgumentError('--store DIR is required: the folder (or s3:// gs:// az:// URI) of the store');
  }
  return value;
}

/**
 * Documents from a file: one per line (id: the text's SHA-256 prefix), or JSONL when the first non-empty line is
 * a JSON object (`text`, optional `id` (string or integer) and `metadata` (object); other fields are ignored).
 * Every line is checked before anything is embedded.
 */
export async function readStoreDocsFile(path: string): Promise<TextDocument[]> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`--docs-file ${path} cannot be read: ${(err as Error).message}`);
  }
  const lines = content.split(/\r?\n/);
  const first = lines.find((l) => l.trim() !== '');
  if (first === undefined) throw new InvalidArgumentError(`--docs-file ${path} has no documents`);
  if (!first.trimStart().startsWith('{')) {
    return lines.filter((l) => l.trim() !== '').map((text) => ({ text }));
  }
  const docs: TextDocument[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `--docs-file ${path} line ${i + 1}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (cause) {
      throw new InvalidArgumentError(`${where} is not JSON (${(cause as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new InvalidArgumentError(`${where} is not a JSON object`);
    }
    const { text, id, metadata } = parsed as { text?: unknown; id?: unknown; metadata?: unknown };
    if (typeof text !== 'string' || text.trim() === '') {
      throw new InvalidArgumentError(`${where} has no non-empty string "text" field`);
    }
    if (id !== undefined && !(typeof id === 'string' && id !== '') && !Number.isSafeInteger(id)) {
      throw new InvalidArgumentError(
        `${where}: "id" must be a non-empty string or an integer, got ${JSON.stringify(id)}`,
      );
    }
    if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))) {
      throw new InvalidArgumentError(`${where}: "metadata" must be a JSON object`);
    }
    docs.push({
      text,
      ...(id === undefined ? {} : { id: String(id) }),
      ...(metadata === undefined ? {} : { metadata: metadata as Record<string, unknown> }),
    });
  });
  return docs;
}
