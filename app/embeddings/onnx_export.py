"""Export a sentence-transformers model's transformer to ONNX (and an int8 copy), from local files only.

Run in its own process (`python -m app.embeddings.onnx_export MODEL_DIR OUT_DIR`), so the process that
serves with ONNX Runtime never imports torch. Pooling and normalising stay outside the graph, in numpy.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"


def export(model_dir: Path, out_dir: Path) -> None:
    """Write OUT_DIR/model.onnx (float32) and OUT_DIR/model-int8.onnx (dynamic int8 weights)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The tracer's notes about shapes it treats as constant: the graph is checked against PyTorch's
    # vectors on real batches of every length (tests/test_onnx.py).
    warnings.filterwarnings("ignore", category=UserWarning)
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    out_dir.mkdir(parents=True, exist_ok=True)
    # Eager attention exports to plain MatMul/Softmax, which ONNX Runtime fuses and runs about a third
    # faster than the scaled-dot-product form (8.5 s vs 11.2 s for 600 Wikipedia texts here).
    transformer = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")
    transformer.eval()

    class Encoder(torch.nn.Module):
        """The transformer's token vectors for (ids, mask, token types), passed by name."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            hidden: torch.Tensor = out.last_hidden_state
            return hidden

    model = Encoder().eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    inputs = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    axes = {0: "batch", 1: "tokens"}
    partial = out_dir / f".{FILE}.partial"
    with torch.no_grad():
        torch.onnx.export(
            model,
            inputs,
            str(partial),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    partial_int8 = out_dir / f".{INT8_FILE}.partial"
    # Per-channel int8 weights on the matrix products only: the least accuracy lost among the dynamic
    # schemes tried (docs/benchmarks.md); activations stay float.
    quantize_dynamic(
        str(partial), str(partial_int8), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
    )
    # Renamed last: a reader sees a whole file or none.
    partial_int8.replace(out_dir / INT8_FILE)
    partial.replace(out_dir / FILE)


def main() -> None:
    """Command line: MODEL_DIR OUT_DIR."""
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    export(args.model_dir, args.out_dir)


if __name__ == "__main__":
    main()
