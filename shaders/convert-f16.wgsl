// convert-f16.wgsl — f32 document rows → the f16 storage layout, on the GPU at upload: the host writes a slice of
// f32 rows (the caller's own floats, `dim` per row) and this pass packs them into the corpus's f16 buffer, so an f16
// corpus costs the host no conversion loop. The rounding is done in integer arithmetic, exactly as the host's
// float32ToFloat16Bits (round to nearest even, gradual underflow), so the stored halves are bit-identical to a host
// conversion whatever the GPU's own f32 → f16 rounding or denormal mode. Inputs are finite and |x| < 65520 (the
// host checks the corpus's max |value| before any upload: larger values would round to infinity).
//
// Bindings (group 0):
//   0 params : uniform ConvertParams
//   1 src    : storage, read, array<u32> — `rows` rows of `dim` f32 values (as their bits), back to back
//   2 dst    : storage, read_write, array<vec4<u32>> — the corpus chunk; row r of this slice is vec4s
//              [dst_base + r * row_words / 4, ...): word w holds dims 2w (low half) and 2w + 1 (high half), padded
//              with zeros to `row_words` words (a multiple of 4)
//
// Uniform struct ConvertParams (16 bytes):
//   dim        values per source row
//   rows       rows in this slice
//   row_words  u32 words per destination row, a multiple of 4
//   dst_base   first destination vec4 of the slice (a multiple of row_words / 4)
//
// Overrides: none. One invocation writes one vec4 (8 halves); the grid is 1-D, (rows * row_words / 4) / 256
// workgroups, at most the device's per-dimension limit (the host sizes slices to fit).

struct ConvertParams {
  dim: u32,
  rows: u32,
  row_words: u32,
  dst_base: u32,
}

@group(0) @binding(0) var<uniform> params: ConvertParams;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

// binary32 bits → binary16 bits, round to nearest even (mirrors src/core/float16.ts for finite inputs).
fn f16_bits(bits: u32) -> u32 {
  let sign = (bits >> 16u) & 0x8000u;
  let e = (bits >> 23u) & 0xffu;
  let man = bits & 0x7fffffu;
  if (e >= 143u) {
    return sign | 0x7c00u; // |x| >= 65536: infinity (excluded by the host's range check)
  }
  if (e <= 112u) {
    // A subnormal half or zero: value = k 2^-24, k = m >> (126 - e), rounded to nearest even.
    let shift = 126u - e;
    if (shift > 24u) {
      return sign;
    }
    let m = select(man | 0x800000u, man, e == 0u);
    var k = m >> shift;
    let rem = m & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (k & 1u) == 1u)) {
      k += 1u;
    }
    return sign | k;
  }
  var h = ((e - 112u) << 10u) | (man >> 13u);
  let rem = man & 0x1fffu;
  // A carry out of the mantissa bumps the exponent, which is exactly right.
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) {
    h += 1u;
  }
  return sign | h;
}

// Dims 2w and 2w + 1 of source row `row` packed in one word; zero past `dim`.
fn pair(row: u32, w: u32) -> u32 {
  let dim = params.dim;
  let k = 2u * w;
  var lo = 0u;
  var hi = 0u;
  if (k < dim) {
    lo = f16_bits(src[row * dim + k]);
  }
  if (k + 1u < dim) {
    hi = f16_bits(src[row * dim + k + 1u]);
  }
  return lo | (hi << 16u);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let units = params.row_words / 4u;
  let i = gid.x;
  if (i >= params.rows * units) {
    return;
  }
  let row = i / units;
  let w = 4u * (i % units);
  dst[params.dst_base + i] = vec4<u32>(pair(row, w), pair(row, w + 1u), pair(row, w + 2u), pair(row, w + 3u));
}
