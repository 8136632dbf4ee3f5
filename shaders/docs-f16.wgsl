// docs-f16.wgsl — document storage prelude for maxsim.wgsl on devices with `shader-f16`: the same packed
// layout as docs-f16-packed.wgsl, read as native vec2<f16> and widened to f32 (accumulation stays f32).
//
// Bindings (group 0):
//   1 docs : storage, read, array<vec2<f16>> — row r is elements [r * row_words, (r + 1) * row_words);
//            element w holds dims 2w and 2w + 1; an odd `dim` leaves the last .y zero.
// Uses from maxsim.wgsl: params (Params uniform: row_words), doc_tile, TT, KD, STRIDE, WG.
// Overrides: none.

enable f16;

@group(0) @binding(1) var<storage, read> docs: array<vec2<f16>>;

fn load_doc_tile(first_row: u32, row_end: u32, k0: u32, lid: u32) {
  let words = params.row_words;
  let w0 = k0 / 2u;
  for (var s = 0u; s < 8u; s++) {
    let e = lid + s * WG;
    let r = e / (KD / 2u);
    let w = e % (KD / 2u);
    var v = vec2<f32>(0.0);
    if (first_row + r < row_end && w0 + w < words) {
      v = vec2<f32>(docs[(first_row + r) * words + w0 + w]);
    }
    doc_tile[r * STRIDE + 2u * w] = v.x;
    doc_tile[r * STRIDE + 2u * w + 1u] = v.y;
  }
}
