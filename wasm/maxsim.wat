;; Fused MaxSim in WebAssembly 128-bit SIMD (f32x4). Assembled by scripts/build-wasm.mjs (wabt) into
;; dist/maxsim.wasm and the embedded src/cpu/maxsim-wasm-bytes.ts; never edit those by hand.
;;
;; Standard SIMD only: no relaxed-simd (Node 20's V8 lacks it without flags), so no FMA: mul then add.
;; scripts/build-wasm.mjs also assembles a relaxed-SIMD build of this file, every
;; (f32x4.add (local.get $aXY) (f32x4.mul A B)) rewritten as (f32x4.relaxed_madd A B (local.get $aXY)); the
;; engine uses it where WebAssembly.validate accepts it. Keep the multiply-adds in that shape.
;;
;; Memory (imported as env.memory, owned by the caller; see src/cpu-wasm-kernel.ts for the layout code):
;;   documents  row r at $docs + r * $chunks * 16: each row padded with zeros to a multiple of 4 floats, so
;;              every load is a whole, 16-byte aligned v128 and no lane reads a neighbouring row.
;;   offsets    u32 row offsets, document i is rows offsets[i] .. offsets[i + 1] (count + 1 entries).
;;   query      interleaved in blocks of 4 rows: block b, chunk c holds rows 4b..4b+3, columns 4c..4c+3,
;;              as 4 consecutive v128s (64 bytes), so one pointer walks a whole 4-row block. Missing rows
;;              in the last block are zeros: their best dot product is exactly 0, adding nothing.
;;   maxima     $qBlocks v128 scratch: the running max of each query row against the current document.
;;   out        f32 per document, at $out + doc * 4: the raw 'sum' score.
;;
;; Loop order, per document: for each pair of document tokens, for each 4-row query block, 8 dot products
;; (4 rows x 2 tokens) accumulate in 8 v128 locals over the chunks; one horizontal transpose-add per token
;; turns 4 accumulators into the 4 rows' dot products, and a lane-wise max folds them into the maxima.
;; Each document token is read from memory once per document (the 1 KB pair stays in L1 while all query
;; blocks pass over it); the query (16 KB for 32 x 128) stays in L1 throughout. The similarity matrix is
;; never written. An odd last token goes through the same loop with 4 accumulators.
;; The maxima of a document are summed in f64 and rounded once to f32.
(module
  (import "env" "memory" (memory 1))

  ;; Scores documents [$first, $end) against one query; see the layout above.
  (func (export "maxsim")
    (param $q i32) (param $qBlocks i32) (param $chunks i32) (param $maxima i32)
    (param $docs i32) (param $offsets i32) (param $first i32) (param $end i32) (param $out i32)
    (local $doc i32) (local $t i32) (local $stop i32) (local $rowBytes i32) (local $qBytes i32)
    (local $qp i32) (local $qEnd i32) (local $blockEnd i32) (local $mp i32) (local $mEnd i32)
    (local $d0 i32) (local $d1 i32) (local $p0 i32) (local $p1 i32)
    (local $x0 v128) (local $x1 v128) (local $w v128) (local $m v128) (local $u v128) (local $v v128)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $total f64)
    (local.set $rowBytes (i32.shl (local.get $chunks) (i32.const 4)))
    (local.set $qBytes (i32.mul (local.get $qBlocks) (i32.shl (local.get $chunks) (i32.const 6))))
    (local.set $qEnd (i32.add (local.get $q) (local.get $qBytes)))
    (local.set $mEnd (i32.add (local.get $maxima) (i32.shl (local.get $qBlocks) (i32.const 4))))
    (local.set $doc (local.get $first))
    (block $docs_done
      (loop $each_doc
        (br_if $docs_done (i32.ge_u (local.get $doc) (local.get $end)))
        (local.set $t (i32.load (i32.add (local.get $offsets) (i32.shl (local.get $doc) (i32.const 2)))))
        (local.set $stop
          (i32.load offset=4 (i32.add (local.get $offsets) (i32.shl (local.get $doc) (i32.const 2)))))
        (block $scored
          ;; A query with no rows scores 0 (even against an empty document); an empty document -Infinity.
          (if (i32.eqz (local.get $qBlocks))
            (then (f32.store (i32.add (local.get $out) (i32.shl (local.get $doc) (i32.const 2))) (f32.const 0))
                  (br $scored)))
          (if (i32.eq (local.get $t) (local.get $stop))
            (then (f32.store (i32.add (local.get $out) (i32.shl (local.get $doc) (i32.const 2))) (f32.const -inf))
                  (br $scored)))
          (local.set $mp (local.get $maxima))
          (loop $reset
            (v128.store (local.get $mp) (f32x4.splat (f32.const -inf)))
            (local.set $mp (i32.add (local.get $mp) (i32.const 16)))
            (br_if $reset (i32.lt_u (local.get $mp) (local.get $mEnd))))
          (local.set $d0 (i32.add (local.get $docs) (i32.mul (local.get $t) (local.get $rowBytes))))
          ;; Pairs of tokens.
          (block $pairs_done
            (loop $each_pair
              (br_if $pairs_done (i32.gt_u (i32.add (local.get $t) (i32.const 2)) (local.get $stop)))
              (local.set $d1 (i32.add (local.get $d0) (local.get $rowBytes)))
              (local.set $qp (local.get $q))
              (local.set $mp (local.get $maxima))
              (loop $each_block
                (local.set $blockEnd (i32.add (local.get $qp) (i32.shl (local.get $chunks) (i32.const 6))))
                (local.set $p0 (local.get $d0))
                (local.set $p1 (local.get $d1))
                (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a01 (v128.const i32x4 0 0 0 0))
                (local.set $a10 (v128.const i32x4 0 0 0 0)) (local.set $a11 (v128.const i32x4 0 0 0 0))
                (local.set $a20 (v128.const i32x4 0 0 0 0)) (local.set $a21 (v128.const i32x4 0 0 0 0))
                (local.set $a30 (v128.const i32x4 0 0 0 0)) (local.set $a31 (v128.const i32x4 0 0 0 0))
                (loop $each_chunk
                  (local.set $x0 (v128.load (local.get $p0)))
                  (local.set $x1 (v128.load (local.get $p1)))
                  (local.set $w (v128.load (local.get $qp)))
                  (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $w) (local.get $x0))))
                  (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $w) (local.get $x1))))
                  (local.set $w (v128.load offset=16 (local.get $qp)))
                  (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $w) (local.get $x0))))
                  (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $w) (local.get $x1))))
                  (local.set $w (v128.load offset=32 (local.get $qp)))
                  (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (local.get $w) (local.get $x0))))
                  (local.set $a21 (f32x4.add (local.get $a21) (f32x4.mul (local.get $w) (local.get $x1))))
                  (local.set $w (v128.load offset=48 (local.get $qp)))
                  (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (local.get $w) (local.get $x0))))
                  (local.set $a31 (f32x4.add (local.get $a31) (f32x4.mul (local.get $w) (local.get $x1))))
                  (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
                  (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
                  (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
                  (br_if $each_chunk (i32.lt_u (local.get $qp) (local.get $blockEnd))))
                ;; Horizontal sums, transposed: lane i = dot(query row 4b+i, token).
                (local.set $u (f32x4.add
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a00) (local.get $a10))
                  (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a00) (local.get $a10))))
                (local.set $v (f32x4.add
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a20) (local.get $a30))
                  (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a20) (local.get $a30))))
                (local.set $x0 (f32x4.add
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u) (local.get $v))
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u) (local.get $v))))
                (local.set $u (f32x4.add
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a01) (local.get $a11))
                  (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a01) (local.get $a11))))
                (local.set $v (f32x4.add
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a21) (local.get $a31))
                  (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a21) (local.get $a31))))
                (local.set $x1 (f32x4.add
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u) (local.get $v))
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u) (local.get $v))))
                (v128.store (local.get $mp)
                  (f32x4.pmax (f32x4.pmax (v128.load (local.get $mp)) (local.get $x0)) (local.get $x1)))
                (local.set $mp (i32.add (local.get $mp) (i32.const 16)))
                (br_if $each_block (i32.lt_u (local.get $qp) (local.get $qEnd))))
              (local.set $d0 (i32.add (local.get $d1) (local.get $rowBytes)))
              (local.set $t (i32.add (local.get $t) (i32.const 2)))
              (br $each_pair)))
          ;; The odd last token.
          (if (i32.lt_u (local.get $t) (local.get $stop))
            (then
              (local.set $qp (local.get $q))
              (local.set $mp (local.get $maxima))
              (loop $each_block
                (local.set $blockEnd (i32.add (local.get $qp) (i32.shl (local.get $chunks) (i32.const 6))))
                (local.set $p0 (local.get $d0))
                (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a10 (v128.const i32x4 0 0 0 0))
                (local.set $a20 (v128.const i32x4 0 0 0 0)) (local.set $a30 (v128.const i32x4 0 0 0 0))
                (loop $each_chunk
                  (local.set $x0 (v128.load (local.get $p0)))
                  (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (v128.load (local.get $qp)) (local.get $x0))))
                  (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (v128.load offset=16 (local.get $qp)) (local.get $x0))))
                  (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (v128.load offset=32 (local.get $qp)) (local.get $x0))))
                  (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (v128.load offset=48 (local.get $qp)) (local.get $x0))))
                  (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
                  (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
                  (br_if $each_chunk (i32.lt_u (local.get $qp) (local.get $blockEnd))))
                (local.set $u (f32x4.add
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a00) (local.get $a10))
                  (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a00) (local.get $a10))))
                (local.set $v (f32x4.add
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a20) (local.get $a30))
                  (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a20) (local.get $a30))))
                (local.set $x0 (f32x4.add
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u) (local.get $v))
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u) (local.get $v))))
                (v128.store (local.get $mp) (f32x4.pmax (v128.load (local.get $mp)) (local.get $x0)))
                (local.set $mp (i32.add (local.get $mp) (i32.const 16)))
                (br_if $each_block (i32.lt_u (local.get $qp) (local.get $qEnd))))))
          ;; Sum the maxima in f64, in row order.
          (local.set $total (f64.const 0))
          (local.set $mp (local.get $maxima))
          (loop $sum
            (local.set $m (v128.load (local.get $mp)))
            (local.set $total (f64.add (local.get $total) (f64.promote_f32 (f32x4.extract_lane 0 (local.get $m)))))
            (local.set $total (f64.add (local.get $total) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $m)))))
            (local.set $total (f64.add (local.get $total) (f64.promote_f32 (f32x4.extract_lane 2 (local.get $m)))))
            (local.set $total (f64.add (local.get $total) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $m)))))
            (local.set $mp (i32.add (local.get $mp) (i32.const 16)))
            (br_if $sum (i32.lt_u (local.get $mp) (local.get $mEnd))))
          (f32.store (i32.add (local.get $out) (i32.shl (local.get $doc) (i32.const 2)))
            (f32.demote_f64 (local.get $total))))
        (local.set $doc (i32.add (local.get $doc) (i32.const 1)))
        (br $each_doc))))
)
