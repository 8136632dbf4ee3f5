// Preloaded into a CLI process under test (`node --import ./peak-rss.mjs dist/cli.js ...`): when it exits, writes
// its peak resident set (VmHWM, Linux /proc) in MB to the file named by PEAK_RSS_FILE.
import { readFileSync, writeFileSync } from 'node:fs';

process.on('exit', () => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (m !== null && process.env.PEAK_RSS_FILE) writeFileSync(process.env.PEAK_RSS_FILE, String(Number(m[1]) / 1024));
});
