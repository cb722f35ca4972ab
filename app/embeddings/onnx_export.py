"""Export a sentence-transformers model's transformer to ONNX (and two int8 copies), from local files only.

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
Q8_FILE = "model-q8.onnx"
# The int8 copies' blocks: a scale per 32 weights (and per 32 activations at run time) keeps the
# vectors within 0.97 top-10 neighbour overlap of float32; one scale per output channel drops it to 0.87.
Q8_BLOCK = 32


def export(model_dir: Path, out_dir: Path) -> None:
    """Write OUT_DIR/model.onnx (float32), model-int8.onnx (int8 per channel) and model-q8.onnx (int8 in blocks)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The tracer's notes about shapes it treats as constant: the graph is checked against PyTorch's
    # vectors on real batches of every length (tests/test_onnx.py).
    warnings.filterwarnings("ignore", category=UserWarning)
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
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
    # Int8 weights in blocks of Q8_BLOCK with a scale each (ONNX Runtime's MatMulNBits), multiplied
    # in int8 with the activations quantised per block too (accuracy level 4): the matrix products
    # read a quarter of the bytes, which is what a short search text's encoding waits on.
    blocks = MatMulNBitsQuantizer(
        onnx.load(str(partial)), bits=8, block_size=Q8_BLOCK, is_symmetric=True, accuracy_level=4
    )
    blocks.process()
    partial_q8 = out_dir / f".{Q8_FILE}.partial"
    blocks.model.save_model_to_file(str(partial_q8), use_external_data_format=False)
    # Renamed last: a reader sees a whole file or none.
    partial_q8.replace(out_dir / Q8_FILE)
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
