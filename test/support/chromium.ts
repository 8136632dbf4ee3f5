// Headless Chromium for tests: the launcher and static server live in src/bench/chromium.ts (the CLI's
// `bench --backend browser` ships them in dist/), re-exported here; the programmatic Vite build stays test-side.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export {
  QUIET_CHROMIUM_FLAGS,
  chromiumExecutable,
  launchChromium,
  serveDirectory,
  type ChromiumOptions,
  type ChromiumSession,
  type ServeOptions,
  type StaticServer,
} from '../../src/bench/chromium.js';

/**
 * Builds a Vite app (`configFile`, e.g. `demo/vite.config.ts`) into `outDir` (default: a fresh temporary
 * directory, so parallel runs never share output) and returns the directory, ready for {@link serveDirectory}.
 *
 * @example
 * const dir = await buildWithVite('demo/vite.config.ts');
 * const server = await serveDirectory(dir);
 */
export async function buildWithVite(configFile: string, outDir?: string): Promise<string> {
  const out = outDir ?? (await mkdtemp(join(tmpdir(), 'maxsim-vite-')));
  const { build } = await import('vite');
  await build({ configFile: resolve(configFile), logLevel: 'warn', build: { outDir: out, emptyOutDir: true } });
  return out;
}
