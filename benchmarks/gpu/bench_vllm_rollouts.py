"""vLLM forking-rollout throughput on one GPU, with and without prefix caching.

    python benchmarks/gpu/bench_vllm_rollouts.py [--problems 64 --max-new-tokens 512]

A random model of Phi-4-mini's shape (Phi-3 architecture, 32 layers, hidden 3072, 24/8 heads,
vocab 200,064; bf16) is built on the GPU and saved once; no download. Prompts are random token
ids of a typical APPS prompt length; no tokenizer (skip_tokenizer_init). Per problem: a trunk,
then K forks × M samples continuing from trunk prefixes at random positions, all problems
batched together as build-dataset's vllm backend does. Each setting runs in its own process
(vLLM keeps GPU memory until exit). Prints rollouts/s against the paper's 0.93 rollouts/s on 4 GPUs.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

PAPER_ROLLOUTS_PER_S_PER_GPU = 36 * 4449 / (48 * 3600) / 4


def build_model(path: Path) -> None:
    if (path / "config.json").is_file():
        return
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    config = Phi3Config(vocab_size=200064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
                        num_attention_heads=24, num_key_value_heads=8, max_position_embeddings=8192,
                        original_max_position_embeddings=8192, partial_rotary_factor=0.75, tie_word_embeddings=True,
                        bos_token_id=199999, eos_token_id=199999, pad_token_id=199999)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Phi3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(path)


def run_one(model: str, caching: bool, problems: int, k: int, m: int, prompt_len: int, max_new: int) -> dict:
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    llm = LLM(model=model, skip_tokenizer_init=True, enable_prefix_caching=caching, max_model_len=prompt_len + max_new + 8,
              gpu_memory_utilization=0.85, seed=0, logprobs_mode="processed_logprobs")
    rng = random.Random(0)
    prompts = [[rng.randrange(1000, 100000) for _ in range(prompt_len)] for _ in range(problems)]

    def params(n, max_tokens, seed):
        return SamplingParams(n=n, temperature=1.0, max_tokens=max_tokens, logprobs=0, seed=seed, detokenize=False,
                              ignore_eos=True)

    llm.generate([TokensPrompt(prompt_token_ids=[5] * prompt_len)], params(1, 8, 0), use_tqdm=False)  # warm-up
    start = time.perf_counter()
    trunks = llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts],
                          [params(1, max_new, i) for i in range(problems)], use_tqdm=False)
    fork_prompts, fork_params = [], []
    for i, (prompt, out) in enumerate(zip(prompts, trunks)):
        trunk = out.outputs[0]
        assert len(trunk.logprobs) == len(trunk.token_ids)
        for rank, pos in enumerate(sorted(rng.sample(range(max_new), k))):
            fork_prompts.append(TokensPrompt(prompt_token_ids=prompt + list(trunk.token_ids[:pos])))
            fork_params.append(params(m, max_new - pos, i * k + rank))
    branches = llm.generate(fork_prompts, fork_params, use_tqdm=False)
    seconds = time.perf_counter() - start
    rollouts = problems + sum(len(b.outputs) for b in branches)
    return {"prefix_caching": caching, "rollouts": rollouts, "seconds": seconds, "rollouts_per_s": rollouts / seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", default="/tmp/phi4-mini-shaped-random")
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--forks", type=int, default=6)
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--prompt-len", type=int, default=600)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.model_dir, args.one == "on", args.problems, args.forks, args.samples,
                                 args.prompt_len, args.max_new_tokens)))
        return
    build_model(Path(args.model_dir))
    results = {}
    for setting in ("off", "on"):
        cmd = [sys.executable, __file__, "--one", setting] + [a for a in sys.argv[1:]]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        results[setting] = json.loads(out)
        r = results[setting]
        print(f"prefix caching {setting}: {r['rollouts']} rollouts in {r['seconds']:.1f} s = {r['rollouts_per_s']:.1f} rollouts/s "
              f"({r['rollouts_per_s'] / PAPER_ROLLOUTS_PER_S_PER_GPU:.0f}x the paper's per-GPU rate)")
    print(f"prefix caching speed-up: {results['on']['rollouts_per_s'] / results['off']['rollouts_per_s']:.2f}x")


if __name__ == "__main__":
    main()
