"""Score rollouts with a value checkpoint (PyTorch) or a critic bundle (onnxruntime) into a scores file.

    python -m passlens_training.evaluate.score --checkpoint runs/x/final --data DATASET_DIR_OR_SHARDS --out scores.jsonl
    python -m passlens_training.evaluate.score --bundle bundles/critic --data shards/rollouts-test-00000.jsonl --out scores.jsonl

Each rollout is scored over prompt_token_ids + token_ids (prompt truncated from the left to
--max-length); the file keeps the generated tokens' values and the index that ranks the
rollout (contracts: the last token that is not special), and what the baselines and the
gutter metric read from the rollout records: whether it is an independent sample, the
generator's log-probabilities, each token's code line and, for failing forks, the decisive
token (schema: contracts/schemas/scores-record.schema.json; docs/EVALUATION.md).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..contracts import extract_code, ranking_index
from ..records import ScoredRollout, read_rollouts, score_row, write_jsonl
from ..train.value_data import ValueExample, collate, to_example
from .gutter import decisive_indices, token_lines, token_spans


def _scored(e: ValueExample, values: Sequence[float], special_ids: Sequence[int]) -> ScoredRollout:
    return ScoredRollout(e.problem_id, e.rollout_id, e.label, tuple(float(v) for v in values), e.code_start,
                         ranking_index(e.input_ids[e.n_prompt:], special_ids))


def record_fields(records: Sequence[dict], tokenizer) -> dict[str, dict]:
    """rollout_id → the scores-record fields that come from the rollout records, not the critic."""
    decisive = decisive_indices(records)
    out = {}
    for r in records:
        code, offset = extract_code(r["text"])
        lines = token_lines(token_spans(tokenizer, r["token_ids"], r["text"]), r["text"], code, offset)
        logprobs = r.get("logprobs")
        out[r["rollout_id"]] = {
            "independent": (r.get("branch") or {}).get("role") == "independent",
            "logprobs": tuple(float(v) for v in logprobs) if logprobs and len(logprobs) == len(r["token_ids"]) else None,
            "token_lines": tuple(lines), "decisive_index": decisive.get(r["rollout_id"])}
    return out


def score_checkpoint(checkpoint: Path, examples: Sequence[ValueExample], batch_size: int,
                     torch_dtype: str = "auto") -> Iterator[ScoredRollout]:
    """torch_dtype "auto": bfloat16 on a GPU (a 14B critic in float32 needs 56 GB), float32 on CPU."""
    from transformers import AutoTokenizer

    from ..train.model import load_value_model, token_values

    special_ids = AutoTokenizer.from_pretrained(checkpoint).all_special_ids
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if torch_dtype == "auto":
        torch_dtype = "bfloat16" if device == "cuda" else "float32"
    model = load_value_model(checkpoint, torch_dtype=getattr(torch, torch_dtype)).to(device).eval()
    pad = model.config.pad_token_id or 0
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        batch = collate(chunk, pad)
        values = token_values(model, batch["input_ids"].to(device), batch["attention_mask"].to(device)).cpu()
        for row, e in enumerate(chunk):
            yield _scored(e, values[row, e.n_prompt:len(e.input_ids)].tolist(), special_ids)


def score_bundle(bundle: Path, examples: Sequence[ValueExample], dtype: str | None) -> Iterator[ScoredRollout]:
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from ..export.critic_bundle import read_manifest, run_onnx

    manifest = read_manifest(bundle)
    special_ids = AutoTokenizer.from_pretrained(bundle).all_special_ids
    variant = dtype or manifest["dtype"]
    if variant not in manifest["files"]:
        raise ValueError(f"bundle {bundle} has no {variant} variant; it has {sorted(manifest['files'])}")
    session = ort.InferenceSession(str(bundle / manifest["files"][variant]["path"]), providers=["CPUExecutionProvider"])
    for e in examples:
        ids = np.array([e.input_ids], dtype=np.int64)
        values, _ = run_onnx(session, manifest, ids, np.ones_like(ids))
        yield _scored(e, values[0, e.n_prompt:], special_ids)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m passlens_training.evaluate.score", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="value model folder (train's output_dir/final)")
    src.add_argument("--bundle", type=Path, help="critic bundle folder (export's output)")
    ap.add_argument("--data", nargs="+", required=True, help="rollout shard files or a dataset folder (its test shards)")
    ap.add_argument("--split", default="test", help="split whose shards a dataset folder contributes (default test)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-length", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--dtype", help="bundle variant (fp32|fp16|int8|int4); default the manifest's")
    ap.add_argument("--torch-dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                    help="checkpoint weights' dtype (auto: bfloat16 on a GPU, float32 on CPU)")
    args = ap.parse_args(argv)
    try:
        records = read_rollouts(args.data, args.split)
        examples = [e for e in (to_example(r, args.max_length) for r in records) if e is not None]
        skipped = len(records) - len(examples)
        if not examples:
            raise ValueError("no rollout to score (empty shards, or every generation longer than --max-length)")
        from transformers import AutoTokenizer

        fields = record_fields(records, AutoTokenizer.from_pretrained(args.checkpoint or args.bundle))
        rows = score_checkpoint(args.checkpoint, examples, args.batch_size, args.torch_dtype) if args.checkpoint else score_bundle(args.bundle, examples, args.dtype)
        write_jsonl(args.out, (score_row(dataclasses.replace(r, **fields[r.rollout_id]))
                               for r in tqdm(rows, total=len(examples), desc="score")))
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"score: {exc}") from exc
    print(f"scored {len(examples)} rollouts → {args.out}" + (f" ({skipped} skipped: empty or longer than --max-length)" if skipped else ""))


if __name__ == "__main__":
    main()
