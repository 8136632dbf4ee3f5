;; Fused MaxSim over int8 documents, in WebAssembly 128-bit integer SIMD (i32x4.dot_i16x8_s).
;;
;; Not a module of its own: these are module fields that scripts/build-wasm.mjs splices into wasm/maxsim.wat's
;; module, so the one maxsim.wasm (embedded, and shipped as webgpu-maxsim/maxsim.wasm) holds both kernels and
;; both use the imported env.memory. Standard SIMD only, like the f32 kernel.
;;
;; Storage (src/cpu/wasm-int8-kernel.ts lays it out; src/core/int8.ts quantizes):
;;   documents  row r at $docs + r * $chunks * 8: its int8 values, zero-padded to a multiple of 8 bytes, so a
;;              v128.load8x8_s of 8 values never reads a neighbouring row.
;;   scales     f32 per document row at $scales + r * 4: the row is int8 x scale (scale = max|row| / 127).
;;   offsets    u32 row offsets, document i is rows offsets[i] .. offsets[i + 1] (count + 1 entries).
;;   query      int16, quantized per row with its own scale to at most Q levels (Q set by the caller from the
;;              dim, below), interleaved in blocks of 4 rows: block b, chunk c holds rows 4b..4b+3, columns
;;              8c..8c+7, as 4 consecutive v128s of i16x8 (64 bytes). Missing rows are zeros with scale 0.
;;   qScales    f32 per query row, 4 per block (a v128 per block), 0 for missing rows.
;;   maxima     $qBlocks v128 scratch; out: f32 per document at $out + doc * 4, the raw 'sum' score.
;;
;; No overflow: |query value| <= Q and |document value| <= 127 with Q * 127 * dim <= 2^31 - 1 (the caller takes
;; Q = min(32767, floor((2^31 - 1) / (127 * dim))) and refuses dim > 133,144, where Q would drop below 127). Every
;; integer this kernel adds up - one lane of an i32x4.dot_i16x8_s (2 products), an accumulator lane, each step of
;; the horizontal sum, the whole dot product - is a sum of some of the products q_k * d_k of one row and one token,
;; so its magnitude is at most sum_k |q_k * d_k| <= dim * Q * 127 <= 2^31 - 1: no i32 ever wraps.
;;
;; Per query row r and document token t, with the integer dot product D (exact):
;;   value = f32(D) * f32(qScale_r * dScale_t)    (f32 arithmetic: the combined scale cannot overflow where the
;;                                                 scorer's E_SCORE_OVERFLOW check passes)
;; the max over tokens in f32, the maxima summed in f64 in row order and rounded once to f32, exactly what the
;; TypeScript int8 kernel (src/cpu/int8-kernel.ts) computes: the two agree bit for bit.
;; Loop order as in the f32 kernel: pairs of tokens, 4-row query blocks, 8 accumulators over the chunks.

;; Scores documents [$first, $end) against one query; see the layout above.
(func (export "maxsim_int8")
  (param $q i32) (param $qScales i32) (param $qBlocks i32) (param $chunks i32) (param $maxima i32)
  (param $docs i32) (param $scales i32) (param $offsets i32) (param $first i32) (param $end i32) (param $out i32)
  (local $doc i32) (local $t i32) (local $stop i32) (local $rowBytes i32) (local $qBytes i32)
  (local $qp i32) (local $qEnd i32) (local $blockEnd i32) (local $mp i32) (local $mEnd i32) (local $sp i32)
  (local $d0 i32) (local $d1 i32) (local $p0 i32) (local $p1 i32)
  (local $x0 v128) (local $x1 v128) (local $w v128) (local $m v128) (local $u v128) (local $v v128)
  (local $s0 v128) (local $s1 v128) (local $c v128)
  (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
  (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
  (local $total f64)
  (local.set $rowBytes (i32.shl (local.get $chunks) (i32.const 3)))
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
            (local.set $s0 (f32x4.splat
              (f32.load (i32.add (local.get $scales) (i32.shl (local.get $t) (i32.const 2))))))
            (local.set $s1 (f32x4.splat
              (f32.load offset=4 (i32.add (local.get $scales) (i32.shl (local.get $t) (i32.const 2))))))
            (local.set $qp (local.get $q))
            (local.set $mp (local.get $maxima))
            (local.set $sp (local.get $qScales))
            (loop $each_block
              (local.set $blockEnd (i32.add (local.get $qp) (i32.shl (local.get $chunks) (i32.const 6))))
              (local.set $p0 (local.get $d0))
              (local.set $p1 (local.get $d1))
              (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a01 (v128.const i32x4 0 0 0 0))
              (local.set $a10 (v128.const i32x4 0 0 0 0)) (local.set $a11 (v128.const i32x4 0 0 0 0))
              (local.set $a20 (v128.const i32x4 0 0 0 0)) (local.set $a21 (v128.const i32x4 0 0 0 0))
              (local.set $a30 (v128.const i32x4 0 0 0 0)) (local.set $a31 (v128.const i32x4 0 0 0 0))
              (loop $each_chunk
                ;; 8 int8 values of each token, sign-extended to i16x8.
                (local.set $x0 (v128.load8x8_s (local.get $p0)))
                (local.set $x1 (v128.load8x8_s (local.get $p1)))
                (local.set $w (v128.load (local.get $qp)))
                (local.set $a00 (i32x4.add (local.get $a00) (i32x4.dot_i16x8_s (local.get $w) (local.get $x0))))
                (local.set $a01 (i32x4.add (local.get $a01) (i32x4.dot_i16x8_s (local.get $w) (local.get $x1))))
                (local.set $w (v128.load offset=16 (local.get $qp)))
                (local.set $a10 (i32x4.add (local.get $a10) (i32x4.dot_i16x8_s (local.get $w) (local.get $x0))))
                (local.set $a11 (i32x4.add (local.get $a11) (i32x4.dot_i16x8_s (local.get $w) (local.get $x1))))
                (local.set $w (v128.load offset=32 (local.get $qp)))
                (local.set $a20 (i32x4.add (local.get $a20) (i32x4.dot_i16x8_s (local.get $w) (local.get $x0))))
                (local.set $a21 (i32x4.add (local.get $a21) (i32x4.dot_i16x8_s (local.get $w) (local.get $x1))))
                (local.set $w (v128.load offset=48 (local.get $qp)))
                (local.set $a30 (i32x4.add (local.get $a30) (i32x4.dot_i16x8_s (local.get $w) (local.get $x0))))
                (local.set $a31 (i32x4.add (local.get $a31) (i32x4.dot_i16x8_s (local.get $w) (local.get $x1))))
                (local.set $p0 (i32.add (local.get $p0) (i32.const 8)))
                (local.set $p1 (i32.add (local.get $p1) (i32.const 8)))
                (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
                (br_if $each_chunk (i32.lt_u (local.get $qp) (local.get $blockEnd))))
              ;; Horizontal sums, transposed: lane i = dot(query row 4b+i, token), exact in i32.
              (local.set $u (i32x4.add
                (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a00) (local.get $a10))
                (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a00) (local.get $a10))))
              (local.set $v (i32x4.add
                (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a20) (local.get $a30))
                (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a20) (local.get $a30))))
              (local.set $x0 (i32x4.add
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u) (local.get $v))
                (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u) (local.get $v))))
              (local.set $u (i32x4.add
                (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a01) (local.get $a11))
                (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a01) (local.get $a11))))
              (local.set $v (i32x4.add
                (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a21) (local.get $a31))
                (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a21) (local.get $a31))))
              (local.set $x1 (i32x4.add
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u) (local.get $v))
                (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u) (local.get $v))))
              ;; To f32, times (query row scale x token scale), into the running maxima.
              (local.set $c (v128.load (local.get $sp)))
              (local.set $x0 (f32x4.mul (f32x4.convert_i32x4_s (local.get $x0)) (f32x4.mul (local.get $c) (local.get $s0))))
              (local.set $x1 (f32x4.mul (f32x4.convert_i32x4_s (local.get $x1)) (f32x4.mul (local.get $c) (local.get $s1))))
              (v128.store (local.get $mp)
                (f32x4.pmax (f32x4.pmax (v128.load (local.get $mp)) (local.get $x0)) (local.get $x1)))
              (local.set $mp (i32.add (local.get $mp) (i32.const 16)))
              (local.set $sp (i32.add (local.get $sp) (i32.const 16)))
              (br_if $each_block (i32.lt_u (local.get $qp) (local.get $qEnd))))
            (local.set $d0 (i32.add (local.get $d1) (local.get $rowBytes)))
            (local.set $t (i32.add (local.get $t) (i32.const 2)))
            (br $each_pair)))
        ;; The odd last token.
        (if (i32.lt_u (local.get $t) (local.get $stop))
          (then
            (local.set $s0 (f32x4.splat
              (f32.load (i32.add (local.get $scales) (i32.shl (local.get $t) (i32.const 2))))))
            (local.set $qp (local.get $q))
            (local.set $mp (local.get $maxima))
            (local.set $sp (local.get $qScales))
            (loop $each_block
              (local.set $blockEnd (i32.add (local.get $qp) (i32.shl (local.get $chunks) (i32.const 6))))
              (local.set $p0 (local.get $d0))
              (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a10 (v128.const i32x4 0 0 0 0))
              (local.set $a20 (v128.const i32x4 0 0 0 0)) (local.set $a30 (v128.const i32x4 0 0 0 0))
              (loop $each_chunk
                (local.set $x0 (v128.load8x8_s (local.get $p0)))
                (local.set $a00 (i32x4.add (local.get $a00) (i32x4.dot_i16x8_s (v128.load (local.get $qp)) (local.get $x0))))
                (local.set $a10 (i32x4.add (local.get $a10) (i32x4.dot_i16x8_s (v128.load offset=16 (local.get $qp)) (local.get $x0))))
                (local.set $a20 (i32x4.add (local.get $a20) (i32x4.dot_i16x8_s (v128.load offset=32 (local.get $qp)) (local.get $x0))))
                (local.set $a30 (i32x4.add (local.get $a30) (i32x4.dot_i16x8_s (v128.load offset=48 (local.get $qp)) (local.get $x0))))
                (local.set $p0 (i32.add (local.get $p0) (i32.const 8)))
                (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
                (br_if $each_chunk (i32.lt_u (local.get $qp) (local.get $blockEnd))))
              (local.set $u (i32x4.add
                (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a00) (local.get $a10))
                (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a00) (local.get $a10))))
              (local.set $v (i32x4.add
                (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a20) (local.get $a30))
                (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a20) (local.get $a30))))
              (local.set $x0 (i32x4.add
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u) (local.get $v))
                (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u) (local.get $v))))
              (local.set $x0 (f32x4.mul (f32x4.convert_i32x4_s (local.get $x0))
                (f32x4.mul (v128.load (local.get $sp)) (local.get $s0))))
              (v128.store (local.get $mp) (f32x4.pmax (v128.load (local.get $mp)) (local.get $x0)))
              (local.set $mp (i32.add (local.get $mp) (i32.const 16)))
              (local.set $sp (i32.add (local.get $sp) (i32.const 16)))
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
