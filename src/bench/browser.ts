// The browser backend of the benchmark: headless Chromium with --enable-unsafe-webgpu (SwiftShader on a machine
// without a GPU, the GPU elsewhere), a page served from 127.0.0.1 that imports this package's dist/ and runs
// bench-page.ts. Node-only; puppeteer-core is loaded only here, through node-chromium.ts.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PageCase, PageResult } from './page.js';
import { BenchmarkError } from './errors.js';
import { launchChromium, serveDirectory, type ChromiumSession, type StaticServer } from './chromium.js';

/** A running browser benchmark page. */
export interface BrowserBench {
  /** e.g. `HeadlessChrome/139.0.7258.154`. */
  readonly browserVersion: string;
  run(c: PageCase): Promise<PageResult>;
  close(): Promise<void>;
}

/**
 * Launches Chromium, serves the package root (so `/dist/bench/page.js` and everything it imports load as plain
 * ES modules) and opens one page that keeps its devices across cases.
 *
 * @example
 * const browser = await startBrowserBench();
 * const result = await browser.run({ workload: 'W0', docs: 100, seed: 1, precision: 'f32', settings });
 * await browser.close();
 */
export async function startBrowserBench(): Promise<BrowserBench> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  if (!existsSync(fileURLToPath(new URL('./page.js', import.meta.url)))) {
    throw new BenchmarkError(
      'E_BENCH_DEPENDENCY',
      'the browser benchmark serves the compiled dist/ to the page, and dist/bench/page.js is missing: run npm run build',
    );
  }
  let server: StaticServer | undefined;
  let chromium: ChromiumSession | undefined;
  try {
    server = await serveDirectory(root);
    // Developer features turn off Chromium's 100 µs rounding of timestamp queries (kernel-only times).
    chromium = await launchChromium({ webgpu: true, args: ['--enable-webgpu-developer-features'] });
    const page = await chromium.newPage();
    // Any document on the origin will do: http://127.0.0.1 is a secure context, so navigator.gpu exists.
    await page.goto(`${server.url}package.json`);
    const moduleUrl = `${server.url}dist/bench/page.js`;
    const browserVersion = await chromium.browser.version();
    const session = chromium;
    const served = server;
    return {
      browserVersion,
      run: async (c) => {
        try {
          return await page.evaluate(
            async (url: string, pageCase: PageCase) => {
              const mod = (await import(url)) as typeof import('./page.js');
              return mod.runPageCase(pageCase);
            },
            moduleUrl,
            c,
          );
        } catch (err) {
          const problems = session.problems.splice(0).join('; ');
          throw new BenchmarkError(
            'E_BENCH_SUBPROCESS',
            `the browser page failed: ${err instanceof Error ? err.message : String(err)}${problems === '' ? '' : ` (${problems})`}`,
            { cause: err },
          );
        }
      },
      close: async () => {
        try {
          await page.evaluate(async (url: string) => {
            const mod = (await import(url)) as typeof import('./page.js');
            mod.closePage();
          }, moduleUrl);
        } finally {
          await session.close();
          await served.close();
        }
      },
    };
  } catch (err) {
    await chromium?.close();
    await server?.close();
    throw err;
  }
}
