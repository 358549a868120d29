"""vLLM forking-rollout throughput on one GPU, with and without prefix caching, against the goal
of 100x the paper's per-GPU rate (160k rollouts in 48 h on 4 GPUs: about 0.23 rollouts/s/GPU).

    python benchmarks/gpu/bench_vllm_rollouts.py [--problems 64 --max-new-tokens 512]

Needs a CUDA GPU and vLLM (`pip install 'passlens-training[vllm]'`); where vLLM is not
installed or cannot be (no wheel for the machine, no network), the script says so and exits 3
without measuring anything.

A random model of Phi-4-mini's shape (Phi-3 architecture, 32 layers, hidden 3072, 24/8 heads,
vocab 200,064; bf16) is built on the GPU and saved once; no download. Prompts are random token
ids of a typical APPS prompt length; no tokenizer (skip_tokenizer_init). The waves are
build-dataset's, through its own `VLLMBackend`: one generate call with every problem's trunk,
then one with every fork (n = M samples from the prompt + trunk prefix), forks at the trunk's
K least likely tokens (`select_forks`). Each setting runs in its own process (vLLM keeps GPU
memory until exit).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import time
from pathlib import Path

PAPER_ROLLOUTS_PER_S_PER_GPU = 160_000 / (48 * 3600) / 4
GOAL = 100 * PAPER_ROLLOUTS_PER_S_PER_GPU


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
    from passlens_training.rollouts.forking import select_forks
    from passlens_training.rollouts.generation import Request, SamplingConfig, VLLMBackend

    backend = VLLMBackend(model, SamplingConfig(1.0, 1.0), skip_tokenizer_init=True, enable_prefix_caching=caching,
                          max_model_len=prompt_len + max_new + 8, gpu_memory_utilization=0.85, seed=0)
    rng = random.Random(0)
    prompts = [[rng.randrange(1000, 100000) for _ in range(prompt_len)] for _ in range(problems)]
    backend.generate([Request([5] * prompt_len, 1, 8, 0)])  # warm-up
    start = time.perf_counter()
    trunks = [out[0] for out in backend.generate([Request(p, 1, max_new, i) for i, p in enumerate(prompts)])]
    trunk_s = time.perf_counter() - start
    forks = [Request(prompt + trunk.token_ids[:pos], m, max_new - pos, 1000 * i + rank)
             for i, (prompt, trunk) in enumerate(zip(prompts, trunks))
             for rank, pos in enumerate(select_forks(trunk.logprobs, k))]
    branches = backend.generate(forks)
    seconds = time.perf_counter() - start
    assert all(len(t.logprobs) == len(t.token_ids) for t in trunks)
    rollouts = len(trunks) + sum(len(b) for b in branches)
    tokens = sum(len(t.token_ids) for t in trunks) + sum(len(s.token_ids) for b in branches for s in b)
    return {"prefix_caching": caching, "rollouts": rollouts, "generated_tokens": tokens, "seconds": seconds,
            "trunk_wave_s": trunk_s, "rollouts_per_s": rollouts / seconds, "tokens_per_s": tokens / seconds}


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
    if importlib.util.find_spec("vllm") is None:
        print("vLLM is not installed in this environment, so nothing was measured: install it with "
              "pip install 'passlens-training[vllm]' (Linux, CUDA, and PyPI reachable; it brings its own torch, so "
              "use a fresh environment)", file=sys.stderr)
        sys.exit(3)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
    if args.one:
        print(json.dumps(run_one(args.model_dir, args.one == "on", args.problems, args.forks, args.samples,
                                 args.prompt_len, args.max_new_tokens)))
        return
    build_model(Path(args.model_dir))
    print(f"{args.problems} problems x (1 + {args.forks}x{args.samples}) rollouts, prompts of {args.prompt_len} tokens, "
          f"up to {args.max_new_tokens} new tokens; goal: {GOAL:.1f} rollouts/s/GPU (100x the paper's "
          f"{PAPER_ROLLOUTS_PER_S_PER_GPU:.3f})")
    results = {}
    for setting in ("off", "on"):
        cmd = [sys.executable, __file__, "--one", setting] + sys.argv[1:]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"prefix caching {setting}: failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
            sys.exit(1)
        r = results[setting] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"prefix caching {setting}: {r['rollouts']} rollouts in {r['seconds']:.1f} s (trunk wave {r['trunk_wave_s']:.1f} s) "
              f"= {r['rollouts_per_s']:.1f} rollouts/s, {r['tokens_per_s']:.0f} tokens/s; "
              f"{r['rollouts_per_s'] / PAPER_ROLLOUTS_PER_S_PER_GPU:.0f}x the paper's per-GPU rate "
              f"({'meets' if r['rollouts_per_s'] >= GOAL else 'below'} the 100x goal)")
    print(f"prefix caching speed-up: {results['on']['rollouts_per_s'] / results['off']['rollouts_per_s']:.2f}x")


if __name__ == "__main__":
    main()
