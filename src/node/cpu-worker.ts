// Node `worker_threads` entry for the CPU backend's threads; started by node-cpu-workers.ts.
import { parentPort } from 'node:worker_threads';
import { createCpuWorkerHandler, type CpuWorkerRequest } from '../cpu/worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('node-cpu-worker.js runs as a worker thread, started by webgpu-maxsim/node');
const handle = createCpuWorkerHandler((reply, transfer) => port.postMessage(reply, transfer));
port.on('message', (request: CpuWorkerRequest) => handle(request));
