// Runs in Deno against the built universal core (dist/index.js): no Node APIs, web-standard Request/Response.
// Prints one JSON line the vitest file checks.
import { createHashEmbedder, createRerankHandler, createScorer, hashTextEmbedder } from '../../dist/index.js';

const scorer = await createScorer({ backend: 'cpu' });
const handler = createRerankHandler({ scorer, embedder: hashTextEmbedder(createHashEmbedder({ dim: 32 })) });
const response = await handler(
  new Request('http://edge.local/v1/rerank', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'capital of France',
      documents: ['Berlin is the capital of Germany.', 'Paris is the capital of France.', 'Bananas are yellow.'],
    }),
  }),
);
const body = await response.json();
scorer.destroy();
console.log(
  JSON.stringify({
    runtime: `deno ${Deno.version.deno}`,
    status: response.status,
    backend: scorer.backend,
    kernel: scorer.info.kernel ?? null,
    results: body.results,
  }),
);
