"""The embedding path on a CUDA GPU (`MOVIEREC_DEVICE`): the same vectors as on the CPU, and how fast.

    python -m bench.gpu prepare          # here: inputs for the GPU machine, in .movierec-gpu/
    python -m bench.gpu run --out F      # on the GPU machine (no database, no network): JSON to F
    python -m bench.gpu report F         # here: the JSON into docs/benchmarks.md

A GPU machine here is lent for minutes, has no network and takes at most 64 MiB of files, so `prepare`
packs what `run` needs: the recipe texts of every Wikipedia film, the vectors PyTorch makes on this
machine's CPU for a sample of 1,000 of them, the labelled search texts, and the bundled model with its
weights stored as float16 (45 MB against 91). `run` widens the weights back to float32 and loads the
model through `load_embedder`, as the pipeline and the API do, once per device. Its CPU and CUDA
vectors come from the same weights; the CPU vectors made here, from the original ones, show what the
float16 copy itself changes.

The GPU machine's Python has torch and sentence-transformers but not pydantic(-settings); the recorded
run carried their wheels in .movierec-gpu/wheels and ran `pip install --no-index --target /tmp/site
.movierec-gpu/wheels/*.whl`, then `PYTHONPATH=/tmp/site:. python3 -m bench.gpu run --out gpu.json`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.vectors import neighbour_overlap

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ROOT / ".movierec-gpu"
SAMPLE = 1000
SECTION = "gpu"


def prepare(folder: Path) -> None:
    """Texts, reference vectors, search texts and the float16 model, for `run` elsewhere."""
    from safetensors.numpy import load_file, save_file

    from app.embeddings.model import load_embedder
    from app.embeddings.paths import resolve_model_path
    from app.evaluation.search import load_queries
    from app.settings import BUNDLED_MODEL, Settings
    from bench.embed import _texts
    from bench.report import SHARED_DATA

    source = SHARED_DATA / "wikipedia-movies" / "movies.json.gz"
    if not source.exists():
        sys.exit(f"skipped: {source} not found (the benchmark reads ../shared/data)")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    texts = _texts(source)
    sample = sorted(random.Random(1).sample(range(len(texts)), SAMPLE))
    queries = [q.text for q in load_queries()]
    with gzip.open(folder / "texts.json.gz", "wt") as handle:
        json.dump({"texts": texts, "sample": sample, "queries": queries}, handle)
    reference = load_embedder(Settings(encoder="torch", device="cpu")).encode([texts[i] for i in sample])
    np.save(folder / "reference.npy", reference)
    model = Path(resolve_model_path(BUNDLED_MODEL))
    shutil.copytree(model, folder / "model", ignore=shutil.ignore_patterns("*.safetensors", "README.md"))
    weights = load_file(str(model / "model.safetensors"))
    save_file(
        {name: array.astype(np.float16) for name, array in weights.items()}, str(folder / "model" / "model.safetensors")
    )
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    print(f"prepared {folder}: {len(texts)} texts, {SAMPLE} reference vectors, {size / 2**20:.1f} MiB")


def _float32_model(folder: Path, target: Path) -> Path:
    from safetensors.numpy import load_file, save_file

    shutil.copytree(folder / "model", target, dirs_exist_ok=True)
    weights = load_file(str(folder / "model" / "model.safetensors"))
    save_file({name: array.astype(np.float32) for name, array in weights.items()}, str(target / "model.safetensors"))
    return target


def _rate(embedder: Any, texts: list[str]) -> float:
    embedder.encode(texts[:256])  # warm-up: kernels, allocator, thread pool
    started = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def _one_text_ms(embedder: Any, queries: list[str]) -> float:
    for text in queries[:10]:
        embedder.encode([text])
    times = []
    for _ in range(3):
        for text in queries:
            started = time.perf_counter()
            embedder.encode([text])
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def run(folder: Path, cpu_texts: int, device: str = "cuda", films: int | None = None) -> dict[str, Any]:
    """Vectors and speed on CUDA against the CPU, through the product's own loading code.

    `device` is the one under test (`cpu` runs every step here, for the script's own check).
    """
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("skipped: this torch sees no CUDA device (run it on a GPU machine)")

    from app.embeddings.model import DeviceUnavailable, load_embedder, resolve_device
    from app.settings import Settings

    with gzip.open(folder / "texts.json.gz", "rt") as handle:
        inputs = json.load(handle)
    texts, queries = inputs["texts"][:films], inputs["queries"]
    sample = [inputs["texts"][i] for i in inputs["sample"]]
    model = str(_float32_model(folder, Path("/tmp/movierec-gpu-model")))
    refused = {}
    for name in ("cuda:0", f"cuda:{torch.cuda.device_count()}", "cuda:x"):
        try:
            refused[name] = f"accepted as {resolve_device(name)}"
        except DeviceUnavailable as error:
            refused[name] = str(error)
    try:  # what a missing device did before resolve_device refused it: torch fails at the first tensor
        torch.zeros(1, device=f"cuda:{torch.cuda.device_count()}")
        unchecked = "no error"
    except Exception as error:
        unchecked = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    facts = {
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else device,
        "torch": torch.__version__,
        "cpu_cores": os.cpu_count(),
        "auto": resolve_device("auto"),
        "refused": refused,
        "unchecked": unchecked,
    }

    def embedder(device: str, batch: int, threads: int = 0) -> Any:
        return load_embedder(
            Settings(model=model, encoder="torch", device=device, batch_size=batch, torch_threads=threads)
        )

    cuda, cpu = embedder(device, 64), embedder("cpu", 64)
    on_cuda, on_cpu = cuda.encode(sample), cpu.encode(sample)
    reference = np.load(folder / "reference.npy")
    agreement = {
        "cosine_min_cuda_cpu": float(np.min(np.sum(on_cuda * on_cpu, axis=1))),
        "overlap_cuda_cpu": neighbour_overlap(on_cpu, on_cuda),
        "cosine_min_cuda_reference": float(np.min(np.sum(on_cuda * reference, axis=1))),
        "overlap_cuda_reference": neighbour_overlap(reference, on_cuda),
        "overlap_cpu_reference": neighbour_overlap(reference, on_cpu),
    }
    rates = {f"{device}, batch {b}": _rate(embedder(device, b), texts) for b in (64, 256, 1024)}
    rates[f"cpu, batch 64, {os.cpu_count()} cores"] = _rate(cpu, texts[:cpu_texts])
    one_text = {"cuda": _one_text_ms(cuda, queries), "cpu, 1 thread": _one_text_ms(embedder("cpu", 64, 1), queries)}
    memory = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else 0.0
    return {
        "facts": facts,
        "films": len(texts),
        "agreement": agreement,
        "films_per_s": rates,
        "one_text_ms": one_text,
        "cuda_peak_mib": memory,
    }


def report(result: dict[str, Any], measured_at: str) -> str:
    """The docs section: agreement first (the guard), then speed."""
    facts, agreement = result["facts"], result["agreement"]
    cpu_rate = next(rate for name, rate in result["films_per_s"].items() if name.startswith("cpu"))
    rows = "\n".join(f"| {name} | {rate:,.0f} |" for name, rate in result["films_per_s"].items())
    refused = "; ".join(f"`{device}`: {answer}" for device, answer in facts["refused"].items())
    return f"""## Embedding on a CUDA GPU (`python -m bench.gpu`)

Measured {measured_at} on a lent GPU machine: {facts["gpu"]}, {facts["cpu_cores"]} CPU cores, torch {facts["torch"]}.
The bundled all-MiniLM-L6-v2 travelled with its weights as float16 (the machine takes 64 MiB of
files) and was widened back to float32 there; the model was loaded through `load_embedder`, as the
pipeline and the API load it, once with `MOVIEREC_DEVICE=cuda` and once with `cpu`. `auto` chose
`{facts["auto"]}`. Texts: the embedding recipe's text of each of the {result["films"]:,} Wikipedia films.

| agreement, {SAMPLE:,} films | value |
|---|---:|
| lowest cosine, CUDA against CPU (the same weights) | {agreement["cosine_min_cuda_cpu"]:.7f} |
| top-10 neighbour overlap, CUDA against CPU | {agreement["overlap_cuda_cpu"]:.3f} |
| lowest cosine, CUDA against this repository's CPU vectors (original float32 weights) | {agreement["cosine_min_cuda_reference"]:.7f} |
| top-10 neighbour overlap, CUDA against those | {agreement["overlap_cuda_reference"]:.3f} |
| top-10 neighbour overlap, the GPU machine's CPU against those (what the float16 copy changes) | {agreement["overlap_cpu_reference"]:.3f} |

| bare `encode`, films/s | rate |
|---|---:|
{rows}

The whole catalogue's texts take {result["films"] / max(result["films_per_s"].values()):.0f} s to encode on the GPU at its best
batch ({max(result["films_per_s"].values()) / cpu_rate:.1f}x the machine's {facts["cpu_cores"]} CPU cores). One search text at a time (the 72 labelled queries, 3 rounds): {result["one_text_ms"]["cuda"]:.2f} ms p50 on
CUDA, {result["one_text_ms"]["cpu, 1 thread"]:.2f} ms on one CPU thread of that machine. Peak GPU memory
allocated: {result["cuda_peak_mib"]:.0f} MiB. A lone short text gains little from the GPU; for search texts the
API's ONNX encoders on a CPU answer faster (`onnx-q8`: about 1 ms
per search text on this repository's 2-core machine, in the embedding section). `MOVIEREC_DEVICE` moves
the PyTorch encoder only; the ONNX encoders run on the CPU (onnxruntime's CPU build). Device names are checked before any model
loads: {refused} (torch itself fails only when the first tensor moves there: {facts["unchecked"]}).
"""


def main() -> None:
    """prepare | run | report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["prepare", "run", "report"])
    parser.add_argument("result", nargs="?", type=Path, help="report: the JSON that run wrote")
    parser.add_argument("--inputs", type=Path, default=INPUTS)
    parser.add_argument("--out", type=Path, help="run: where to write the JSON")
    parser.add_argument("--cpu-texts", type=int, default=3000, help="run: films encoded on the CPU for its rate")
    parser.add_argument("--device", default="cuda", help="run: the device under test (cpu: a check of this script)")
    parser.add_argument("--films", type=int, help="run: encode only this many films for the rates")
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.inputs)
    elif args.step == "run":
        result = run(args.inputs, args.cpu_texts, args.device, args.films)
        result["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        text = json.dumps(result, indent=2)
        if args.out:
            args.out.write_text(text)
        print(text)
    else:
        from bench.report import write_section

        if args.result is None:
            sys.exit("report needs the JSON file that `run` wrote")
        result = json.loads(args.result.read_text())
        write_section(SECTION, report(result, result["measured_at"]))


if __name__ == "__main__":
    main()
