// The numpy reference for the benchmark harness: python3 scores the same bytes the library scores, in the same
// invocation, so every figure can be read as a ratio against what a Python reranker would do. Node-only.
//
// numpy's MaxSim is the usual one: one GEMM of the query rows against every document token, the max over each
// document's tokens with np.maximum.reduceat, then the sum over query rows. The data travels over stdin (a JSON
// header line, then the packed documents, row offsets and queries as little-endian binary), never through a
// temporary file. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the subprocess's environment only:
// machines that set them to dodge old OpenBLAS bugs make numpy slower than it would be for a user.
import { spawn } from 'node:child_process';
import { BenchmarkError } from './errors.js';
import type { WorkloadData } from './workloads.js';

/** The BLAS numpy used, as the subprocess found it. */
export interface NumpyBlas {
  /** e.g. `OpenBLAS 0.3.27 (Zen, 2 threads)`, or what could be read. */
  readonly summary: string;
  readonly threads: number | null;
  readonly coretype: string | null;
}

/** numpy's timings for one document count. */
export interface NumpySize {
  readonly docs: number;
  readonly firstMs: number;
  readonly warmup: number;
  readonly timesMs: readonly number[];
  /** Scores at the sample documents, one row per sample query. */
  readonly sampleScores: readonly (readonly number[])[];
  /** Why fewer runs than asked, if so. */
  readonly runsNote: string;
}

/** A numpy run over one workload at several document counts. */
export interface NumpyRun {
  readonly numpyVersion: string;
  readonly pythonVersion: string;
  readonly blas: NumpyBlas;
  readonly sizes: readonly NumpySize[];
}

/** What {@link runNumpyReference} measures. */
export interface NumpyOptions {
  /** Document counts to time (prefixes of `data`, each ≤ its count). */
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly warmup: number;
  /** Fewest timed runs when the budget would allow fewer. */
  readonly minRuns: number;
  /** Seconds of timed runs per size, beyond which runs are cut (to `minRuns` at least). */
  readonly budgetS: number;
  /** Sample document indices per size (keyed by size) and the sample queries, for the error check. */
  readonly sampleDocs: (docs: number) => readonly number[];
  readonly sampleQueries: readonly number[];
  /** The python executable; default `python3` (or `$PYTHON`). */
  readonly python?: string;
}

/** The Python side; reads the header and data from stdin, prints one JSON object on stdout. */
const NUMPY_MAXSIM_SCRIPT = `
import ctypes, json, platform, sys, time
import numpy as np

def blas_info():
    info = {'summary': 'unknown BLAS', 'threads': None, 'coretype': None}
    cfg = np.show_config(mode='dicts') if 'mode' in np.show_config.__code__.co_varnames else {}
    try:
        blas = cfg['Build Dependencies']['blas']
        info['summary'] = '%s %s' % (blas.get('name'), blas.get('version'))
    except (KeyError, TypeError):
        pass
    # The OpenBLAS numpy loaded is in this process's memory map; ask it which core kernel and threads it uses.
    try:
        with open('/proc/self/maps') as maps:
            paths = sorted({l.split()[-1] for l in maps if 'openblas' in l.lower() and l.split()[-1].startswith('/')})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ('64_', ''):
            for prefix in ('scipy_openblas_', 'openblas_'):
                core = getattr(lib, prefix + 'get_corename' + suffix, None)
                if core is None:
                    continue
                core.restype = ctypes.c_char_p
                info['coretype'] = core().decode()
                threads = getattr(lib, prefix + 'get_num_threads' + suffix, None)
                if threads is not None:
                    threads.restype = ctypes.c_int
                    info['threads'] = threads()
                config = getattr(lib, prefix + 'get_config' + suffix, None)
                if config is not None:
                    config.restype = ctypes.c_char_p
                    info['summary'] = config().decode().strip()
                return info
    return info

def read_exact(n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sys.stdin.buffer.readinto(view[got:])
        if not k:
            raise EOFError('stdin ended after %d of %d bytes' % (got, n))
        got += k
    return buf

head = json.loads(sys.stdin.buffer.readline())
dim, lq, nq = head['dim'], head['lq'], head['queries']
D_all = np.frombuffer(read_exact(head['totalRows'] * dim * 4), dtype='<f4').reshape(-1, dim)
offsets = np.frombuffer(read_exact((head['count'] + 1) * 4), dtype='<u4').astype(np.intp)
Q = np.frombuffer(read_exact(nq * lq * dim * 4), dtype='<f4').reshape(nq * lq, dim)
# Queries per GEMM: all of them unless the similarity block would pass ~256 MB (W5 against many documents).
def maxsim(D, starts):
    per = max(1, min(nq, (64 << 20) // max(1, D.shape[0] * lq)))
    out = np.empty((nq, len(starts)), dtype=np.float32)
    for q0 in range(0, nq, per):
        q1 = min(nq, q0 + per)
        S = Q[q0 * lq:q1 * lq] @ D.T                                # one GEMM: [rows, tokens]
        M = np.maximum.reduceat(S, starts, axis=1)                  # max over each document's tokens
        out[q0:q1] = M.reshape(q1 - q0, lq, len(starts)).sum(axis=1)  # sum over query rows
    return out

results = []
for size in head['sizes']:
    docs = size['docs']
    D = D_all[:offsets[docs]]
    starts = offsets[:docs]
    t = time.perf_counter(); scores = maxsim(D, starts); first = time.perf_counter() - t
    for _ in range(head['warmup']):
        t = time.perf_counter(); maxsim(D, starts); last = time.perf_counter() - t
    per_run = last if head['warmup'] > 0 else first
    runs = head['runs']
    note = ''
    if per_run * runs > head['budgetS']:
        runs = max(head['minRuns'], min(runs, int(head['budgetS'] / max(per_run, 1e-9))))
        if runs < head['runs']:
            note = 'runs cut to %d of %d to fit the %g s budget' % (runs, head['runs'], head['budgetS'])
    times = []
    for _ in range(runs):
        t = time.perf_counter(); maxsim(D, starts); times.append((time.perf_counter() - t) * 1000)
    sample = [[float(scores[q, d]) for d in size['sampleDocs']] for q in head['sampleQueries']]
    results.append({'docs': docs, 'firstMs': first * 1000, 'warmup': head['warmup'], 'timesMs': times,
                    'sampleScores': sample, 'runsNote': note})

json.dump({'numpyVersion': np.__version__, 'pythonVersion': platform.python_version(),
           'blas': blas_info(), 'sizes': results}, sys.stdout)
`;

