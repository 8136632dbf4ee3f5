// tiled-math-int8.wgsl — arithmetic prelude for maxsim-tiled.wgsl over int8 documents (tiled-docs-int8.wgsl): the
// query quantized per row on the host to int8 (±127, its own f32 scale), exact integer dot products accumulated in
// i32 over the whole row (dot4_i8 from tiled-int8-dot-packed.wgsl or tiled-int8-dot-unpacked.wgsl: both give the
// same integers), then per token tile acc × doc_scale[token] in f32 before the max over tokens, and each row's
// maximum × query_scale[row] before the sum. No overflow: |acc| ≤ dim × 127 × 127 ≤ 2^31 − 1 for dim ≤ 133,144
// (INT8_MAX_DIM; the host refuses wider rows). Error bound: README.md, "Accuracy".
//
// Bindings (group 0):
//   3 queries      : storage, read, array<vec4<u32>> — query rows packed like the documents: `row_words` words
//                    per row (4 int8 per word, zero padding), rows back to back.
//   8 query_scales : storage, read, array<f32> — one scale per query row of the batch.
// Overrides: none (uses the body's KD, TQ, TTH, QSTRIDE, DSTRIDE).
// Provides: TileUnit (16 int8 values as vec4<u32>), TILE_DIMS, query_unit, compute_chunk, and the body's hooks
// AccUnit (vec4<i32>), acc_zero, fold_scales, acc_value, row_scale.
// Uses: params, q_tile, doc_tile, QSTRIDE, DSTRIDE, KD, TQ, TTH, RQ (body); doc_scales (tiled-docs-int8.wgsl);
// dot4_i8 (a dot prelude).

@group(0) @binding(3) var<storage, read> queries: array<vec4<u32>>;
@group(0) @binding(8) var<storage, read> query_scales: array<f32>;

alias TileUnit = vec4<u32>; // 16 int8 values
const TILE_DIMS: u32 = 16u;
alias AccUnit = vec4<i32>;

fn acc_zero() -> AccUnit {
  return vec4<i32>(0);
}

// The scales of tokens t, t + TTH, t + 2 TTH, t + 3 TTH (0 past the group's rows; the body masks those).
fn fold_scales(t: u32, r1: u32) -> vec4<f32> {
  var s = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    let row = t + j * TTH;
    if (row < r1) {
      s[j] = doc_scales[row];
    }
  }
  return s;
}

// A finished dot product's value before the max over tokens: f32(acc) × doc scale (the query scale comes later).
fn acc_value(a: AccUnit, s: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(a) * s;
}

// The query row's scale, applied to its maximum: max_t(x_t) × s = max_t(x_t × s) for s ≥ 0, rounding included.
fn row_scale(row: u32) -> f32 {
  return query_scales[row];
}

// Unit `unit` (dims [16 unit, 16 unit + 16)) of absolute query row `row`; zero past the row and for rows >= row_end.
fn query_unit(row: u32, row_end: u32, unit: u32) -> TileUnit {
  let row_units = params.row_words / 4u;
  if (row < row_end && unit < row_units) {
    return queries[row * row_units + unit];
  }
  return vec4<u32>(0u);
}

fn dot16(q: vec4<u32>, d: vec4<u32>) -> i32 {
  return dot4_i8(q.x, d.x) + dot4_i8(q.y, d.y) + dot4_i8(q.z, d.z) + dot4_i8(q.w, d.w);
}

// acc[i][j] += integer dot over this chunk's KD dims of query row tq + TQ i and tile token tt + TTH j.
// Per 16 dims: 4 doc loads + 8 query loads (16-byte) for 32 × 4 four-way integer dot products.
fn compute_chunk(acc: ptr<function, array<AccUnit, RQ>>, tq: u32, tt: u32, q_off: u32) {
  for (var ku = 0u; ku < KD / 16u; ku++) {
    let d0 = doc_tile[tt * DSTRIDE + ku];
    let d1 = doc_tile[(tt + TTH) * DSTRIDE + ku];
    let d2 = doc_tile[(tt + 2u * TTH) * DSTRIDE + ku];
    let d3 = doc_tile[(tt + 3u * TTH) * DSTRIDE + ku];
    for (var i = 0u; i < RQ; i++) {
      let q = q_tile[(tq + TQ * i) * QSTRIDE + q_off + ku];
      (*acc)[i] += vec4<i32>(dot16(q, d0), dot16(q, d1), dot16(q, d2), dot16(q, d3));
    }
  }
}
