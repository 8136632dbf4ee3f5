// Loads LanceDB and Apache Arrow on first use. Both are optional peer dependencies (the native LanceDB binary
// is ~155 MB): scoring, the /pooling client, the browser build and the rerank service never load them, and
// a store without them fails with one StoreUnavailableError that says what to install.
//
// Both are loaded with require() from this ES module on purpose: apache-arrow ships CommonJS and ESM builds,
// and @lancedb/lancedb (CommonJS) checks `data instanceof arrow.Table` against the CommonJS build. Arrow
// objects built from the ESM build are refused ("Table and inner RecordBatch schemas must be equivalent").
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Arrow from 'apache-arrow';
import type * as LanceDb from '@lancedb/lancedb';
import { StoreUnavailableError } from './errors.js';
import { ARROW_VERSION, LANCEDB_VERSION } from './layout.js';

const INSTALL = `npm install -E @lancedb/lancedb@${LANCEDB_VERSION} apache-arrow@${ARROW_VERSION}`;

export interface LanceModules {
  readonly lancedb: typeof LanceDb;
  readonly arrow: typeof Arrow;
}

let loaded: LanceModules | undefined;

/** `@lancedb/lancedb` and the CommonJS `apache-arrow`, or a StoreUnavailableError naming the install command. */
export function loadLance(): LanceModules {
  loaded ??= loadLanceWith(createRequire(import.meta.url));
  return loaded;
}

/** {@link loadLance} through a given `require` (tests pass one that fails). */
export function loadLanceWith(require: { (name: string): unknown; resolve(name: string): string }): LanceModules {
  const load = <T>(name: string): T => {
    try {
      return require(name) as T;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why =
        code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
          ? `${name} is not installed`
          : `${name} failed to load (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
      throw new StoreUnavailableError(
        `The document store needs LanceDB, an optional peer dependency: ${why}. Install it with \`${INSTALL}\` ` +
          '(LanceDB ships a native binary for Linux, macOS and Windows on x64 and arm64).',
        { cause: err },
      );
    }
  };
  const arrow = load<typeof Arrow>('apache-arrow');
  // apache-arrow's exports map hides its package.json: read the one next to its main module.
  const arrowVersion = (
    JSON.parse(readFileSync(join(dirname(require.resolve('apache-arrow')), 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const [major = 0, minor = 0] = arrowVersion.split('.').map(Number);
  if (major < 15 || major > 18 || (major === 18 && minor > 1)) {
    throw new StoreUnavailableError(
      `apache-arrow ${arrowVersion} is installed, but @lancedb/lancedb ${LANCEDB_VERSION} needs >=15.0.0 <=18.1.0. ` +
        `Install it with \`${INSTALL}\`.`,
    );
  }
  return { lancedb: load<typeof LanceDb>('@lancedb/lancedb'), arrow };
}
