// `serve --store DIR`: the store behind POST /search, composed in front of the /rerank handler (same API
// key, limits and deadline), kept apart from serve.ts so the rerank service's own options stay where they are.
import type { Scorer } from '../core/scorer.js';
import type { TextEmbedder } from '../embed/text-embedder.js';
import type { CorsOptions } from '../service/cors.js';
import type { RequestLimits } from '../service/requests.js';
import { createSearchHandler } from '../service/search-handler.js';
import { openStore } from '../store/store.js';
import { intOption } from './common.js';

/** The model and width of the store `serve --store` will search (a missing store is its one-line error). */
export async function storeLayoutForServe(location: string): Promise<{ model: string; dim: number | undefined }> {
  const store = await openStore(location);
  const layout = { model: store.model, dim: store.dim };
  store.close();
  return layout;
}

/** Opens the store for /search; the embedder must be the store's model (refused naming both otherwise). */
export async function openStoreForServe(
  location: string,
  options: { embedder: TextEmbedder; scorer: Scorer; memoryBudgetMb: string | undefined },
): Promise<{
  readonly summary: string;
  handler(
    next: (request: Request) => Promise<Response>,
    options: { apiKey: string | undefined; timeoutMs: number; limits: RequestLimits; cors: CorsOptions },
  ): (request: Request) => Promise<Response>;
  close(): void;
}> {
  const budget =
    options.memoryBudgetMb === undefined
      ? undefined
      : intOption('--memory-budget-mb', options.memoryBudgetMb, 0) * 2 ** 20;
  const store = await openStore(location, {
    embedder: options.embedder,
    scorer: options.scorer,
    ...(budget === undefined ? {} : { memoryBudgetBytes: budget }),
  });
  const count = await store.count();
  const resident = await store.warmUp();
  const how =
    resident === undefined
      ? 'searched through the pooled first stage (over the memory budget)'
      : `resident: ${(resident.bytes / 2 ** 20).toFixed(1)} MiB loaded in ` +
        `${((resident.readMs + resident.decodeMs + resident.uploadMs) / 1000).toFixed(2)} s, reloaded when the table changes`;
  return {
    summary: `${location}: ${count} documents, ${store.model}, dim ${store.dim}, ${store.precision}; ${how}`,
    handler: (next, { apiKey, timeoutMs, limits, cors }) =>
      createSearchHandler({
        searcher: store,
        apiKey,
        timeoutMs,
        limits,
        cors,
        next,
        onError: (err) =>
          process.stderr.write(`webgpu-maxsim serve: ${err instanceof Error ? err.message : String(err)}\n`),
      }),
    close: () => store.close(),
  };
}
