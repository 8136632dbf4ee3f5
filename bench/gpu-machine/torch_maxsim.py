"""A PyTorch (CUDA) MaxSim on the same shapes as W1, W2 and W5, timed with CUDA events: the on-device peer that
the WebGPU figures are read against in one run (run.sh calls it when python3 imports torch with a GPU).
Padded dense batches (every document 300 tokens, as in W1/W2/W5), scores = (D @ Q^T).max(tokens).sum(rows).
Prints one JSON line per case: {"peer": "torch", "workload", "dtype", "p50Ms", "tflops"}.
Random data of the same shapes, not the same numbers (the shapes set the time)."""
import json
import sys

import torch


def bench(workload, docs, tokens, dim, queries, rows, dtype, runs=20):
    g = torch.Generator(device="cuda").manual_seed(20261128)
    d = torch.randn(docs, tokens, dim, device="cuda", generator=g, dtype=torch.float32)
    d = torch.nn.functional.normalize(d, dim=-1).to(dtype)
    q = torch.randn(queries * rows, dim, device="cuda", generator=g, dtype=torch.float32)
    q = torch.nn.functional.normalize(q, dim=-1).to(dtype)

    def score():
        # [docs, tokens, queries*rows] -> max over tokens -> [docs, queries, rows] -> sum over rows.
        s = torch.matmul(d, q.T)
        return s.amax(dim=1).view(docs, queries, rows).float().sum(dim=2)

    for _ in range(3):
        score()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        score()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    p50 = times[len(times) // 2]
    flop = 2.0 * docs * tokens * dim * queries * rows
    print(json.dumps({"peer": "torch", "device": torch.cuda.get_device_name(0), "workload": workload,
                      "dtype": str(dtype).replace("torch.", ""), "p50Ms": round(p50, 4),
                      "tflops": round(flop / (p50 * 1e-3) / 1e12, 2)}), flush=True)
    del d, q
    torch.cuda.empty_cache()


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print("torch_maxsim.py: no CUDA device", file=sys.stderr)
        sys.exit(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    for dtype in (torch.float32, torch.float16):
        bench("W1", 1000, 300, 128, 1, 32, dtype)
        bench("W2", 10000, 300, 128, 1, 32, dtype)
        bench("W5", 1000, 300, 128, 64, 32, dtype)
