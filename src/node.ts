// The Node entry: everything the universal core has, plus Node-only wiring (Dawn, undici, files).
export * from './index.js';
