// docs-f16-packed.wgsl — document storage prelude for maxsim.wgsl: documents as f16 pairs packed in u32,
// decoded with unpack2x16float (core WGSL, no `shader-f16` needed). Accumulation stays f32.
//
// Bindings (group 0):
//   1 docs : storage, read, array<u32> — row r is words [r * row_words, (r + 1) * row_words); word w holds
//            dims 2w (low half) and 2w + 1 (high half); an odd `dim` leaves the last high half zero.
// Uses from maxsim.wgsl: params (Params uniform: dim, row_words), doc_tile, TT, KD, STRIDE, WG.
// Overrides: none.

@group(0) @binding(1) var<storage, read> docs: array<u32>;

fn load_doc_tile(first_row: u32, row_end: u32, k0: u32, lid: u32) {
  let words = params.row_words;
  let w0 = k0 / 2u; // k0 is a multiple of KD, hence even
  for (var s = 0u; s < 8u; s++) {
    let e = lid + s * WG;
    let r = e / (KD / 2u);
    let w = e % (KD / 2u);
    var v = vec2<f32>(0.0);
    if (first_row + r < row_end && w0 + w < words) {
      v = unpack2x16float(docs[(first_row + r) * words + w0 + w]);
    }
    doc_tile[r * STRIDE + 2u * w] = v.x;
    doc_tile[r * STRIDE + 2u * w + 1u] = v.y;
  }
}
