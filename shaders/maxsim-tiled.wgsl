// maxsim-tiled.wgsl — fused MaxSim for GPUs, register-tiled: each workgroup keeps a block of up to QT query rows
// (one or SEVERAL queries) in workgroup memory and streams a GROUP of documents (one long document, or several
// short consecutive ones) through it in tiles of TT tokens × KD dims, loaded with 16-byte loads and prefetched
// into registers one chunk ahead. Each invocation owns an 8 × 4 register tile (8 query rows × 4 tokens): per 4
// dims, 8 query + 4 doc sixteen-byte workgroup loads feed 128 FMAs. Dot products are folded into running maxima as
// soon as a tile's dims are complete; the similarity matrix is never stored.
//
// Composition (the host concatenates, hoisting `enable`/`diagnostic` lines to the top):
//   f32 arithmetic:  tiled-docs-{f32,f16}.wgsl + tiled-math-f32.wgsl + tiled-epi-{plain,subgroup}.wgsl + this
//   f16 arithmetic:  tiled-math-f16.wgsl (storage included)           + tiled-epi-{plain,subgroup}.wgsl + this
//   int8 (integer):  tiled-docs-int8.wgsl + tiled-int8-dot-{packed,unpacked}.wgsl + tiled-math-int8.wgsl
//                    + tiled-epi-{plain,subgroup}.wgsl + this
// The math prelude declares `queries` (binding 3) and provides the accumulator type AccUnit and its hooks:
// acc_zero, fold_scales / acc_value (what a finished tile's accumulators are worth, before the max over tokens)
// and row_scale (what a row's maximum is multiplied by before the sum); they are identities for f32 and f16.
//
// Bindings (group 0):
//   0 params        : uniform Params
//   1 docs          : storage, read — declared by the storage prelude: rows of `row_words` u32 words, a multiple
//                     of 4 (rows ZERO-PADDED to 4 floats / 8 halves so every row starts on 16 bytes)
//   2 doc_offsets   : storage, read, array<u32> — doc_count + 1 row offsets, relative to this chunk
//   3 queries       : storage, read — declared by the math prelude: all query rows of the batch, back to back
//                     (f32 and f16 math: array<f32>, `dim` floats each, not padded; int8: packed int8 rows of
//                     `row_words` words, as the documents)
//   4 query_offsets : storage, read, array<u32> — query_count + 1 row offsets into `queries`
//   5 scores        : storage, read_write, array<f32> — scores[q * out_stride + doc_base + doc] = raw sum; a
//                     document with no rows gets the finite sentinel LOWEST (host maps it to -Infinity)
//   6 doc_groups    : storage, read, array<u32> — group_count + 1 document indices: group g is documents
//                     [doc_groups[g], doc_groups[g + 1]). A group is ONE document of any length, or up to MAXD
//                     consecutive documents with at most TT rows together (host: groupDocuments()).
//
// Uniform struct Params (48 bytes; the first 28 bytes are the old kernel's):
//   dim               embedding width (any value >= 1)
//   doc_count         documents in this chunk
//   query_count       queries in this batch
//   grid_x            workgroups along x; the linear workgroup index is id.y * grid_x + id.x (splits > 65535)
//   doc_base          index of this chunk's first document in a row of `scores`
//   out_stride        length of one query's row in `scores` (documents in the whole corpus)
//   row_words         u32 words per document row, a multiple of 4
//   group_count       document groups in doc_groups
//   queries_per_group G: query group h is queries [h G, min((h + 1) G, query_count)). G > 1 only if those
//                     queries have at most QT rows together (host: G = max(1, floor(QT / max rows)))
//   qgroup_count      ceil(query_count / G)
//   wg_count          workgroups that work: a multiple of qgroup_count. Workgroup L serves query group
//                     L % qgroup_count and document groups L / qgroup_count + k (wg_count / qgroup_count)
//                     (persistent: a workgroup loads its query block once for all its document groups).
//                     Workgroups past wg_count (the surplus of a 2-D grid) return at once.
//   _pad
//
// Overrides (pipeline constants; defaults give 64 invocations, QT = 32, TT = 64):
//   TQ    query-row threads; QT = 8 TQ rows per block
//   TTH   token threads; TT = 4 TTH tokens per tile; workgroup size WG = TQ TTH
//   KD    dims per chunk (a multiple of 8); each thread prefetches ceil(TT KD / UNIT_DIMS / WG) <= 8 doc loads
//         and ceil(QT KD / TILE_DIMS / WG) <= 8 query loads
//   QKD   dims of the query block held in workgroup memory, a multiple of KD.
//   STREAM_Q  false (default): the whole query block is "resident": loaded once per workgroup, and the host
//         guarantees ceil(padded dim / KD) KD <= QKD (else the workgroup writes nothing). true: the block is
//         streamed chunk by chunk with the docs (any dim; QKD = KD suffices). A pipeline constant, so the
//         unused path and its registers are compiled out.
//   MAXD  most documents per group (MAXD <= WG); must equal the host's grouping parameter
// Workgroup memory: QT (QKD / TILE_DIMS + 1) + TT (KD / TILE_DIMS + 1) tile units (16 B), 4 MAXD QT + 4 TT + 32 B.
//
// Max over tokens: a workgroup table row_max[doc in group][row in block] of order-preserving u32 encodings,
// updated with atomicMax (push_max, from the epilogue prelude), then summed per (query, document).

