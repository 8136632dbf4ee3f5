// tiled-docs-f16.wgsl — document-storage prelude for maxsim-tiled.wgsl: f16 pairs packed in u32 (the layout of
// docs-f16-packed.wgsl), read 16 bytes = 8 halves at a time and widened with unpack2x16float (core WGSL, no
// `shader-f16`). Arithmetic stays f32.
//
// Bindings (group 0):
//   1 docs : storage, read, array<vec4<u32>> — row r is vec4s [r * row_words / 4, (r + 1) * row_words / 4);
//            word w of a row holds dims 2w (low half) and 2w + 1 (high half). row_words (Params) is
//            ceil(dim / 2) rounded UP TO A MULTIPLE OF 4 (rows padded to 8 halves), the padding being zero.
// Overrides: none (uses the body's DSTRIDE).
// Provides: DocUnit, UNIT_DIMS, doc_fetch, doc_zero, doc_store. Uses from the body: doc_tile, DSTRIDE.

@group(0) @binding(1) var<storage, read> docs: array<vec4<u32>>;

alias DocUnit = vec4<u32>;
const UNIT_DIMS: u32 = 8u;

fn doc_fetch(index: u32) -> DocUnit {
  return docs[index];
}

fn doc_zero() -> DocUnit {
  return vec4<u32>(0u);
}

// Unit `unit` (dims [8 unit, 8 unit + 8) of the chunk) of tile token `token`: two vec4<f32> slots.
fn doc_store(token: u32, unit: u32, v: DocUnit) {
  let base = token * DSTRIDE + 2u * unit;
  doc_tile[base] = vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
  doc_tile[base + 1u] = vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w));
}
