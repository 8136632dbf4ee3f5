// The store's vocabulary that its public types use, kept free of LanceDB and Arrow types so that the
// webgpu-maxsim/store declarations compile in projects that have not installed the optional peers.

/** The versions this store is built and tested against (LanceDB 0.31.0 accepts apache-arrow >=15 <=18.1.0). */
export const LANCEDB_VERSION = '0.31.0';
export const ARROW_VERSION = '18.1.0';

/** How token matrices are stored: `'f16'` (half the bytes, relative error ≤ 2⁻¹¹) or `'f32'` (exact). */
export type StorePrecision = 'f16' | 'f32';

/** What a store's schema metadata says about its vectors. */
export interface StoreLayout {
  readonly model: string;
  readonly dim: number;
  readonly precision: StorePrecision;
}
