// maxsim.wgsl — the BASELINE kernel (variant 'baseline'): the tiled kernels (maxsim-tiled.wgsl) replaced it
// as the default; it stays as the yardstick they are measured against. Fused MaxSim: for one (document, query)
// pair per workgroup, the dot product of every query row with every document token, the max over the document's
// tokens and the sum over query rows, in one pass.
// The query × token similarity matrix is never written anywhere: each thread keeps a 4 × 4 register tile of
// dot products and folds it into running maxima as soon as it is complete.
//
// This file is the shared body. It is compiled together with exactly one document-storage prelude
// (docs-f32.wgsl, docs-f16-packed.wgsl or docs-f16.wgsl), which declares binding 1 and defines
// `load_doc_tile(first_row, row_end, k0, lid)` filling `doc_tile` for dims [k0, k0 + KD).
//
// Bindings (group 0):
//   0 params        : uniform Params
//   1 docs          : storage, read — declared by the prelude (f32 rows of `dim`, or f16 pairs, `row_words` u32 per row)
//   2 doc_offsets   : storage, read, array<u32> — doc_count + 1 row offsets, relative to this chunk
//   3 queries       : storage, read, array<f32> — all query rows of the batch, back to back, `dim` floats each
//   4 query_offsets : storage, read, array<u32> — query_count + 1 row offsets into `queries`
//   5 scores        : storage, read_write, array<f32> — scores[q * out_stride + doc_base + doc] = raw sum
//
// Uniform struct Params (32 bytes):
//   dim         embedding width (any value >= 1)
//   doc_count   documents in this chunk
//   query_count queries in this batch
//   grid_x      workgroups along x; the linear workgroup index is id.y * grid_x + id.x (splits counts > 65535)
//   doc_base    index of this chunk's first document in a row of `scores`
//   out_stride  length of one query's row in `scores` (documents in the whole corpus)
//   row_words   storage words per document row (>= dim for f32, >= ceil(dim / 2) for f16 pairs; the library
//               pads rows to a multiple of 4 words, zeros, shared with the tiled kernels)
//   _pad        unused
//
// Overrides: none. Tile sizes are constants below because they size workgroup arrays; every runtime size
// comes from Params or the offset buffers.
//
// Workgroup: 128 threads = 8 query-threads (tq) × 16 token-threads (tt). A pass covers QT = 32 query rows ×
// TT = 64 document tokens; thread (tq, tt) owns rows tq + 8i and tokens tt + 16j (i, j < 4). Dims are
// consumed KD = 32 at a time through workgroup tiles padded to a stride of 33 floats (no bank conflicts).
// Empty documents get a finite sentinel; the host maps them to -Infinity (WGSL need not support infinities).

struct Params {
  dim: u32,
  doc_count: u32,
  query_count: u32,
  grid_x: u32,
  doc_base: u32,
  out_stride: u32,
  row_words: u32,
  _pad: u32,
}

const WG: u32 = 128u;
const QT: u32 = 32u;
const TT: u32 = 64u;
const KD: u32 = 32u;
const STRIDE: u32 = 33u;
const LOWEST: f32 = -3.40282346638528859811704183484516925440e38f; // lowest finite f32

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> doc_offsets: array<u32>;
@group(0) @binding(3) var<storage, read> queries: array<f32>;
@group(0) @binding(4) var<storage, read> query_offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;

var<workgroup> q_tile: array<f32, 1056>;   // QT * STRIDE
var<workgroup> doc_tile: array<f32, 2112>; // TT * STRIDE
var<workgroup> partial_max: array<f32, 512>; // QT * 16
var<workgroup> row_max: array<f32, 32>;     // QT
var<workgroup> bounds: vec4<u32>;           // doc rows [x, y), query rows [z, w)

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let linear = wid.y * params.grid_x + wid.x;
  // Surplus workgroups of a split (x, y) grid: uniform across the workgroup, so returning here is safe.
  if (linear >= params.doc_count * params.query_count) {
    return;
  }
  let doc = linear / params.query_count;
  let query = linear % params.query_count;
  if (lid == 0u) {
    bounds = vec4<u32>(doc_offsets[doc], doc_offsets[doc + 1u], query_offsets[query], query_offsets[query + 1u]);
  }
  // Storage loads are not uniform to the shader compiler; this makes the loop bounds workgroup-uniform.
  let b = workgroupUniformLoad(&bounds);
  let doc_rows = b.y - b.x;
  let query_rows = b.w - b.z;
  let dim = params.dim;
  let out_index = query * params.out_stride + params.doc_base + doc;
  if (doc_rows == 0u) {
    if (lid == 0u) {
      scores[out_index] = LOWEST;
    }
    return;
  }

  let tq = lid / 16u;
  let tt = lid % 16u;
  var total = 0.0;
  for (var q0 = 0u; q0 < query_rows; q0 += QT) {
    var run_max = vec4<f32>(LOWEST);
    for (var t0 = 0u; t0 < doc_rows; t0 += TT) {
      // acc[j][i]: token tt + 16j, query row tq + 8i. Initialised explicitly: an uninitialised `var` in a loop
      // body kept the previous iteration's sums on lavapipe.
      var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
      for (var k0 = 0u; k0 < dim; k0 += KD) {
        // Query tile: QT rows × KD dims, zero outside the query and past `dim`.
        for (var s = 0u; s < 8u; s++) {
          let e = lid + s * WG;
          let r = e / KD;
          let k = e % KD;
          var v = 0.0;
          if (q0 + r < query_rows && k0 + k < dim) {
            v = queries[(b.z + q0 + r) * dim + k0 + k];
          }
          q_tile[r * STRIDE + k] = v;
        }
        load_doc_tile(b.x + t0, b.y, k0, lid);
        workgroupBarrier();
        for (var k = 0u; k < KD; k++) {
          let qv = vec4<f32>(
            q_tile[tq * STRIDE + k],
            q_tile[(tq + 8u) * STRIDE + k],
            q_tile[(tq + 16u) * STRIDE + k],
            q_tile[(tq + 24u) * STRIDE + k]);
          acc[0] = fma(qv, vec4<f32>(doc_tile[tt * STRIDE + k]), acc[0]);
          acc[1] = fma(qv, vec4<f32>(doc_tile[(tt + 16u) * STRIDE + k]), acc[1]);
          acc[2] = fma(qv, vec4<f32>(doc_tile[(tt + 32u) * STRIDE + k]), acc[2]);
          acc[3] = fma(qv, vec4<f32>(doc_tile[(tt + 48u) * STRIDE + k]), acc[3]);
        }
        workgroupBarrier();
      }
      // Fold the finished dot products into the running maxima; tokens past the document end do not count.
      for (var j = 0u; j < 4u; j++) {
        if (t0 + tt + 16u * j < doc_rows) {
          run_max = max(run_max, acc[j]);
        }
      }
    }
    // Max across the 16 token-threads that share a query row, then sum over the valid rows.
    for (var i = 0u; i < 4u; i++) {
      partial_max[(tq + 8u * i) * 16u + tt] = run_max[i];
    }
    workgroupBarrier();
    if (lid < QT) {
      var m = partial_max[lid * 16u];
      for (var s = 1u; s < 16u; s++) {
        m = max(m, partial_max[lid * 16u + s]);
      }
      row_max[lid] = select(0.0, m, q0 + lid < query_rows);
    }
    workgroupBarrier();
    for (var r = 0u; r < QT; r++) {
      total += row_max[r];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    scores[out_index] = total;
  }
}
