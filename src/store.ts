// The store entry (`webgpu-maxsim/store`, Node only): a LanceDB-backed document store that indexes texts
// once (token matrices and pooled vectors on disk or object storage) and searches them many times with the
// MaxSim scorer. LanceDB and Apache Arrow are optional peer dependencies, loaded on first use.
export {
  contentId,
  openStore,
  sqlString,
  Store,
  type AddOptions,
  type AddProgress,
  type AddResult,
  type FirstStage,
  type FirstStageRecall,
  type MatrixDocument,
  type OpenStoreOptions,
  type ResidentStats,
  type StoreHit,
  type StorePrecision,
  type StoreSearchOptions,
  type StoreSearchResult,
  type StoredDocument,
  type TextDocument,
} from './store/store.js';
export {
  StoreError,
  StoreFilterError,
  StoreMismatchError,
  StoreNotFoundError,
  StoreUnavailableError,
} from './store/errors.js';
export { ARROW_VERSION, LANCEDB_VERSION } from './store/layout.js';
export {
  createSearchHandler,
  type DocumentSearcher,
  type SearchResultJson,
  type SearchServiceOptions,
} from './service/search-handler.js';
