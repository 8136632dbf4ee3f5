"""Corpus files from and for Python, with numpy, struct and json only (the `safetensors` package is not needed).

    python3 corpus_numpy.py write DIR    writes corpora as a Python user would, plus queries and numpy's MaxSim
    python3 corpus_numpy.py check FILE EXPECTED_DIR
                                          reads a file webgpu-maxsim wrote and compares it with what the library
                                          decoded (EXPECTED_DIR/values.f32, texts.json) and with the source values
                                          (EXPECTED_DIR/source.f32, for the int8 rounding rule)

Used by test/core/corpus-file-numpy.test.ts. Works with numpy 1.24 (Debian 12) and 2.x.
"""

import json
import struct
import sys
from pathlib import Path

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "U32": np.uint32, "I8": np.int8, "U8": np.uint8, "BF16": np.uint16}


def save(path, tensors, metadata=None, pad=True):
    """A safetensors writer: tensors (name -> (dtype, array)) laid out in the order given."""
    header = {} if metadata is None else {"__metadata__": metadata}
    blobs, at = [], 0
    for name, (dtype, array) in tensors.items():
        blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    text = json.dumps(header).encode("utf-8")
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load(path):
    """A safetensors reader: (header dict, {name: numpy array}), each tensor from np.frombuffer."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    start = 8 + n
    arrays = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<")
        arrays[name] = np.frombuffer(raw, dtype=dtype, count=(end - begin) // dtype.itemsize,
                                     offset=start + begin).reshape(entry["shape"])
    return header, arrays, n


def strings(values):
    """UTF-8 bytes of every string back to back, and their byte offsets."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def maxsim(query, embeddings, offsets):
    """numpy's MaxSim in float64: one GEMM, the max over each document's rows, the sum over query rows."""
    sims = query.astype(np.float64) @ embeddings.astype(np.float64).T
    # A document with no rows scores -inf; JSON has no -inf, so it travels as null.
    return [float(sims[:, a:b].max(axis=1).sum()) if b > a else None
            for a, b in zip(offsets[:-1], offsets[1:])]


def bf16(values):
    """bfloat16 bits, rounded to nearest even from float32."""
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def quantize(values, offsets_unused=None):
    """Per-row symmetric int8: scale = max|x| / 127 (float32), q = round half to even (x / scale)."""
    scales = (np.abs(values).max(axis=1) / 127).astype(np.float32)
    safe = np.where(scales > 0, scales, 1).astype(np.float64)
    q = np.clip(np.round(values.astype(np.float64) / safe[:, None]), -127, 127).astype(np.int8)
    return q, scales


