import { maxsimPackedTs } from './cpu-kernel.js';
import type { PackedDocuments } from './packed-documents.js';
import type { ScoringEngine, ScorerInfo } from './scorer.js';
import type { TokenMatrix } from './token-matrix.js';

/**
 * The CPU backend's engine: documents stay packed in host memory; scoring runs the fused kernel.
 * Always available, in every runtime.
 */
export function createCpuEngine(): ScoringEngine<PackedDocuments> {
  const info: ScorerInfo = { backend: 'cpu', summary: 'cpu (typescript kernel, 1 thread)', kernel: 'typescript', threads: 1 };
  return {
    backend: 'cpu',
    info,
    upload: async (packed) => packed,
    score: async (queries: readonly TokenMatrix[], corpus: PackedDocuments) =>
      queries.map((query) => {
        const out = new Float32Array(corpus.count);
        maxsimPackedTs(query, corpus, out);
        return out;
      }),
    release: () => {
      // Host memory only: dropping the reference (done by the Corpus handle) is all there is to free.
    },
    destroy: () => {
      // Nothing beyond the corpora, which the scorer releases first.
    },
  };
}
