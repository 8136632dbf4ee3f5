// The corpus the page opens with: a few documents that share words with the query to different degrees, and a
// few that share none, so the ranking and the alignment view have something to show with the lexical embedder.
export const SAMPLE_QUERY = 'how does late interaction score token vectors on the GPU';

export const SAMPLE_DOCUMENTS: readonly string[] = [
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
