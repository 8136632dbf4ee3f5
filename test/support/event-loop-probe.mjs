// Preloaded into a server process under test (`node --import ./event-loop-probe.mjs dist/cli.js serve ...`, with
// an IPC channel): measures how long its event loop was blocked and its peak RSS, without changing the server.
// The parent sends 'reset' and 'report'; the report is
//   { maxDelayMs, p99DelayMs }  wall-clock event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution),
//   { maxBlockedMs }            the longest gap between 10 ms ticks during which the main thread was on a CPU:
//                               min(wall gap, main-thread CPU time in the gap + one clock tick). A machine shared
//                               with other work may deschedule the process for a while; that stretches wall time
//                               but not CPU time, so this counts only blocking the server itself caused,
//   { maxGcMs }                 the longest garbage collection pause,
//   { peakRssMb }               VmHWM, the high-water mark of the resident set since the process started.
// Linux only (/proc).
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const TICK_MS = 10;
const histogram = monitorEventLoopDelay({ resolution: TICK_MS });
histogram.enable();

/** User + system CPU time of the main thread (its task id is the pid), in ms (clock ticks are 10 ms). */
function mainThreadCpuMs() {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

let maxGcMs = 0;
let maxGcKind = '';
const GC_KINDS = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.duration <= maxGcMs) continue;
    maxGcMs = entry.duration;
    maxGcKind = GC_KINDS[entry.detail?.kind] ?? String(entry.detail?.kind);
  }
}).observe({ entryTypes: ['gc'] });

let lastWall = performance.now();
let lastCpu = mainThreadCpuMs();
let maxBlockedMs = 0;
setInterval(() => {
  const wall = performance.now();
  const cpu = mainThreadCpuMs();
  const gap = wall - lastWall - TICK_MS;
  const onCpu = cpu - lastCpu + 10;
  maxBlockedMs = Math.max(maxBlockedMs, Math.min(gap, onCpu));
  lastWall = wall;
  lastCpu = cpu;
}, TICK_MS).unref();

function peakRssMb() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

process.on('message', (message) => {
  if (message === 'reset') {
    histogram.reset();
    maxBlockedMs = 0;
    maxGcMs = 0;
    process.send?.('reset-done');
  } else if (message === 'report') {
    process.send?.({
      maxDelayMs: histogram.max / 1e6,
      p99DelayMs: histogram.percentile(99) / 1e6,
      maxBlockedMs,
      maxGcMs,
      maxGcKind,
      heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
      peakRssMb: peakRssMb(),
    });
  }
});
process.channel?.unref();
