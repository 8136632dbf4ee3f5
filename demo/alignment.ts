// The token-level picture of one MaxSim score: a heatmap of query tokens × document tokens (cosine
// similarity for unit rows), each query token's best document token ringed, and that token and similarity
// listed at the end of the row. The row maxima are exactly the terms the score adds up.
import type { TokenMatrix } from 'webgpu-maxsim';

/** What {@link renderAlignment} draws. */
export interface AlignmentInput {
  readonly query: TokenMatrix;
  readonly doc: TokenMatrix;
  /** One label per query row / document row. */
  readonly queryTokens: readonly string[];
  readonly docTokens: readonly string[];
  /** Heading, e.g. the document's position and text. */
  readonly title: string;
  /** The score the backend reported, shown beside the sum recomputed here. */
  readonly score: number;
  readonly scale: 'sum' | 'mean';
}

/** Row-major `[query.rows × doc.rows]` dot products, and each query row's best document row. */
export function similarityMatrix(query: TokenMatrix, doc: TokenMatrix): { sims: Float32Array; best: Int32Array } {
  const { dim } = query;
  const sims = new Float32Array(query.rows * doc.rows);
  const best = new Int32Array(query.rows).fill(-1);
  for (let i = 0; i < query.rows; i++) {
    let top = -Infinity;
    for (let j = 0; j < doc.rows; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += query.data[i * dim + k]! * doc.data[j * dim + k]!;
      sims[i * doc.rows + j] = s;
      // Ties go to the first document token, as the kernels' max does not care and a person reads left to right.
      if (s > top) {
        top = s;
        best[i] = j;
      }
    }
  }
  return { sims, best };
}

// viridis at 9 stops: perceptually even, readable for colour-blind people, and dark at the low end so
// unmatched cells recede into the panel.
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** Colour for t in [0, 1]. */
export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  const mix = (k: 0 | 1 | 2): number => Math.round(a[k] + (b[k] - a[k]) * f);
  return `rgb(${mix(0)} ${mix(1)} ${mix(2)})`;
}

const CELL_PX = 22;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className !== undefined) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Replaces the contents of `container` with the alignment of `input`: a header with the score, a colour
 * legend, the heatmap (rows `data-testid="alignment-row"`, cells `data-best` on each row's argmax) and the
 * document's tokens shaded by the best similarity any query token gave them.
 *
 * @example
 * renderAlignment(document.querySelector('#alignment')!, { query, doc, queryTokens, docTokens, title, score, scale: 'sum' });
 */
export function renderAlignment(container: HTMLElement, input: AlignmentInput): void {
  const { query, doc, queryTokens, docTokens } = input;
  const { sims, best } = similarityMatrix(query, doc);
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of sims) {
    if (s < lo) lo = s;
    if (s > hi) hi = s;
  }
  if (!(hi > lo)) {
    lo = Math.min(lo, 0);
    hi = lo + 1;
  }
  const t = (s: number): number => (s - lo) / (hi - lo);
  let sum = 0;
  for (let i = 0; i < query.rows; i++) if (best[i]! >= 0) sum += sims[i * doc.rows + best[i]!]!;
  const recomputed = input.scale === 'mean' && query.rows > 0 ? sum / query.rows : sum;

  const root = el('div', 'alignment-view');
  const head = el('div', 'alignment-head');
  const titles = el('div', 'alignment-titles');
  titles.append(el('h2', undefined, 'Token alignment'), el('p', 'alignment-doc', input.title));
  const legend = el('div', 'legend');
  const bar = el('span', 'legend-bar');
  bar.style.background = `linear-gradient(90deg, ${Array.from({ length: 9 }, (_, k) => viridis(k / 8)).join(', ')})`;
  legend.append(el('span', 'legend-value', lo.toFixed(2)), bar, el('span', 'legend-value', hi.toFixed(2)));
  const legendBox = el('div', 'legend-box');
  legendBox.append(
    el('span', 'legend-caption', 'similarity'),
    legend,
    el('span', 'legend-caption', '◻ best match per query token'),
  );
  head.append(titles, legendBox);
  root.append(head);

  if (query.rows === 0 || doc.rows === 0) {
    root.append(el('p', 'placeholder', doc.rows === 0 ? 'This document has no tokens.' : 'The query has no tokens.'));
    container.replaceChildren(root);
    return;
  }

  const scroller = el('div', 'heatmap-scroll');
  const grid = el('div', 'heatmap');
  grid.style.gridTemplateColumns = `max-content repeat(${doc.rows}, ${CELL_PX}px) max-content`;
  // Which document tokens some query token picked, to light up their column labels.
  const picked = new Set<number>(best);

  grid.append(el('div', 'corner', 'query ↓ · document →'));
  for (let j = 0; j < doc.rows; j++) {
    const label = el('div', picked.has(j) ? 'col-label picked' : 'col-label', docTokens[j] ?? `#${j}`);
    label.title = `document token ${j}: ${docTokens[j] ?? ''}`;
    grid.append(label);
  }
  grid.append(el('div', 'match-head', 'best match · similarity'));

  for (let i = 0; i < query.rows; i++) {
    const row = el('div', 'heatmap-row');
    row.setAttribute('data-testid', 'alignment-row');
    row.dataset.queryToken = queryTokens[i] ?? `#${i}`;
    const b = best[i]!;
    row.dataset.best = String(b);
    row.dataset.similarity = String(sims[i * doc.rows + b]);
    row.append(el('div', 'row-label', queryTokens[i] ?? `#${i}`));
    for (let j = 0; j < doc.rows; j++) {
      const s = sims[i * doc.rows + j]!;
      const cell = el('div', j === b ? 'cell best' : 'cell');
      cell.style.background = viridis(t(s));
      cell.title = `${queryTokens[i] ?? `#${i}`} × ${docTokens[j] ?? `#${j}`}: ${s.toFixed(3)}`;
      if (j === b) cell.dataset.best = 'true';
      row.append(cell);
    }
    const match = el('div', 'match');
    const value = sims[i * doc.rows + b]!;
    const meter = el('span', 'meter');
    const fill = el('span', 'meter-fill');
    fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
    fill.style.background = viridis(t(value));
    meter.append(fill);
    match.append(
      el('span', 'match-token', docTokens[b] ?? `#${b}`),
      meter,
      el('span', 'match-value', value.toFixed(3)),
    );
    row.append(match);
    grid.append(row);
  }
  scroller.append(grid);
  root.append(scroller);

  const total = el('p', 'alignment-total');
  total.append(
    `Σ of the ${query.rows} best similarities${input.scale === 'mean' ? ' ÷ query tokens' : ''} = `,
    el('strong', undefined, recomputed.toFixed(4)),
    ` · the backend scored ${input.score.toFixed(4)}`,
  );
  root.append(total);

  // The document as tokens, each shaded by the best similarity any query token gave it.
  const strip = el('div', 'token-strip');
  for (let j = 0; j < doc.rows; j++) {
    let top = -Infinity;
    for (let i = 0; i < query.rows; i++) top = Math.max(top, sims[i * doc.rows + j]!);
    const chip = el('span', picked.has(j) ? 'chip picked' : 'chip', docTokens[j] ?? `#${j}`);
    const shade = t(top);
    chip.style.background = viridis(shade);
    chip.style.color = shade > 0.55 ? '#0b1020' : '#e2e8f0';
    chip.title = `best similarity from the query: ${top.toFixed(3)}`;
    strip.append(chip);
  }
  root.append(strip);
  container.replaceChildren(root);
}
