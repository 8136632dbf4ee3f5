// The CLI's progress helper (src/cli/common.ts), on a collecting stream with a fake clock: a bar redrawn in place
// on a terminal, a line per tenth of the work otherwise, silence for small quick work and with --quiet.
import { describe, expect, it } from 'vitest';
import { cliProgress, count } from '../../src/cli/common.js';

function collector(isTTY: boolean) {
  const writes: string[] = [];
  let t = 0;
  return {
    output: { write: (text: string) => writes.push(text), isTTY, columns: 100 },
    writes,
    clock: { now: () => t, advance: (ms: number) => (t += ms) },
  };
}

describe('cliProgress', () => {
  it('plain output: one line per tenth of the work, counts with separators, the end exactly once', () => {
    const c = collector(false);
    const progress = cliProgress({ noun: 'documents', output: c.output, now: c.clock.now });
    for (let done = 0; done <= 5000; done += 32) progress.update('embedding', done, 5000);
    progress.update('embedding', 5000, 5000);
    progress.finish();
    expect(c.writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
    expect(c.writes[0]).toBe('embedding 0/5,000 documents 0%\n');
    expect(c.writes).toContain('embedding 1,024/5,000 documents 20%\n');
    expect(c.writes.at(-1)).toBe('embedding 5,000/5,000 documents 100%\n');
    expect(c.writes).toHaveLength(11);
  });

  it('on a terminal: a bar redrawn in place at most every 100 ms, each step on its own line', () => {
    const c = collector(true);
    const progress = cliProgress({ noun: 'documents', output: c.output, now: c.clock.now });
    for (let done = 0; done <= 3000; done += 300) {
      progress.update('embedding', done, 3000, 'texts');
      c.clock.advance(40);
    }
    progress.update('uploading', 1500, 3000);
    progress.update('uploading', 3000, 3000);
    progress.finish();
    const text = c.writes.join('');
    expect(text).toContain('\r\x1b[2Kembedding [#######-----------------] 900/3,000 texts 30%'); // redraws
    expect(c.writes.filter((w) => w.includes('embedding')).length).toBeLessThan(11); // throttled
    expect(text).toContain('embedding [########################] 3,000/3,000 texts 100%\n\r\x1b[2Kuploading');
    expect(text.endsWith('uploading [########################] 3,000/3,000 documents 100%\n')).toBe(true);
  });

  it('stays silent for small quick work, speaks once small work turns slow, and never with --quiet', () => {
    const small = collector(false);
    const quick = cliProgress({ noun: 'texts', output: small.output, now: small.clock.now });
    for (let done = 0; done <= 4; done++) quick.update('embedding', done, 4);
    quick.finish();
    expect(small.writes).toEqual([]);

    const slow = collector(false);
    const progress = cliProgress({ noun: 'texts', output: slow.output, now: slow.clock.now });
    progress.update('embedding', 0, 40);
    slow.clock.advance(1500);
    progress.update('embedding', 20, 40);
    expect(slow.writes).toEqual(['embedding 20/40 texts 50%\n']);

    const quiet = collector(true);
    const silent = cliProgress({ noun: 'documents', quiet: true, output: quiet.output, now: quiet.clock.now });
    for (let done = 0; done <= 5000; done += 500) silent.update('embedding', done, 5000);
    silent.finish();
    expect(quiet.writes).toEqual([]);
  });

  it('formats counts the same in every locale', () => {
    expect(count(1024)).toBe('1,024');
    expect(count(5_000_000)).toBe('5,000,000');
  });
});
