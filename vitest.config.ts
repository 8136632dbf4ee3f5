import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // GPU and browser test files each own a device or a browser; running them one file at a time keeps a
    // 2-core CI machine from oversubscribing the software Vulkan drivers.
    fileParallelism: false,
    reporters: ['default'],
  },
});
