// The GPU case page for the browser tier of the kernel tests (test/browser/gpu-cases.test.ts): a one-page Vite
// app, kept out of the demo so the demo site never ships test equipment. It imports the library as
// `webgpu-maxsim`, aliased to the TypeScript sources like the demo does.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  resolve: {
    alias: [{ find: /^webgpu-maxsim$/, replacement: here('../../../src/index.ts') }],
  },
  build: { outDir: here('dist'), emptyOutDir: true, target: 'es2022' },
});
