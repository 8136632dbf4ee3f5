// The Node entry: everything the universal core has, plus Node-only wiring (Dawn, undici, files).
export * from './index.js';
// Explicit exports shadow the core's star-exported names: the Node createScorer supplies Dawn (node-webgpu.ts)
// and worker_threads for the CPU backend (node-cpu-workers.ts).
export { loadDawnGpu } from './node/dawn.js';
export { createScorer, nodeCpuOptions, nodeCpuWorkerFactory } from './node/cpu-workers.js';
export {
  startPoolingServer,
  POOLING_SERVER_CONFIG_COMMANDS,
  type PoolingServer,
  type PoolingServerConfig,
  type PoolingServerFault,
  type PoolingServerMode,
  type PoolingServerOptions,
  type PoolingServerRequest,
  type PoolingTaskName,
} from './testing/pooling-server.js';
export { serveHandler, type RunningServer } from './node/serve.js';
export {
  createNodePoolingClient,
  nodeBase64Decoder,
  NodePoolingClient,
  NODE_POOLING_MAX_HEADER_SIZE,
  type NodePoolingClientOptions,
} from './node/pooling-client.js';