def write(out):
    out = Path(out)
    rng = np.random.default_rng(2026)
    dim = 64
    rows = [int(r) for r in rng.integers(1, 40, size=30)]
    rows[7] = 0  # a document with no tokens
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(rows)
    embeddings = rng.standard_normal((int(offsets[-1]), dim)).astype(np.float32)
    embeddings /= np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    queries = [rng.standard_normal((lq, dim)).astype(np.float32) for lq in (1, 8, 32)]
    queries = [q / np.linalg.norm(q, axis=1, keepdims=True) for q in queries]
    ids = [f"passage-{i:03d}" for i in range(len(rows))]
    texts = [f"Passage {i}: caf\u00e9 \u6771\u4eac" if i % 3 == 0 else f"Passage {i}" for i in range(len(rows))]
    id_bytes, id_offsets = strings(ids)
    text_bytes, text_offsets = strings(texts)
    meta = {"format": "webgpu-maxsim.corpus", "version": "1", "model": "numpy/random", "dim": str(dim),
            "documents": str(len(rows)), "written_by": "numpy " + np.__version__}

    q8, scales = quantize(embeddings)
    half = embeddings.astype(np.float16)
    files = {
        # Largest elements first, as safetensors writes them; with ids and texts.
        "f32": ({"offsets": ("I64", offsets), "id_offsets": ("I64", id_offsets), "text_offsets": ("I64", text_offsets),
                 "embeddings": ("F32", embeddings), "ids": ("U8", id_bytes), "texts": ("U8", text_bytes)},
                embeddings, True, meta),
        "f16": ({"offsets": ("I32", offsets.astype(np.int32)), "embeddings": ("F16", half)},
                half.astype(np.float32), True, meta),
        "bf16": ({"offsets": ("U32", offsets.astype(np.uint32)), "embeddings": ("BF16", bf16(embeddings))},
                 (bf16(embeddings).astype(np.uint32) << 16).view(np.float32), True, meta),
        "int8": ({"offsets": ("I64", offsets), "scales": ("F32", scales), "embeddings": ("I8", q8)},
                 q8.astype(np.float32) * scales[:, None], True, meta),
        # numpy's default float64, no __metadata__ at all, and no header padding: the minimal file.
        "f64-plain": ({"offsets": ("I64", offsets), "embeddings": ("F64", embeddings.astype(np.float64))},
                      embeddings, False, None),
    }
    expected = {"dim": dim, "rows": rows, "ids": ids, "texts": texts, "metadata": meta,
                "queries": [q.tolist() for q in queries], "scores": {}}
    for name, (tensors, stored, pad, metadata) in files.items():
        save(out / f"{name}.safetensors", tensors, metadata, pad)
        expected["scores"][name] = [maxsim(q, stored, offsets) for q in queries]
    (out / "expected.json").write_text(json.dumps(expected))
    print(json.dumps({"files": sorted(files), "numpy": np.__version__}))


def check(path, expected_dir):
    expected_dir = Path(expected_dir)
    header, arrays, n = load(path)
    meta = header["__metadata__"]
    problems = []
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        problems.append("metadata values must be strings")
    if (8 + n) % 8 != 0:
        problems.append(f"data starts at {8 + n}, not 8-byte aligned")
    dtypes = {name: entry["dtype"] for name, entry in header.items() if name != "__metadata__"}
    for name, entry in header.items():
        if name != "__metadata__" and entry["data_offsets"][0] % np.dtype(DTYPES[entry["dtype"]]).itemsize:
            problems.append(f"{name} is not aligned to its element size")
    offsets = arrays["offsets"].astype(np.int64)
    emb = arrays["embeddings"]
    if emb.shape[1] != int(meta["dim"]) or len(offsets) - 1 != int(meta["documents"]):
        problems.append("metadata dim/documents disagree with the tensors")
    if offsets[0] != 0 or offsets[-1] != emb.shape[0] or np.any(np.diff(offsets) < 0):
        problems.append("offsets are not 0..rows and non-decreasing")
    if dtypes["embeddings"] == "I8":
        values = emb.astype(np.float32) * arrays["scales"][:, None]
    else:
        values = emb.astype(np.float32)
    expected_values = np.fromfile(expected_dir / "values.f32", dtype="<f4").reshape(values.shape)
    mismatches = int(np.count_nonzero(values != expected_values))
    requantized = None
    if dtypes["embeddings"] == "I8":
        source = np.fromfile(expected_dir / "source.f32", dtype="<f4").reshape(values.shape)
        q, scales = quantize(source)
        requantized = {"values": int(np.count_nonzero(q != emb)),
                       "scales": int(np.count_nonzero(scales != arrays["scales"]))}
    decoded = {}
    for kind, offsets_name in (("ids", "id_offsets"), ("texts", "text_offsets")):
        if kind in arrays:
            raw, at = arrays[kind].tobytes(), arrays[offsets_name]
            decoded[kind] = [raw[a:b].decode("utf-8") for a, b in zip(at[:-1], at[1:])]
    expected_texts = json.loads((expected_dir / "texts.json").read_text())
    print(json.dumps({
        "dtypes": dtypes, "metadata": meta, "shape": list(emb.shape), "offsets": offsets.tolist(),
        "value_mismatches": mismatches, "requantized_mismatches": requantized,
        "strings_match": decoded == expected_texts, "problems": problems,
    }))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {sys.argv[1]!r}")
