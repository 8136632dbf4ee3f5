// Headless Chromium for tests and benchmarks: Debian's chromium driven by puppeteer-core (the full `puppeteer`
// package downloads its own Chrome at install, which a closed network refuses) and a static file server on
// 127.0.0.1 (WebGPU needs a secure context, and http://127.0.0.1 is one; about:blank has no navigator.gpu).
// Node-side only, never exported from the package entries; pages talk back through `page.evaluate`. It lives in
// src/ because the `bench --backend browser` command ships in dist/; the browser tests use it through
// test/support/chromium.ts. puppeteer-core is a devDependency, so it is imported only when a browser starts.
//
// What gives an adapter here (checked with chromium 156 and puppeteer-core 24.43.1, no GPU):
//   no flag                   → navigator.gpu exists, requestAdapter() resolves null (the CPU-fallback case);
//   --enable-unsafe-webgpu    → SwiftShader (vendor 'google', architecture 'swiftshader', isFallbackAdapter true,
//                               no shader-f16, subgroups yes). --enable-features=Vulkan and
//                               --use-webgpu-adapter=swiftshader change nothing on a machine without a GPU, so
//                               they are not passed; on a machine with a GPU the flag alone lets Chromium pick it.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { BenchmarkError } from './errors.js';

/** Flags that keep Chromium from phoning home or stalling on a closed network (see design/environment.md). */
export const QUIET_CHROMIUM_FLAGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-default-apps',
  '--disable-extensions',
  '--mute-audio',
];

/** `CHROME_PATH` when set (Chrome installed elsewhere), else Debian's `/usr/bin/chromium`. */
export function chromiumExecutable(): string {
  const fromEnv = process.env.CHROME_PATH;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : '/usr/bin/chromium';
}

/** Options for {@link launchChromium}. */
export interface ChromiumOptions {
  /** Pass `--enable-unsafe-webgpu` (SwiftShader here, the real GPU elsewhere). Without it there is no adapter. */
  readonly webgpu: boolean;
  /** More flags, appended after the quiet ones. */
  readonly args?: readonly string[];
  /** Browser binary; default {@link chromiumExecutable}. */
  readonly executablePath?: string;
  /** Window size, which is also the default viewport. Default 1280 × 900. */
  readonly viewport?: { readonly width: number; readonly height: number; readonly deviceScaleFactor?: number };
  /** Pipe the browser's stdout/stderr to this process (for debugging launches). Default false. */
  readonly dumpio?: boolean;
}

/** A running browser with its own profile directory; `close()` ends both and is idempotent. */
export interface ChromiumSession {
  readonly browser: Browser;
  readonly executablePath: string;
  readonly args: readonly string[];
  /** A new tab, with page errors and console errors collected into {@link ChromiumSession.problems}. */
  newPage(): Promise<Page>;
  /** Uncaught page errors and `console.error` lines from every page opened with `newPage()`, in order. */
  readonly problems: string[];
  close(): Promise<void>;
}

/**
 * Launches headless Chromium with the quiet flags and a fresh `--user-data-dir` (removed on close), so runs
 * never share caches or GPU shader caches.
 *
 * @example
 * const chromium = await launchChromium({ webgpu: true });
 * const page = await chromium.newPage();
 * await page.goto(server.url + 'index.html');
 * const hasAdapter = await page.evaluate(async () => (await navigator.gpu.requestAdapter()) !== null);
 * await chromium.close();
 */
export async function launchChromium(options: ChromiumOptions): Promise<ChromiumSession> {
  const executablePath = options.executablePath ?? chromiumExecutable();
  try {
    await stat(executablePath);
  } catch (err) {
    throw new Error(
      `No browser at ${executablePath}: install Debian's chromium (apt-get install -y chromium) or set ` +
        'CHROME_PATH to a Chrome/Chromium binary.',
      { cause: err },
    );
  }
  const viewport = options.viewport ?? { width: 1280, height: 900 };
  const userDataDir = await mkdtemp(join(tmpdir(), 'maxsim-chromium-'));
  const args = [
    ...QUIET_CHROMIUM_FLAGS,
    `--user-data-dir=${userDataDir}`,
    `--window-size=${viewport.width},${viewport.height}`,
    ...(options.webgpu ? ['--enable-unsafe-webgpu'] : []),
    ...(options.args ?? []),
  ];
  let browser: Browser;
  try {
    const puppeteer = await loadPuppeteer();
    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      args,
      defaultViewport: {
        width: viewport.width,
        height: viewport.height,
        deviceScaleFactor: viewport.deviceScaleFactor ?? 1,
      },
      dumpio: options.dumpio ?? false,
      timeout: 60_000,
      protocolTimeout: 120_000,
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const problems: string[] = [];
  let closed = false;
  return {
    browser,
    executablePath,
    args,
    problems,
    newPage: async () => {
      const page = await browser.newPage();
      page.on('pageerror', (error) =>
        problems.push(`pageerror: ${error instanceof Error ? error.message : String(error)}`),
      );
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console.error: ${message.text()}`);
      });
      return page;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await browser.close();
      } finally {
        await rm(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

/** A static server from {@link serveDirectory}. */
export interface StaticServer {
  /** `http://127.0.0.1:PORT/`, with the trailing slash. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Options for {@link serveDirectory}. */
export interface ServeOptions {
  /**
   * Send COOP `same-origin` + COEP `require-corp`, making pages cross-origin isolated: SharedArrayBuffer, and
   * `performance.now()` at 5 µs instead of 100 µs (benchmarks want that). CORS fetches to other origins (a
   * /pooling server) still work. Default true.
   */
  readonly crossOriginIsolated?: boolean;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

/**
 * Serves the files under `root` on 127.0.0.1, port 0 (the OS picks a free one). `/` serves `index.html`;
 * paths that escape `root` get 404.
 *
 * @example
 * const server = await serveDirectory('demo/dist');
 * await page.goto(server.url);
 * await server.close();
 */
export async function serveDirectory(root: string, options: ServeOptions = {}): Promise<StaticServer> {
  const base = resolve(root);
  const isolate = options.crossOriginIsolated ?? true;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const file = resolve(base, `.${pathname.endsWith('/') ? `${pathname}index.html` : pathname}`);
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(404).end();
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      // Browsers ask for /favicon.ico on their own; a 404 there would show up as a console error in every page.
      if (pathname === '/favicon.ico') res.writeHead(204).end();
      else res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${pathname}`);
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
      ...(isolate
        ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
        : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', done);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * puppeteer-core, imported on first use: it is a devDependency (a source checkout has it; an installed package
 * need not), so a missing one becomes an error that says how to get it.
 */
async function loadPuppeteer(): Promise<{ launch: typeof import('puppeteer-core').launch }> {
  try {
    const { launch } = await import('puppeteer-core');
    return { launch };
  } catch (err) {
    throw new BenchmarkError(
      'E_BENCH_DEPENDENCY',
      'puppeteer-core is not installed, and driving headless Chromium needs it: run `npm i -D puppeteer-core` ' +
        '(or use a source checkout of webgpu-maxsim after `npm ci`), or leave the browser backend out.',
      { cause: err },
    );
  }
}
