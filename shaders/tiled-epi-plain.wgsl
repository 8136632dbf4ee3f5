// tiled-epi-plain.wgsl — epilogue prelude for maxsim-tiled*.wgsl without subgroups: every invocation folds its
// own value into the workgroup max table with one workgroup atomicMax (order-preserving u32 encoding of f32).
//
// Bindings: none. Overrides: none.
// Provides: push_max(index, v, valid). Must be called in workgroup-uniform control flow (the subgroup version
// has that requirement; this one does not, but keeps the same contract). Uses from the body: row_max, encode_max.

fn push_max(index: u32, v: f32, valid: bool) {
  if (valid) {
    atomicMax(&row_max[index], encode_max(v));
  }
}
