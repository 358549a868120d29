"""PyTorch eager side of benchmarks/critic/bench_append.ts: the same appends on the same weights.

stdin JSON: {"checkpoint", "messages", "context_text", "appends": [[str, ...] per kind], "threads"}
stdout JSON: {"load_seconds", "prime": {"tokens", "seconds"}, "appends": [{"tokens", "seconds"} per kind (medians)], "max_rss_kb"}

The prompt + context is scored once with the cache on (prime); each append then re-tokenises
context + append, cuts a copy of that cache to the unchanged prefix and runs the rest, as the
runtime does (copy and cut not timed); float32, eval mode, no grad.
"""
import json
import resource
import statistics
import sys
import time

import torch
from transformers import AutoTokenizer, DynamicCache

from passlens_training.train.model import cache_kwargs, load_value_model


def main():
    req = json.load(sys.stdin)
    torch.set_num_threads(req["threads"])
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(req["checkpoint"])
    model = load_value_model(req["checkpoint"], torch_dtype=torch.float32).eval()
    load_seconds = time.perf_counter() - start
    enc = lambda text: tok.encode(text, add_special_tokens=False)  # noqa: E731
    prompt = enc(tok.apply_chat_template(req["messages"], add_generation_prompt=True, tokenize=False))
    context = prompt + enc(req["context_text"])
    out = {"load_seconds": load_seconds}
    with torch.no_grad():
        start = time.perf_counter()
        base = model.model(input_ids=torch.tensor([context]), use_cache=True).past_key_values
        out["prime"] = {"tokens": len(context), "seconds": time.perf_counter() - start}
        kinds = []
        context_ids = enc(req["context_text"])
        for chunks in req["appends"]:
            times, tokens = [], []
            for chunk in chunks:
                # As the runtime does: re-tokenise, keep the unchanged prefix, score the rest.
                ids = enc(req["context_text"] + chunk)
                same = next((i for i, (a, b) in enumerate(zip(context_ids, ids)) if a != b), min(len(context_ids), len(ids)))
                ids = ids[same:]
                cache = DynamicCache(ddp_cache_data=[(layer.keys.clone(), layer.values.clone()) for layer in base.layers])
                n = len(prompt) + same
                if n < len(context):
                    cache.crop(n - len(context))  # transformers: a negative count of positions to drop
                start = time.perf_counter()
                hidden = model.model(input_ids=torch.tensor([ids]), position_ids=torch.arange(n, n + len(ids))[None], use_cache=True,
                                     **cache_kwargs(cache)).last_hidden_state
                torch.sigmoid(model.score(hidden))
                times.append(time.perf_counter() - start)
                tokens.append(len(ids))
            kinds.append({"tokens": statistics.mean(tokens), "seconds": statistics.median(times)})
        out["appends"] = kinds
    out["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
