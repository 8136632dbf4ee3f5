// tiled-math-f32.wgsl — arithmetic prelude for maxsim-tiled.wgsl: f32 workgroup tiles, f32 FMAs.
// Compose with one document-storage prelude (tiled-docs-f32.wgsl or tiled-docs-f16.wgsl), one epilogue prelude
// and the body.
//
// Bindings (group 0): 3 queries : storage, read, array<f32> — query rows back to back, `dim` floats each.
// Overrides: none (uses the body's KD, TQ, TTH, QSTRIDE, DSTRIDE).
// Provides: queries, TileUnit (one workgroup-tile element = 4 dims as vec4<f32>), TILE_DIMS, query_unit,
// compute_chunk, and the body's hooks AccUnit, acc_zero, fold_scales, acc_value, row_scale (identities).
// Uses from the body: params, q_tile, doc_tile, QSTRIDE, DSTRIDE, KD, TQ, TTH, RQ.

@group(0) @binding(3) var<storage, read> queries: array<f32>;

alias TileUnit = vec4<f32>;
const TILE_DIMS: u32 = 4u;

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

// Dims [4 unit, 4 unit + 4) of absolute query row `row`; zero past `dim` and for rows >= row_end.
fn query_unit(row: u32, row_end: u32, unit: u32) -> TileUnit {
  var v = vec4<f32>(0.0);
  if (row < row_end) {
    let dim = params.dim;
    for (var c = 0u; c < 4u; c++) {
      let k = 4u * unit + c;
      if (k < dim) {
        v[c] = queries[row * dim + k];
      }
    }
  }
  return v;
}

// acc[i][j] += dot over this chunk's KD dims of query row tq + TQ i and tile token tt + TTH j.
// Per 4 dims: 4 doc loads + 8 query loads (16-byte) for 128 FMAs.
fn compute_chunk(acc: ptr<function, array<AccUnit, RQ>>, tq: u32, tt: u32, q_off: u32) {
  for (var kv = 0u; kv < KD / 4u; kv++) {
    let d0 = doc_tile[tt * DSTRIDE + kv];
    let d1 = doc_tile[(tt + TTH) * DSTRIDE + kv];
    let d2 = doc_tile[(tt + 2u * TTH) * DSTRIDE + kv];
    let d3 = doc_tile[(tt + 3u * TTH) * DSTRIDE + kv];
    // Transposed: dx holds dim 4kv of the four tokens, and so on.
    let dx = vec4<f32>(d0.x, d1.x, d2.x, d3.x);
    let dy = vec4<f32>(d0.y, d1.y, d2.y, d3.y);
    let dz = vec4<f32>(d0.z, d1.z, d2.z, d3.z);
    let dw = vec4<f32>(d0.w, d1.w, d2.w, d3.w);
    for (var i = 0u; i < RQ; i++) {
      let q = q_tile[(tq + TQ * i) * QSTRIDE + q_off + kv];
      var a = (*acc)[i];
      a = fma(vec4<f32>(q.x), dx, a);
      a = fma(vec4<f32>(q.y), dy, a);
      a = fma(vec4<f32>(q.z), dz, a);
      a = fma(vec4<f32>(q.w), dw, a);
      (*acc)[i] = a;
    }
  }
}