/**
 * The environment numpy runs in: this process's, without `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE`.
 *
 * @example
 * numpyEnvironment({ OPENBLAS_CORETYPE: 'Haswell', PATH: '/usr/bin' }); // { PATH: '/usr/bin' }
 */
export function numpyEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.OPENBLAS_CORETYPE;
  delete copy.OPENBLAS_L2_SIZE;
  return copy;
}

/**
 * Times numpy's MaxSim on prefixes of `data` (the same bytes the library scored) in a python3 subprocess.
 * Throws {@link BenchmarkError} `E_BENCH_DEPENDENCY` when python3 or numpy is missing.
 *
 * @example
 * const run = await runNumpyReference(generateWorkload(WORKLOADS.W1), {
 *   sizes: [1000], runs: 20, warmup: 2, minRuns: 5, budgetS: 10, sampleDocs: () => [0], sampleQueries: [0],
 * });
 * run.sizes[0].timesMs; // 20 timings
 */
export async function runNumpyReference(data: WorkloadData, options: NumpyOptions): Promise<NumpyRun> {
  const { packed, queries, spec } = data;
  const largest = Math.max(...options.sizes);
  const totalRows = packed.rowOffsets[largest]!;
  const header = {
    dim: packed.dim,
    lq: spec.lq,
    queries: queries.length,
    totalRows,
    count: largest,
    runs: options.runs,
    warmup: options.warmup,
    minRuns: options.minRuns,
    budgetS: options.budgetS,
    sampleQueries: options.sampleQueries,
    sizes: [...options.sizes].sort((a, b) => a - b).map((docs) => ({ docs, sampleDocs: options.sampleDocs(docs) })),
  };
  const queryData = new Float32Array(queries.length * spec.lq * packed.dim);
  queries.forEach((q, i) => {
    queryData.set(q.data, i * spec.lq * packed.dim);
  });
  const python = options.python ?? process.env.PYTHON ?? 'python3';
  const child = spawn(python, ['-c', NUMPY_MAXSIM_SCRIPT], {
    env: numpyEnvironment(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => stdout.push(b));
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
  // A python that dies early closes stdin; the exit code and stderr then say why, so write errors are dropped.
  child.stdin.on('error', () => undefined);
  const bytes = (a: Float32Array | Uint32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  child.stdin.write(`${JSON.stringify(header)}\n`);
  child.stdin.write(bytes(packed.data.subarray(0, totalRows * packed.dim)));
  child.stdin.write(bytes(packed.rowOffsets.subarray(0, largest + 1)));
  child.stdin.end(bytes(queryData));
  let code: number;
  try {
    code = await exited;
  } catch (err) {
    throw new BenchmarkError(
      'E_BENCH_DEPENDENCY',
      `could not start ${python} for the numpy reference (${err instanceof Error ? err.message : String(err)}); ` +
        'install python3 with numpy, set PYTHON to one, or leave numpy out of --backend',
      { cause: err },
    );
  }
  const errText = Buffer.concat(stderr).toString('utf8').trim();
  if (code !== 0) {
    if (/No module named .?numpy/.test(errText)) {
      throw new BenchmarkError(
        'E_BENCH_DEPENDENCY',
        `${python} has no numpy (pip install numpy, or set PYTHON to a python3 that has it), or leave numpy out of --backend`,
      );
    }
    throw new BenchmarkError(
      'E_BENCH_SUBPROCESS',
      `the numpy reference exited with code ${code}: ${errText.slice(-2000)}`,
    );
  }
  try {
    return JSON.parse(Buffer.concat(stdout).toString('utf8')) as NumpyRun;
  } catch (err) {
    throw new BenchmarkError('E_BENCH_SUBPROCESS', `the numpy reference printed no JSON: ${errText.slice(-500)}`, {
      cause: err,
    });
  }
}
