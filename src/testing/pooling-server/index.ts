// The vLLM /pooling stand-in (see server.ts): its public names.
export {
  POOLING_SERVER_CONFIG_COMMANDS,
  startPoolingServer,
  type PoolingServer,
  type PoolingServerConfig,
  type PoolingServerFault,
  type PoolingServerMode,
  type PoolingServerOptions,
  type PoolingServerRequest,
  type PoolingTaskName,
} from './server.js';
