export * from './errors.js';
export * from './token-matrix.js';
export * from './maxsim-reference.js';
export * from './packed-documents.js';
export * from './top-k.js';
export * from './scorer.js';
export * from './create-scorer.js';
export * from './hash-embedder.js';
