// tiled-int8-dot-packed.wgsl — dot4_i8 for tiled-math-int8.wgsl with WGSL's dot4I8Packed, where the
// `packed_4x8_integer_dot_product` language feature exists (navigator.gpu.wgslLanguageFeatures; one DP4A-class
// instruction on most GPUs). The same integers as tiled-int8-dot-unpacked.wgsl.
//
// Bindings: none. Overrides: none. Provides: dot4_i8(a, b) -> i32, the dot product of a's and b's four
// signed bytes (byte k of one with byte k of the other).

requires packed_4x8_integer_dot_product;

fn dot4_i8(a: u32, b: u32) -> i32 {
  return dot4I8Packed(a, b);
}
