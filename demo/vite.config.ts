// The demo is a plain Vite app. It imports the library only as `webgpu-maxsim`, the name users import; the
// alias points that name at the TypeScript sources, so `npm run demo` needs no `npm run build` first and edits
// to src/ reload the page. Vite transpiles src/ like the demo's own code (no type-checking: tsc does that).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { shippedCorpusPlugin } from './shipped-corpus.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  // The Search mode's corpus file, built from the docs at start-up (dev) or build time: ./corpus.safetensors.
  plugins: [shippedCorpusPlugin(here('..'))],
  resolve: {
    alias: [{ find: /^webgpu-maxsim$/, replacement: here('../src/index.ts') }],
  },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
  },
});
