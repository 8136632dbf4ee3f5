// The store on object storage without a network: s3rver (a fake S3 in Node) stands in for S3. Measures what the
// README's "Beyond one machine" reports: index into s3://, two `serve --store s3://...` processes answering
// /search alike and both seeing a later index, and whether two concurrent writers both land (s3rver has no
// conditional PUT, which Lance's S3 commits rely on; a local folder is run the same way for comparison).
//
//   npm run build && npm install --no-save s3rver@3.7.1 && node bench/store-s3rver.mjs
//
// s3rver is not a dependency of this package: install it for this script only.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createHashEmbedder, hashTextEmbedder } from '../dist/node.js';
import { openStore } from '../dist/store.js';

let S3rver;
try {
  S3rver = (await import('s3rver')).default;
} catch {
  console.error('bench/store-s3rver.mjs needs s3rver: npm install --no-save s3rver@3.7.1');
  process.exit(2);
}
const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'maxsim-s3rver-'));
const server = new S3rver({
  port: 0,
  address: '127.0.0.1',
  silent: true,
  directory: join(tmp, 's3'),
  configureBuckets: [{ name: 'bucket' }],
});
const { port } = await server.run();
const storageOptions = {
  endpoint: `http://127.0.0.1:${port}`,
  allow_http: 'true',
  aws_access_key_id: 'S3RVER',
  aws_secret_access_key: 'S3RVER',
  region: 'us-east-1',
};
// The CLI has no storage flags: LanceDB reads the same settings from the environment.
const env = {
  ...process.env,
  AWS_ENDPOINT: storageOptions.endpoint,
  AWS_ALLOW_HTTP: 'true',
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};

function serve(location) {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--store', location, '--local', '--port', '0', '--backend', 'cpu'],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const url = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.stderr.on('data', (c) => {
      out += c;
    });
    child.on('exit', () => reject(new Error(out)));
  });
  return { child, url };
}
async function search(url, query) {
  const res = await fetch(`${url}/search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, top_n: 1 }),
  });
  return (await res.json()).results.map((r) => r.document.text)[0];
}
async function index(location, lines) {
  const file = join(tmp, `docs-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return (
    await run(process.execPath, [CLI, 'index', '--store', location, '--docs-file', file, '--local'], { env })
  ).stdout.trim();
}

async function concurrentWriters(location, options) {
  const embedder = hashTextEmbedder(createHashEmbedder({ dim: 32 }));
  const a = await openStore(location, { create: true, embedder, ...options });
  await a.addTexts([{ id: 'seed', text: 'seed' }]);
  const b = await openStore(location, { embedder, ...options });
  let lost = 0;
  const rounds = 6;
  for (let i = 0; i < rounds; i++) {
    const done = await Promise.all([
      a.addTexts([{ id: `a${i}`, text: `from a ${i}` }]),
      b.addTexts([{ id: `b${i}`, text: `from b ${i}` }]),
    ]);
    if ((await a.count(`id IN ('a${i}', 'b${i}')`)) !== 2) {
      lost++;
      if (lost === 1)
        console.log(`  first loss: the writers reported versions ${done.map((d) => d.version).join(' and ')}`);
    }
  }
  a.close();
  b.close();
  return `${lost} of ${rounds} rounds lost a commit`;
}

const location = 's3://bucket/docs';
const a = serve.bind(null, location);
let servers = [];
try {
  console.log(`s3rver on port ${port}`);
  console.log(
    'index:',
    await index(location, ['Paris is the capital of France.', 'Berlin is the capital of Germany.']),
  );
  servers = [a(), a()];
  const urls = await Promise.all(servers.map((s) => s.url));
  console.log('two serve --store processes:', await Promise.all(urls.map((u) => search(u, 'capital of France'))));
  await index(location, ['Rome is the capital of Italy.']);
  console.log('after a later index, both answer:', await Promise.all(urls.map((u) => search(u, 'capital of Italy'))));
  console.log('two concurrent writers on s3rver:', await concurrentWriters('s3://bucket/writers', { storageOptions }));
  console.log('two concurrent writers on a local folder:', await concurrentWriters(join(tmp, 'local'), {}));
} finally {
  for (const s of servers) s.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
}
