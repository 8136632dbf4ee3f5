// tiled-math-f16.wgsl — arithmetic AND document-storage prelude for maxsim-tiled.wgsl on devices with
// `shader-f16`: f16 documents (the packed layout of tiled-docs-f16.wgsl) copied raw into workgroup memory, the
// query rounded to f16 once when it is loaded, f16 products accumulated in f16 pairs over one chunk of KD dims,
// then folded into the f32 accumulators; max and sum stay f32. Error bound: README.md, "Accuracy".
// Requires |q|, |d| < 65504 and partial sums bounded by max ||q_i|| * max ||d_t|| < 65504 (host checks).
// Compose with one epilogue prelude and the body (no separate storage prelude).
//
// Bindings (group 0):
//   1 docs : storage, read, array<vec4<u32>> — as tiled-docs-f16.wgsl: word w holds dims 2w, 2w + 1; row_words
//            is ceil(dim / 2) rounded up to a multiple of 4, the padding zero.
//   3 queries : storage, read, array<f32> — query rows back to back, `dim` floats each (not padded).
// Overrides: none (uses the body's KD, TQ, TTH, QSTRIDE, DSTRIDE).
// Provides: DocUnit, UNIT_DIMS, doc_fetch, doc_zero, doc_store, queries, TileUnit, TILE_DIMS, query_unit,
// compute_chunk, and the body's hooks AccUnit, acc_zero, fold_scales, acc_value, row_scale (identities).
// Uses from the body: params, q_tile, doc_tile, QSTRIDE, DSTRIDE, KD, TQ, TTH, RQ.

enable f16;

@group(0) @binding(1) var<storage, read> docs: array<vec4<u32>>;

alias DocUnit = vec4<u32>;
const UNIT_DIMS: u32 = 8u;
@group(0) @binding(3) var<storage, read> queries: array<f32>;

alias TileUnit = vec4<u32>; // 8 halves
const TILE_DIMS: u32 = 8u;

// Hooks of the body (identities here: f32 accumulators, no scales).
alias AccUnit = vec4<f32>;

fn acc_zero() -> AccUnit {
  return vec4<f32>(0.0);
}

fn fold_scales(t: u32, r1: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}

fn acc_value(a: AccUnit, s: vec4<f32>) -> vec4<f32> {
  return a;
}

fn row_scale(row: u32) -> f32 {
  return 1.0;
}

fn doc_fetch(index: u32) -> DocUnit {
  return docs[index];
}

fn doc_zero() -> DocUnit {
  return vec4<u32>(0u);
}

fn doc_store(token: u32, unit: u32, v: DocUnit) {
  doc_tile[token * DSTRIDE + unit] = v;
}

// Dims [8 unit, 8 unit + 8) of absolute query row `row` rounded to f16 pairs; zero past `dim` and for rows >=
// row_end.
fn query_unit(row: u32, row_end: u32, unit: u32) -> TileUnit {
  var f = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  if (row < row_end) {
    let dim = params.dim;
    for (var c = 0u; c < 8u; c++) {
      let k = 8u * unit + c;
      if (k < dim) {
        f[c] = queries[row * dim + k];
      }
    }
  }
  return vec4<u32>(pack2x16float(vec2<f32>(f[0], f[1])), pack2x16float(vec2<f32>(f[2], f[3])),
                   pack2x16float(vec2<f32>(f[4], f[5])), pack2x16float(vec2<f32>(f[6], f[7])));
}

fn h2(w: u32) -> vec2<f16> {
  return bitcast<vec2<f16>>(w);
}

// Partial dot products of the chunk in f16 pairs (lane 0: even dims, lane 1: odd dims; a chain of KD / 2 FMAs
// each), then added to the f32 accumulators. Per 8 dims: 4 doc loads + 8 query loads for 128 f16x2 FMAs.
fn compute_chunk(acc: ptr<function, array<AccUnit, RQ>>, tq: u32, tt: u32, q_off: u32) {
  var h: array<vec2<f16>, 32>; // [i * 4 + j], RQ * RT
  for (var n = 0u; n < 32u; n++) {
    h[n] = vec2<f16>(0.0h); // explicit: do not rely on zero-initialisation inside loops (seen failing on lavapipe)
  }
  for (var ku = 0u; ku < KD / 8u; ku++) {
    let d0 = doc_tile[tt * DSTRIDE + ku];
    let d1 = doc_tile[(tt + TTH) * DSTRIDE + ku];
    let d2 = doc_tile[(tt + 2u * TTH) * DSTRIDE + ku];
    let d3 = doc_tile[(tt + 3u * TTH) * DSTRIDE + ku];
    for (var i = 0u; i < RQ; i++) {
      let q = q_tile[(tq + TQ * i) * QSTRIDE + q_off + ku];
      let qa = h2(q.x);
      let qb = h2(q.y);
      let qc = h2(q.z);
      let qd = h2(q.w);
      let b = 4u * i;
      h[b] = fma(qd, h2(d0.w), fma(qc, h2(d0.z), fma(qb, h2(d0.y), fma(qa, h2(d0.x), h[b]))));
      h[b + 1u] = fma(qd, h2(d1.w), fma(qc, h2(d1.z), fma(qb, h2(d1.y), fma(qa, h2(d1.x), h[b + 1u]))));
      h[b + 2u] = fma(qd, h2(d2.w), fma(qc, h2(d2.z), fma(qb, h2(d2.y), fma(qa, h2(d2.x), h[b + 2u]))));
      h[b + 3u] = fma(qd, h2(d3.w), fma(qc, h2(d3.z), fma(qb, h2(d3.y), fma(qa, h2(d3.x), h[b + 3u]))));
    }
  }
  for (var i = 0u; i < RQ; i++) {
    let b = 4u * i;
    (*acc)[i] += vec4<f32>(f32(h[b].x) + f32(h[b].y), f32(h[b + 1u].x) + f32(h[b + 1u].y),
                           f32(h[b + 2u].x) + f32(h[b + 2u].y), f32(h[b + 3u].x) + f32(h[b + 3u].y));
  }
}
