// Scripted failures for tests: the next matching requests get a chosen status, body, Retry-After, a hang or a
// reset instead of the real answer.
import type { ServerResponse } from 'node:http';
import { HttpError, errorTypeFor, sendError } from './envelope.js';
import type { PoolingServerFault, PoolingServerRequest, ServerState } from './server.js';

/** The first queued fault that matches `entry`, counted down (and dropped when used up). */
export function takeFault(state: ServerState, entry: PoolingServerRequest): PoolingServerFault | undefined {
  for (let i = 0; i < state.faults.length; i++) {
    const slot = state.faults[i]!;
    const matches =
      slot.fault.match?.(entry) ??
      (entry.method === 'POST' && (entry.path === '/pooling' || entry.path === '/invocations'));
    if (!matches) continue;
    slot.left--;
    if (slot.left <= 0) state.faults.splice(i, 1);
    return slot.fault;
  }
  return undefined;
}

/** Answers with a fault's status, headers and body (vLLM's envelope when it has no body). */
export function sendFault(state: ServerState, res: ServerResponse, fault: PoolingServerFault): void {
  const status = fault.status ?? 503;
  const headers: Record<string, string> = { ...fault.headers };
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  if (fault.body === undefined) {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    sendError(state, res, new HttpError(status, errorTypeFor(status), `Injected failure (HTTP ${status})`));
    return;
  }
  const text = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
  const hasType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  if (!hasType) headers['content-type'] = typeof fault.body === 'string' ? 'text/plain' : 'application/json';
  headers['content-length'] = String(Buffer.byteLength(text));
  res.writeHead(status, headers);
  res.end(text);
}
