// The vocabulary of vLLM's binary encodings (docs/vllm-pooling.md §2.1, §3): element types, byte orders and
// wire formats, named once for the client, the decoders, the encoders and the /pooling stand-in.

/**
 * How vectors travel. `'float'`: nested JSON numbers (every vLLM version; slowest, ~20 bytes per value).
 * `'base64'`: one base64 string per input (every version; float32 only before v0.11.1). `'bytes'`: a binary body
 * plus a `metadata` header (v0.11.1+). `'bytes_only'`: binary body without metadata (≈v0.13+); the client
 * then needs each input's row count, which it gets from `/tokenize`.
 */
export type PoolingEncoding = 'float' | 'base64' | 'bytes' | 'bytes_only';

/** Every {@link PoolingEncoding}, oldest first (`bytes` from vLLM 0.11.1, `bytes_only` from ≈0.13). */
export const POOLING_ENCODINGS: readonly PoolingEncoding[] = ['float', 'base64', 'bytes', 'bytes_only'];

/** vLLM's `embed_dtype` values. */
export type EmbedDtype = 'float32' | 'float16' | 'bfloat16' | 'fp8_e4m3' | 'fp8_e5m2';

/** Bytes per element of each {@link EmbedDtype}; its keys, in vLLM's order, are {@link EMBED_DTYPES}. */
export const EMBED_DTYPE_BYTES: Readonly<Record<EmbedDtype, 1 | 2 | 4>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  fp8_e4m3: 1,
  fp8_e5m2: 1,
};

/** Every {@link EmbedDtype}, in the order vLLM lists them. */
export const EMBED_DTYPES = Object.keys(EMBED_DTYPE_BYTES) as readonly EmbedDtype[];

/** Byte order vLLM writes with `endianness`; `'native'` is the server's own order (little on x86-64/aarch64). */
export type Endianness = 'little' | 'big' | 'native';

/** Every {@link Endianness}, in the order vLLM lists them. */
export const ENDIANNESSES: readonly Endianness[] = ['native', 'big', 'little'];

/** A concrete byte order (what `endianness: "native"` resolves to on the server). */
export type ByteOrder = 'little' | 'big';
