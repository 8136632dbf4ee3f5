// Seeded test data: every random case can be replayed from its seed.
import { normalizeRows, type TokenMatrix } from '../../src/index.js';
import { seededRandom } from '../../src/core/seeded-random.js';

export { seededRandom };

/** A `[rows, dim]` matrix of uniform values in [-1, 1), L2-normalised per row unless `normalize` is false. */
export function randomMatrix(rand: () => number, rows: number, dim: number, normalize = true): TokenMatrix {
  const data = new Float32Array(rows * dim);
  for (let i = 0; i < data.length; i++) data[i] = rand() * 2 - 1;
  const m = { data, rows, dim };
  return normalize ? normalizeRows(m, m) : m;
}

/** `count` documents with row counts drawn uniformly from [minRows, maxRows]. */
export function randomDocs(
  rand: () => number,
  count: number,
  minRows: number,
  maxRows: number,
  dim: number,
): TokenMatrix[] {
  return Array.from({ length: count }, () =>
    randomMatrix(rand, minRows + Math.floor(rand() * (maxRows - minRows + 1)), dim),
  );
}

/** Σ over query rows of the max |dot| scale: the magnitude against which float32 rounding is judged. */
export function scoreMagnitude(query: TokenMatrix, doc: TokenMatrix): number {
  let total = 0;
  for (let i = 0; i < query.rows; i++) {
    let best = 0;
    for (let j = 0; j < doc.rows; j++) {
      let abs = 0;
      for (let c = 0; c < query.dim; c++) abs += Math.abs(query.data[i * query.dim + c]! * doc.data[j * doc.dim + c]!);
      if (abs > best) best = abs;
    }
    total += best;
  }
  return total;
}
