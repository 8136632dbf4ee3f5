// tiled-int8-dot-unpacked.wgsl — dot4_i8 for tiled-math-int8.wgsl in core WGSL, where dot4I8Packed is missing:
// each byte sign-extended with shifts (i32(w << 24u) >> 24u: the arithmetic right shift copies the sign bit), then
// an integer dot product. Exact, so it gives the same integers as tiled-int8-dot-packed.wgsl.
//
// Bindings: none. Overrides: none. Provides: dot4_i8(a, b) -> i32, the dot product of a's and b's four
// signed bytes (byte k of one with byte k of the other).

fn dot4_i8(a: u32, b: u32) -> i32 {
  let sh = vec4<u32>(24u, 16u, 8u, 0u);
  let x = vec4<i32>(vec4<u32>(a) << sh) >> vec4<u32>(24u);
  let y = vec4<i32>(vec4<u32>(b) << sh) >> vec4<u32>(24u);
  return dot(x, y);
}
