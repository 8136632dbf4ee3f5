// tiled-docs-f32.wgsl — document-storage prelude for maxsim-tiled.wgsl: f32 rows read as vec4<f32>.
//
// Bindings (group 0):
//   1 docs : storage, read, array<vec4<f32>> — row r is vec4s [r * row_words / 4, (r + 1) * row_words / 4);
//            row_words (Params) is dim rounded UP TO A MULTIPLE OF 4, the padding floats being zero.
// Overrides: none (uses the body's DSTRIDE).
// Provides: DocUnit (one 16-byte load), UNIT_DIMS (dims per load), doc_fetch, doc_zero, doc_store.
// Uses from the body: doc_tile, DSTRIDE.

@group(0) @binding(1) var<storage, read> docs: array<vec4<f32>>;

alias DocUnit = vec4<f32>;
const UNIT_DIMS: u32 = 4u;

fn doc_fetch(index: u32) -> DocUnit {
  return docs[index];
}

fn doc_zero() -> DocUnit {
  return vec4<f32>(0.0);
}

// Unit `unit` (dims [4 unit, 4 unit + 4) of the chunk) of tile token `token`.
fn doc_store(token: u32, unit: u32, v: DocUnit) {
  doc_tile[token * DSTRIDE + unit] = v;
}
