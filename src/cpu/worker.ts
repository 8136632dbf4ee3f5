// Web Worker entry for the CPU backend's threads (browsers, Deno, Bun): started by the core as
// `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`. Node uses node-cpu-worker.ts.
import { createCpuWorkerHandler, type CpuWorkerRequest } from './worker-protocol.js';

interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;
const handle = createCpuWorkerHandler((reply, transfer) => scope.postMessage(reply, transfer));
scope.onmessage = (event) => handle(event.data as CpuWorkerRequest);
