"""PyTorch eager side of the critic benchmark (benchmarks/critic/bench.ts runs it).

stdin JSON: {"checkpoint", "messages", "full_text", "context_text", "chunks": [str], "threads", "repeats"}
stdout JSON: {"full": {"tokens", "seconds"}, "rescore": {"tokens", "seconds"}, "append": {"tokens", "seconds"}}
Timings are medians over `repeats` runs; the model is run in float32, eval mode, no grad.
"""
import json
import statistics
import sys
import time

import torch
from transformers import AutoTokenizer, DynamicCache

from passlens_training.train.model import load_value_model


def median_seconds(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    req = json.load(sys.stdin)
    torch.set_num_threads(req["threads"])
    tok = AutoTokenizer.from_pretrained(req["checkpoint"])
    model = load_value_model(req["checkpoint"], torch_dtype=torch.float32).eval()
    prompt = tok.encode(tok.apply_chat_template(req["messages"], add_generation_prompt=True, tokenize=False), add_special_tokens=False)
    enc = lambda text: tok.encode(text, add_special_tokens=False)  # noqa: E731
    full = torch.tensor([prompt + enc(req["full_text"])])
    context = prompt + enc(req["context_text"])
    out = {}
    with torch.no_grad():
        out["full"] = {"tokens": full.shape[1], "seconds": median_seconds(lambda: model(input_ids=full), req["repeats"])}
        ctx = torch.tensor([context])
        out["rescore"] = {"tokens": ctx.shape[1], "seconds": median_seconds(lambda: model(input_ids=ctx), req["repeats"])}
        # Appends: the cache of the context, then each chunk's new tokens on top of it.
        base = model.model(input_ids=ctx, use_cache=True).past_key_values
        chunk_ids = [enc(req["context_text"] + c)[len(enc(req["context_text"])):] for c in req["chunks"]]
        times, tokens = [], 0
        for ids in chunk_ids:
            cache = DynamicCache(ddp_cache_data=[(layer.keys.clone(), layer.values.clone()) for layer in base.layers])
            n = len(context)
            start = time.perf_counter()
            hidden = model.model(input_ids=torch.tensor([ids]), position_ids=torch.arange(n, n + len(ids))[None], cache=cache, use_cache=True).last_hidden_state
            torch.sigmoid(model.score(hidden))
            times.append(time.perf_counter() - start)
            tokens += len(ids)
        out["append"] = {"tokens": tokens / len(chunk_ids), "seconds": statistics.median(times)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
