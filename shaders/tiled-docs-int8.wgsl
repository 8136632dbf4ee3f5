// tiled-docs-int8.wgsl — document-storage prelude for maxsim-tiled.wgsl: int8 rows, 4 values per u32 word (dim
// 4w + k in byte k of word w, least significant first), read 16 bytes = 16 values at a time and copied raw into the
// workgroup tile; one f32 scale per row (value ≈ int8 × scale: src/core/int8.ts, the CPU's own quantization).
// Compose with tiled-math-int8.wgsl (which reads the scales when a token tile is folded).
//
// Bindings (group 0):
//   1 docs       : storage, read, array<vec4<u32>> — row r is vec4s [r * row_words / 4, (r + 1) * row_words / 4);
//                  row_words (Params) is ceil(dim / 4) rounded UP TO A MULTIPLE OF 4 (rows padded to 16 values),
//                  the padding zero.
//   7 doc_scales : storage, read, array<f32> — one scale per row of this chunk (chunk-relative rows).
// Overrides: none (uses the body's DSTRIDE).
// Provides: DocUnit, UNIT_DIMS, doc_fetch, doc_zero, doc_store, doc_scales. Uses from the body: doc_tile, DSTRIDE.

@group(0) @binding(1) var<storage, read> docs: array<vec4<u32>>;
@group(0) @binding(7) var<storage, read> doc_scales: array<f32>;

alias DocUnit = vec4<u32>;
const UNIT_DIMS: u32 = 16u;

fn doc_fetch(index: u32) -> DocUnit {
  return docs[index];
}

fn doc_zero() -> DocUnit {
  return vec4<u32>(0u);
}

// Unit `unit` (dims [16 unit, 16 unit + 16) of the chunk) of tile token `token`, as stored.
fn doc_store(token: u32, unit: u32, v: DocUnit) {
  doc_tile[token * DSTRIDE + unit] = v;
}
