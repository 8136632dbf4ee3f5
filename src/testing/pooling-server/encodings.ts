// The /pooling answer in each encoding: float JSON and base64 in vLLM's envelope (written as text, so float32
// values print as Python would), and the `bytes` / `bytes_only` binary bodies streamed one prompt per write,
// with `bytes`' metadata header in Python's json.dumps format.
import type { ServerResponse } from 'node:http';
import type { ByteOrder, EmbedDtype, Endianness, PoolingEncoding } from '../../pooling/dtypes.js';
import { encodeEmbedDtype } from '../../pooling/encode.js';

/** The byte order the imitated server runs in (x86-64): what `endianness: "native"` means. */
const NATIVE_ORDER: ByteOrder = 'little';

/** One prompt's pooled output. */
export interface PooledOutput {
  values: Float32Array;
  /** `[rows, dim]` for token tasks, `[dim]` for embed. */
  shape: number[];
}

/** What a /pooling answer is made of. */
export interface PoolingAnswer {
  readonly id: string;
  readonly model: string;
  readonly encoding: PoolingEncoding;
  readonly embedDtype: EmbedDtype;
  readonly endianness: Endianness;
  readonly outputs: readonly PooledOutput[];
  readonly promptTokens: number;
  /** Item `object` and the key of its vectors: `pooling`/`data` (default) or `embedding`/`embedding` (/v1/embeddings). */
  readonly item?: { readonly object: string; readonly key: string };
}

/** Writes the answer in its encoding; binary bodies are chunked like vLLM's StreamingResponse. */
export async function writePoolingResponse(res: ServerResponse, answer: PoolingAnswer): Promise<void> {
  const { id, model, encoding, embedDtype, endianness, outputs, promptTokens } = answer;
  const item = answer.item ?? { object: 'pooling', key: 'data' };
  const created = Math.floor(Date.now() / 1000);
  const order: ByteOrder = endianness === 'native' ? NATIVE_ORDER : endianness;
  if (encoding === 'float' || encoding === 'base64') {
    const usage = {
      prompt_tokens: promptTokens,
      total_tokens: promptTokens,
      completion_tokens: 0,
      prompt_tokens_details: null,
    };
    const parts: string[] = [];
    outputs.forEach((out, index) => {
      const data =
        encoding === 'float'
          ? floatJson(out)
          : JSON.stringify(Buffer.from(encodeEmbedDtype(out.values, embedDtype, order)).toString('base64'));
      parts.push(`{"index":${index},"object":${JSON.stringify(item.object)},${JSON.stringify(item.key)}:${data}}`);
    });
    const head = JSON.stringify({ id, object: 'list', created, model });
    const text = `${head.slice(0, -1)},"data":[${parts.join(',')}],"usage":${JSON.stringify(usage)}}`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
    return;
  }

  const chunks = outputs.map((out) => encodeEmbedDtype(out.values, embedDtype, order));
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (encoding === 'bytes') {
    let start = 0;
    const items = outputs.map((out, index) => {
      const end = start + chunks[index]!.byteLength;
      const item = { index, embed_dtype: embedDtype, endianness, start, end, shape: out.shape };
      start = end;
      return item;
    });
    headers['metadata'] = pythonJsonDumps({
      id,
      created,
      model,
      data: items,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }
  // Like vLLM's StreamingResponse: one write per prompt, no Content-Length, so the body is chunked.
  res.writeHead(200, headers);
  for (const chunk of chunks) {
    if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
  }
  res.end();
}

/** Nested JSON rows, as `tensor.tolist()` prints them. */
function floatJson(out: PooledOutput): string {
  const { values, shape } = out;
  if (shape.length === 1) return JSON.stringify(Array.from(values));
  const cols = shape[1]!;
  const rows: string[] = [];
  for (let r = 0; r < shape[0]!; r++) rows.push(JSON.stringify(Array.from(values.subarray(r * cols, (r + 1) * cols))));
  return `[${rows.join(',')}]`;
}

/**
 * Python's `json.dumps` with default arguments: `", "` and `": "` separators and `ensure_ascii` escapes. This is
 * how vLLM writes the `metadata` header of `bytes` responses.
 */
function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number')
    return Number.isFinite(value) ? String(value) : value > 0 ? 'Infinity' : Number.isNaN(value) ? 'NaN' : '-Infinity';
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  return `{${Object.entries(value as object)
    .map(([k, v]) => `${pythonJsonDumps(k)}: ${pythonJsonDumps(v)}`)
    .join(', ')}}`;
}
