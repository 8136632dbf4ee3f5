// The built-in sample corpora, in one place: what `rerank --local` ranks when given nothing, and what the browser
// demo opens with. Both are written for the lexical hashing embedder: documents share words with the query to
// different degrees, and some share none.

/** `webgpu-maxsim rerank --local`'s sample: documents on unrelated topics, and a query that clearly matches a few. */
export const SAMPLE_QUERY = 'How do plants turn sunlight into energy?';
export const SAMPLE_DOCUMENTS: readonly string[] = [
  'The Eiffel Tower in Paris was completed in 1889 for the World Fair.',
  'Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen.',
  'A sourdough starter is a living culture of wild yeast and lactic acid bacteria.',
  'Solar panels turn sunlight into electricity with photovoltaic cells.',
  'The French Revolution began in 1789 with the storming of the Bastille.',
  'Jupiter is the largest planet in the solar system, a gas giant with a great red spot.',
  'Chlorophyll in the leaves of plants absorbs red and blue light and reflects green.',
  'Late-interaction retrievers such as ColBERT compare every query token with every document token.',
  'Regular exercise strengthens the heart and improves sleep.',
  'Mitochondria release energy from sugar in the cells of plants and animals.',
];

/**
 * The corpus the browser demo opens with: a few documents that share words with the query to different degrees, and a
 * few that share none, so the ranking and the alignment view have something to show with the lexical embedder.
 */
export const DEMO_QUERY = 'how does late interaction score token vectors on the GPU';

export const DEMO_DOCUMENTS: readonly string[] = [
  'ColBERT scores a document by late interaction: every query token finds its most similar document token, and the similarities are summed.',
  'WebGPU exposes compute shaders written in WGSL, so a browser can run matrix kernels on the GPU.',
  'The Eiffel Tower in Paris was completed in 1889 for the World Fair.',
  'MaxSim takes the maximum similarity over document tokens for each query token vector.',
  'BGE-M3 produces dense, sparse and multi-vector embeddings for more than 100 languages.',
  'A good espresso needs finely ground coffee, water at about 93 degrees and nine bars of pressure.',
  'Rerankers reorder the candidates a first-stage retriever returns, trading speed for precision.',
  'vLLM serves embedding models over HTTP; its /pooling endpoint returns one vector per token.',
  'Honeybees tell each other the direction of flowers with a waggle dance.',
  'On a CPU, WebAssembly SIMD kernels score token vectors four lanes at a time.',
  'The Great Barrier Reef is the largest coral reef system in the world.',
  'Late chunking and late interaction both delay pooling until the transformer has read the whole text.',
];
