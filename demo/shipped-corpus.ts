// The corpus the demo's Search mode ships with, built when Vite starts (`npm run demo`) or builds
// (`npm run demo:build`): this project's own documentation (README.md and docs/*.md, cut into paragraphs and list
// items) plus the sample corpora, embedded with the page's hashing embedder (d = 128) and written as an int8
// corpus file with ids and texts. Nothing is committed: the file is made from text already in the repository.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from 'vite';
import { writeCorpusFile } from '../src/core/corpus-file.js';
import { createHashEmbedder } from '../src/embed/hash-embedder.js';
import { DEMO_DOCUMENTS, SAMPLE_DOCUMENTS } from '../src/embed/sample-corpus.js';

/** Where the page fetches it from, relative to index.html. */
export const SHIPPED_CORPUS_FILE = 'corpus.safetensors';
/** The page embeds queries with `createHashEmbedder({ dim })`; the file's `model` says so. */
export const SHIPPED_CORPUS_DIM = 128;

/** A passage of the documentation: its id (file#heading-n) and its text, markdown stripped. */
export interface Passage {
  readonly id: string;
  readonly text: string;
}

const MIN_CHARS = 40;
const MAX_CHARS = 700;

const slug = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-|-$/g, '') || 'top';

/** Markdown inline syntax off: images dropped, links to their text, code, emphasis and HTML tags unwrapped. */
const plain = (text: string): string =>
  text
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\*\*([^*]+)\*\*/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/\s+/g, ' ')
    .trim();

/** Splits text longer than MAX_CHARS at sentence ends into pieces of at most about MAX_CHARS. */
function pieces(text: string): string[] {
  if (text.length <= MAX_CHARS) return [text];
  // Sentence ends: . ! ? followed by a space and a capital, digit or opening mark (not `device?, gpu?` in code).
  const sentences = text.split(/(?<=[.!?])\s+(?=[\p{Lu}\p{N}"“(])/u).map((t) => `${t} `);
  const out: string[] = [];
  let current = '';
  for (const s of sentences) {
    if (current !== '' && current.length + s.length > MAX_CHARS) {
      out.push(current.trim());
      current = '';
    }
    current += s;
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}

/**
 * Paragraphs and list items of a markdown file, without code blocks, tables and headings (headings name the
 * passages under them). Each passage keeps at least MIN_CHARS characters.
 */
export function markdownPassages(file: string, markdown: string): Passage[] {
  const passages: Passage[] = [];
  let heading = 'top';
  const counts = new Map<string, number>();
  const emit = (raw: string): void => {
    const text = plain(raw);
    if (text.length < MIN_CHARS) return;
    for (const piece of pieces(text)) {
      const n = (counts.get(heading) ?? 0) + 1;
      counts.set(heading, n);
      passages.push({ id: `${file}#${heading}-${n}`, text: piece });
    }
  };
  let block: string[] = [];
  const flush = (): void => {
    if (block.length === 0) return;
    const isList = /^\s*(?:[-*]|\d+\.)\s/.test(block[0]!);
    if (isList) {
      // One passage per item; indented lines continue the item above.
      let item = '';
      for (const line of block) {
        if (/^\s*(?:[-*]|\d+\.)\s/.test(line) && /^(?:[-*]|\d+\.)/.test(line.trimStart()) && !/^\s{2,}/.test(line)) {
          emit(item);
          item = line.replace(/^\s*(?:[-*]|\d+\.)\s+/, '');
        } else {
          item += ` ${line.trim().replace(/^(?:[-*]|\d+\.)\s+/, '')}`;
        }
      }
      emit(item);
    } else if (!block.every((line) => line.trimStart().startsWith('|'))) {
      emit(block.join(' '));
    }
    block = [];
  };
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.trimStart().startsWith('```')) {
      flush();
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    const h = /^#{1,6}\s+(.*)$/.exec(line);
    if (h !== null) {
      flush();
      heading = slug(plain(h[1]!));
      continue;
    }
    if (line.trim() === '') flush();
    else block.push(line);
  }
  flush();
  return passages;
}

/** Every passage of the shipped corpus, in file order, without duplicates. */
export function shippedPassages(root: string): Passage[] {
  const docs = join(root, 'docs');
  const files = [
    'README.md',
    ...readdirSync(docs)
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
  const all: Passage[] = [
    ...SAMPLE_DOCUMENTS.map((text, i) => ({ id: `sample-${i}`, text })),
    ...DEMO_DOCUMENTS.map((text, i) => ({ id: `demo-${i}`, text })),
    ...files.flatMap((f) => markdownPassages(f, readFileSync(join(root, f), 'utf8'))),
  ];
  const seen = new Set<string>();
  return all.filter((p) => !seen.has(p.text) && seen.add(p.text) !== undefined);
}

/** The shipped corpus file's bytes: int8, with ids and texts. */
export function buildShippedCorpus(root: string): Uint8Array {
  const passages = shippedPassages(root);
  const embedder = createHashEmbedder({ dim: SHIPPED_CORPUS_DIM });
  return writeCorpusFile(
    passages.map((p) => embedder.embedText(p.text)),
    {
      dtype: 'int8',
      model: `hash-embedder-d${SHIPPED_CORPUS_DIM}`,
      ids: passages.map((p) => p.id),
      texts: passages.map((p) => p.text),
      metadata: { source: 'webgpu-maxsim README.md, docs/*.md and sample corpora' },
    },
  );
}

/**
 * Serves the shipped corpus at ./corpus.safetensors under `vite` (dev) and emits it into the build, built once per
 * Vite process.
 */
export function shippedCorpusPlugin(root: string): Plugin {
  let bytes: Uint8Array | undefined;
  const corpus = (): Uint8Array => (bytes ??= buildShippedCorpus(root));
  return {
    name: 'webgpu-maxsim:shipped-corpus',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (req.url?.split('?')[0] !== `/${SHIPPED_CORPUS_FILE}`) return next();
        const body = corpus();
        res.setHeader('content-type', 'application/octet-stream');
        res.setHeader('content-length', String(body.byteLength));
        res.end(body);
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: SHIPPED_CORPUS_FILE, source: corpus() });
    },
  };
}