struct Params {
  dim: u32,
  doc_count: u32,
  query_count: u32,
  grid_x: u32,
  doc_base: u32,
  out_stride: u32,
  row_words: u32,
  group_count: u32,
  queries_per_group: u32,
  qgroup_count: u32,
  wg_count: u32,
  _pad: u32,
}

override TQ: u32 = 4u;
override TTH: u32 = 16u;
override KD: u32 = 32u;
override QKD: u32 = 128u;
override MAXD: u32 = 32u;
override STREAM_Q: bool = false;

const RQ: u32 = 8u; // query rows per invocation
const RT: u32 = 4u; // tokens per invocation
const MAX_LOADS: u32 = 8u;
const LOWEST: f32 = -3.40282346638528859811704183484516925440e38f; // lowest finite f32

override WG: u32 = TQ * TTH;
override QT: u32 = RQ * TQ;
override TT: u32 = RT * TTH;
override KDU: u32 = KD / UNIT_DIMS; // doc loads per token per chunk
override KDT: u32 = KD / TILE_DIMS; // tile units per row per chunk
override DSTRIDE: u32 = KD / TILE_DIMS + 1u; // +1: consecutive tokens start in different banks
override QSTRIDE: u32 = QKD / TILE_DIMS + 1u;
override NLD: u32 = (TT * KDU + WG - 1u) / WG;
override NLQ: u32 = (QT * KDT + WG - 1u) / WG;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> doc_offsets: array<u32>;
@group(0) @binding(4) var<storage, read> query_offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read> doc_groups: array<u32>;

var<workgroup> q_tile: array<TileUnit, QT * QSTRIDE>;
var<workgroup> doc_tile: array<TileUnit, TT * DSTRIDE>;
var<workgroup> row_max: array<atomic<u32>, MAXD * QT>;
var<workgroup> slot_doc: array<u32, TT>;
var<workgroup> query_bounds: vec4<u32>;
var<workgroup> group_bounds: vec4<u32>;

