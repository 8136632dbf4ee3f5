import { InvalidArgumentError } from './errors.js';

/** One ranked document: its position in the input and its score. */
export interface RankedDocument {
  readonly index: number;
  readonly score: number;
}

/**
 * The `k` best entries of `scores`, best first; ties go to the lower index. `k` defaults to all.
 * Uses a bounded heap (O(n log k)) when `k` is small next to `n`, a full sort otherwise.
 *
 * @example
 * topK(new Float32Array([0.1, 0.9, 0.9, 0.3]), 2); // [{ index: 1, score: 0.9 }, { index: 2, score: 0.9 }]
 */
export function topK(scores: ArrayLike<number>, k: number = scores.length): RankedDocument[] {
  if (!Number.isInteger(k) || k < 0) {
    throw new InvalidArgumentError(`topK must be an integer >= 0, got ${String(k)}`);
  }
  const n = scores.length;
  const take = Math.min(k, n);
  if (take === 0) return [];
  // `a` ranks before `b`: higher score, then lower index. NaN never reaches here (inputs are validated).
  const before = (a: number, b: number): boolean => {
    const sa = scores[a]!;
    const sb = scores[b]!;
    return sa > sb || (sa === sb && a < b);
  };
  let order: number[];
  if (take * 8 >= n) {
    order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    order.length = take;
  } else {
    // Min-heap of the best `take` so far, keyed by "worst at the root".
    const heap: number[] = [];
    const worse = (a: number, b: number): boolean => before(b, a);
    const siftUp = (i: number): void => {
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    };
    const siftDown = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
        if (m === i) return;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    };
    for (let i = 0; i < n; i++) {
      if (heap.length < take) {
        heap.push(i);
        siftUp(heap.length - 1);
      } else if (before(i, heap[0]!)) {
        heap[0] = i;
        siftDown(0);
      }
    }
    order = heap.sort((a, b) => (before(a, b) ? -1 : 1));
  }
  return order.map((index) => ({ index, score: scores[index]! }));
}
