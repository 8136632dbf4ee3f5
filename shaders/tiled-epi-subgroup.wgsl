// tiled-epi-subgroup.wgsl — epilogue prelude for maxsim-tiled*.wgsl on devices with the `subgroups` feature:
// when every invocation of a subgroup targets the same table entry (the common case: the token-threads that
// share a query row are consecutive invocations), one subgroupMax and one atomicMax per subgroup replace one
// atomic per invocation. Correct for ANY mapping of invocations to subgroups: a subgroup whose targets differ
// falls back to per-invocation atomics.
//
// Bindings: none. Overrides: none.
// Provides: push_max(index, v, valid). Must be called in workgroup-uniform control flow.
// Uses from the body: row_max, encode_max. Needs the `subgroups` device feature.

enable subgroups;
diagnostic(off, subgroup_uniformity);

const NO_TARGET: u32 = 0xffffffffu;

fn push_max(index: u32, v: f32, valid: bool) {
  let target_index = select(NO_TARGET, index, valid);
  if (subgroupAll(target_index == subgroupBroadcastFirst(target_index))) {
    let m = subgroupMax(v);
    if (valid && subgroupElect()) {
      atomicMax(&row_max[index], encode_max(m));
    }
  } else if (valid) {
    atomicMax(&row_max[index], encode_max(v));
  }
}
