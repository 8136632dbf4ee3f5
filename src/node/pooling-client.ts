// Node-only wiring for the /pooling client: an undici dispatcher with a larger header limit (vLLM's `bytes`
// encoding puts ~110 bytes of metadata per input into one response header, and Node's fetch stops at 16 KiB)
// and Node's native base64 decoder. The universal client in pooling-client.ts works without any of this.
import { Buffer } from 'node:buffer';
import { Agent, fetch as undiciFetch } from 'undici';
import { PoolingClient, type PoolingClientOptions } from '../pooling/client.js';
import { decodeBase64Portable } from '../pooling/decode.js';

/** Default response header limit of {@link createNodePoolingClient}: room for ~6,000 `bytes` metadata items. */
export const NODE_POOLING_MAX_HEADER_SIZE = 1 << 20;

/**
 * Base64 → bytes with Node's native decoder (several times faster than the portable one), made strict: Node
 * skips characters outside the alphabet, so a result shorter than the text implies means invalid input, and
 * the portable decoder then produces the precise error. (Node also accepts the URL-safe `-` and `_`.)
 *
 * @example
 * new PoolingClient({ decodeBase64: nodeBase64Decoder });
 */
export function nodeBase64Decoder(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 61) end--;
  if (end > 0 && text.charCodeAt(end - 1) === 61) end--;
  const expected = Math.floor((end * 3) / 4);
  if (bytes.byteLength !== expected || end % 4 === 1 || (end !== text.length && text.length % 4 !== 0)) {
    return decodeBase64Portable(text); // throws the descriptive error
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Options of {@link createNodePoolingClient}: the client's, plus the header limit. */
export interface NodePoolingClientOptions extends PoolingClientOptions {
  /** Largest response header block accepted, in bytes. Default {@link NODE_POOLING_MAX_HEADER_SIZE} (1 MiB). */
  readonly maxHeaderSize?: number;
}

/** A {@link PoolingClient} that owns an undici `Agent`; `close()` releases its sockets. */
export class NodePoolingClient extends PoolingClient {
  readonly #agent: Agent;

  constructor(options: NodePoolingClientOptions, agent: Agent) {
    super(options);
    this.#agent = agent;
  }

  /** Closes the client's connections (pending calls finish first). Idempotent. */
  async close(): Promise<void> {
    if (!this.#agent.closed) await this.#agent.close();
  }
}

/**
 * A {@link PoolingClient} for Node: undici `fetch` on an `Agent` whose `maxHeaderSize` fits large `bytes`
 * metadata headers (so `bytes` requests can carry up to 1024 inputs), and Node's native base64 decoder.
 *
 * @example
 * import { createNodePoolingClient } from 'webgpu-maxsim/node';
 * const client = createNodePoolingClient({ port: 8000, encoding: 'bytes', embedDtype: 'float16', batchSize: 512 });
 * const { matrices } = await client.embed(texts);
 * await client.close();
 */
export function createNodePoolingClient(options: NodePoolingClientOptions = {}): NodePoolingClient {
  const maxHeaderSize = options.maxHeaderSize ?? NODE_POOLING_MAX_HEADER_SIZE;
  const agent = new Agent({ maxHeaderSize });
  const dispatcherFetch = ((input: string, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher: agent } as Parameters<
      typeof undiciFetch
    >[1])) as unknown as typeof fetch;
  return new NodePoolingClient(
    { decodeBase64: nodeBase64Decoder, ...options, maxHeaderSize, fetch: options.fetch ?? dispatcherFetch },
    agent,
  );
}