// f32 -> u32 with the same order (for atomicMax); 0 is below every encoded finite value ("no value").
fn encode_max(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn decode_max(e: u32) -> f32 {
  return bitcast<f32>(select(~e, e & 0x7fffffffu, (e & 0x80000000u) != 0u));
}

// Doc loads of chunk `kc` of the tile starting at row `tile_row` (rows >= row_end and units past the row read 0).
fn fetch_docs(pre: ptr<function, array<DocUnit, MAX_LOADS>>, lid: u32, tile_row: u32, row_end: u32, kc: u32) {
  let row_units = params.row_words / 4u;
  for (var n = 0u; n < NLD; n++) {
    let e = lid + n * WG;
    var v = doc_zero();
    let token = e / KDU;
    let unit = kc * KDU + e % KDU;
    if (e < TT * KDU && tile_row + token < row_end && unit < row_units) {
      v = doc_fetch((tile_row + token) * row_units + unit);
    }
    (*pre)[n] = v;
  }
}

fn store_docs(pre: ptr<function, array<DocUnit, MAX_LOADS>>, lid: u32) {
  for (var n = 0u; n < NLD; n++) {
    let e = lid + n * WG;
    if (e < TT * KDU) {
      doc_store(e / KDU, e % KDU, (*pre)[n]);
    }
  }
}

// Query tile units of chunk `kc` (streamed mode): rows [row0, row0 + QT) ∩ [.., row_end).
fn fetch_query(pre: ptr<function, array<TileUnit, MAX_LOADS>>, lid: u32, row0: u32, row_end: u32, kc: u32) {
  for (var n = 0u; n < NLQ; n++) {
    let e = lid + n * WG;
    let r = e / KDT;
    (*pre)[n] = query_unit(row0 + r, select(row0, row_end, e < QT * KDT), kc * KDT + e % KDT);
  }
}

fn store_query(pre: ptr<function, array<TileUnit, MAX_LOADS>>, lid: u32) {
  for (var n = 0u; n < NLQ; n++) {
    let e = lid + n * WG;
    if (e < QT * KDT) {
      q_tile[(e / KDT) * QSTRIDE + e % KDT] = (*pre)[n];
    }
  }
}

// The score of (query first_query + lq, document doc) of this chunk; empty documents get the sentinel.
fn write_score(query: u32, doc: u32, value: f32) {
  let empty = doc_offsets[doc] == doc_offsets[doc + 1u];
  scores[query * params.out_stride + params.doc_base + doc] = select(value, LOWEST, empty);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let linear = wid.y * params.grid_x + wid.x;
  if (linear >= params.wg_count) {
    return; // surplus of a 2-D grid: uniform across the workgroup
  }
  let qgroups = params.qgroup_count;
  let lanes = params.wg_count / qgroups; // workgroups serving the same query group
  let h = linear % qgroups;
  let first_query = h * params.queries_per_group;
  let group_queries = min(params.queries_per_group, params.query_count - first_query);
  if (lid == 0u) {
    query_bounds = vec4<u32>(query_offsets[first_query], query_offsets[first_query + group_queries], 0u, 0u);
  }
  // Storage loads are not uniform to the compiler; barriers follow, so the bounds go through workgroup memory.
  let qb = workgroupUniformLoad(&query_bounds);
  let q_begin = qb.x;
  let q_end = qb.y;
  let single_block = q_end - q_begin <= QT; // else group_queries == 1 (host rule), so pairs below <= MAXD <= WG

  let tq = lid / TTH;
  let tt = lid % TTH;
  let row_units = params.row_words / 4u;
  let nk = (row_units * UNIT_DIMS + KD - 1u) / KD; // chunks per token tile
  let q_resident = !STREAM_Q;
  if (q_resident && nk * KD > QKD) {
    return; // host contract broken (dim too large for a resident block): uniform early exit
  }
  let q_units = nk * KDT; // query tile units per row when resident
  var loaded_block = 0xffffffffu;

  for (var g = linear / qgroups; g < params.group_count; g += lanes) {
    if (lid == 0u) {
      let d0 = doc_groups[g];
      let d1 = doc_groups[g + 1u];
      group_bounds = vec4<u32>(d0, d1, doc_offsets[d0], doc_offsets[d1]);
    }
    let gb = workgroupUniformLoad(&group_bounds);
    let first_doc = gb.x;
    let nd = gb.y - gb.x;
    let r0 = gb.z;
    let r1 = gb.w;
    let nsteps = ((r1 - r0 + TT - 1u) / TT) * nk;
    if (nd > 1u) {
      // Several short documents in one tile: which document each slot belongs to.
      for (var ld = lid; ld < nd; ld += WG) {
        let a = doc_offsets[first_doc + ld] - r0;
        let b = min(doc_offsets[first_doc + ld + 1u] - r0, TT);
        for (var s = a; s < b; s++) {
          slot_doc[s] = ld;
        }
      }
    }
    let pairs = group_queries * nd;
    var total = 0.0; // pair `lid`, summed over query blocks (only when !single_block)

    for (var qb0 = q_begin; qb0 < q_end; qb0 += QT) {
      let qb1 = min(qb0 + QT, q_end);
      var pre_d: array<DocUnit, MAX_LOADS>;
      var pre_q: array<TileUnit, MAX_LOADS>;
      if (nsteps > 0u) {
        // Issued first: the first chunk's loads are in flight while the query block is loaded.
        fetch_docs(&pre_d, lid, r0, r1, 0u);
        if (!q_resident) {
          fetch_query(&pre_q, lid, qb0, qb1, 0u);
        }
      }
      for (var e = lid; e < nd * QT; e += WG) {
        atomicStore(&row_max[e], 0u);
      }
      if (q_resident && qb0 != loaded_block) {
        for (var e = lid; e < QT * q_units; e += WG) {
          let r = e / q_units;
          let u = e % q_units;
          q_tile[r * QSTRIDE + u] = query_unit(qb0 + r, qb1, u);
        }
        loaded_block = qb0;
      }
      workgroupBarrier();

      var run: array<vec4<f32>, RQ>;
      var acc: array<AccUnit, RQ>;
      for (var i = 0u; i < RQ; i++) {
        run[i] = vec4<f32>(LOWEST);
        acc[i] = acc_zero();
      }
      // One step = one chunk of KD dims of one token tile; the next step's loads are issued before this
      // step's arithmetic, so their latency hides behind it (one workgroup buffer, two barriers per step).
      for (var s = 0u; s < nsteps; s++) {
        let tile = s / nk;
        let kc = s - tile * nk;
        workgroupBarrier();
        store_docs(&pre_d, lid);
        if (!q_resident) {
          store_query(&pre_q, lid);
        }
        workgroupBarrier();
        if (s + 1u < nsteps) {
          let next_tile = (s + 1u) / nk;
          let next_kc = s + 1u - next_tile * nk;
          fetch_docs(&pre_d, lid, r0 + next_tile * TT, r1, next_kc);
          if (!q_resident) {
            fetch_query(&pre_q, lid, qb0, qb1, next_kc);
          }
        }
        compute_chunk(&acc, tq, tt, select(0u, kc * KDT, q_resident));
        if (kc + 1u == nk) {
          // The tile's dot products are complete: fold the real tokens into the running maxima.
          let t = r0 + tile * TT + tt;
          let valid = vec4<bool>(t < r1, t + TTH < r1, t + 2u * TTH < r1, t + 3u * TTH < r1);
          let token_scales = fold_scales(t, r1); // int8: each token's scale, applied before the max
          for (var i = 0u; i < RQ; i++) {
            run[i] = select(run[i], max(run[i], acc_value(acc[i], token_scales)), valid);
            acc[i] = acc_zero();
          }
        }
      }

      // Epilogue: maxima into row_max[doc][row], then per (query, document) sums over the query's rows.
      if (nd == 1u) {
        for (var i = 0u; i < RQ; i++) {
          let r = run[i];
          push_max(tq + TQ * i, max(max(r.x, r.y), max(r.z, r.w)), true);
        }
      } else {
        let rows = r1 - r0;
        for (var j = 0u; j < RT; j++) {
          let slot = tt + TTH * j;
          let ld = slot_doc[slot]; // stale for slot >= rows; unused then
          for (var i = 0u; i < RQ; i++) {
            push_max(ld * QT + tq + TQ * i, run[i][j], slot < rows);
          }
        }
      }
      workgroupBarrier();
      for (var p = lid; p < pairs; p += WG) {
        let lq = p / nd;
        let ld = p - lq * nd;
        let a = max(query_offsets[first_query + lq], qb0);
        let b = min(query_offsets[first_query + lq + 1u], qb1);
        var sum = 0.0;
        for (var r = a; r < b; r++) {
          sum += decode_max(atomicLoad(&row_max[ld * QT + r - qb0])) * row_scale(r);
        }
        if (single_block) {
          write_score(first_query + lq, first_doc + ld, sum);
        } else {
          total += sum;
        }
      }
      workgroupBarrier(); // row_max and q_tile are rewritten by the next block
    }

    if (!single_block) {
      if (lid < pairs) {
        write_score(first_query, first_doc + lid, total);
      }
    } else if (q_end == q_begin) {
      for (var p = lid; p < pairs; p += WG) {
        let lq = p / nd;
        write_score(first_query + lq, first_doc + p - lq * nd, 0.0);
      }
    }
    workgroupBarrier(); // group_bounds and slot_doc are rewritten by the next group
  }
}
