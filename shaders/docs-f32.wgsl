// docs-f32.wgsl — document storage prelude for maxsim.wgsl: documents as f32, `row_words` floats per row
// (the first `dim` of them used; the library pads rows to a multiple of 4 floats for the tiled kernels and this
// one reads the same buffer).
//
// Bindings (group 0):
//   1 docs : storage, read, array<f32> — this chunk's rows back to back, row r at docs[r * row_words]
// Uses from maxsim.wgsl: params (Params uniform: dim, row_words), doc_tile, TT, KD, STRIDE, WG.
// Overrides: none.

@group(0) @binding(1) var<storage, read> docs: array<f32>;

// Fills doc_tile with rows [first_row, first_row + TT) ∩ [.., row_end) and dims [k0, k0 + KD); zero elsewhere.
// Consecutive threads read consecutive dims of a row, so each row's KD floats are one coalesced segment.
fn load_doc_tile(first_row: u32, row_end: u32, k0: u32, lid: u32) {
  let dim = params.dim;
  let words = params.row_words;
  for (var s = 0u; s < 16u; s++) {
    let e = lid + s * WG;
    let r = e / KD;
    let k = e % KD;
    var v = 0.0;
    if (first_row + r < row_end && k0 + k < dim) {
      v = docs[(first_row + r) * words + k0 + k];
    }
    doc_tile[r * STRIDE + k] = v;
  }
}
