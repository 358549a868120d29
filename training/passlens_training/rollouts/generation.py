"""Generation backends behind one interface: sample continuations of a token-id prefix.

`Backend.generate(requests)` takes `Request`s (prompt + already-fixed generated tokens,
how many samples, budget, seed) and returns, per request, `Sample`s with the new token ids
and each sampled token's log-probability under the sampling distribution (logits / temperature,
before top-p truncation). Forking reuses this: a branch is a request whose prefix is the
prompt plus the trunk's tokens before the fork.

- `hf`: transformers in-process (CPU or GPU); the n samples of a request are one batch.
- `vllm`: offline engine with prefix caching (imported lazily; GPU machines only).
- `openai`: an OpenAI-compatible /v1/completions server (vLLM serve, SGLang, llama.cpp)
  with token-id prompts and `logprobs`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import urllib.request
from typing import Any, Protocol


@dataclasses.dataclass
class Request:
    prefix_ids: list[int]  # prompt tokens + fixed generated tokens
    n: int
    max_new_tokens: int
    seed: int


@dataclasses.dataclass
class Sample:
    token_ids: list[int]
    logprobs: list[float]


@dataclasses.dataclass
class SamplingConfig:
    temperature: float = 1.0
    top_p: float = 1.0


class Backend(Protocol):
    generator_id: str
    revision: str | None

    def generate(self, requests: list[Request]) -> list[list[Sample]]: ...


def _trim_at_eos(ids: list[int], lps: list[float], eos_ids: set[int]) -> Sample:
    """Keeps tokens up to and including the first end-of-sequence token."""
    for i, tok in enumerate(ids):
        if tok in eos_ids:
            return Sample(ids[: i + 1], lps[: i + 1])
    return Sample(ids, lps)


class HFBackend:
    def __init__(self, model_path: str, sampling: SamplingConfig, *, device: str = "cpu", dtype: str = "auto",
                 revision: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.sampling = sampling
        self.device = device
        self.generator_id, self.revision = model_path, revision
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, revision=revision)
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, revision=revision, dtype=torch_dtype).to(device).eval()
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else next(iter(self.eos_ids), 0)

    def generate(self, requests: list[Request]) -> list[list[Sample]]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> list[Sample]:
        from transformers import DynamicCache

        from ..train.model import cache_kwargs

        torch = self.torch
        if request.max_new_tokens <= 0:
            return [Sample([], []) for _ in range(request.n)]
        ids = torch.tensor([request.prefix_ids] * request.n, device=self.device)
        cached = {}
        with torch.no_grad():
            if ids.shape[1] > 1:
                # The prefix (the prompt, and a fork's trunk tokens) runs once and its keys and
                # values are copied to the n samples; generate would run it n times. On a CPU
                # the prefix is most of a fork's cost.
                cache = DynamicCache()
                self.model(input_ids=ids[:1, :-1], use_cache=True, **cache_kwargs(cache))
                cache.batch_repeat_interleave(request.n)
                cached = cache_kwargs(cache)
            torch.manual_seed(request.seed)
            out = self.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                temperature=self.sampling.temperature, top_p=self.sampling.top_p, top_k=0,
                max_new_tokens=request.max_new_tokens, output_logits=True, return_dict_in_generate=True,
                pad_token_id=self.pad_id, **cached,
            )
        new = out.sequences[:, ids.shape[1]:]
        logits = torch.stack(out.logits, dim=1).float() / self.sampling.temperature  # [n, steps, vocab]
        lps = torch.log_softmax(logits, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        return [_trim_at_eos(new[i].tolist(), lps[i].tolist(), self.eos_ids) for i in range(request.n)]


class VLLMBackend:
    def __init__(self, model_path: str, sampling: SamplingConfig, *, revision: str | None = None,
                 enable_prefix_caching: bool = True, **engine_kwargs: Any):
        try:
            from vllm import LLM
        except ImportError as err:
            raise RuntimeError("backend 'vllm' needs vLLM on a GPU machine: pip install 'passlens-training[vllm]'") from err
        self.sampling = sampling
        self.generator_id, self.revision = model_path, revision
        self.llm = LLM(model=model_path, revision=revision, enable_prefix_caching=enable_prefix_caching, **engine_kwargs)

    def generate(self, requests: list[Request]) -> list[list[Sample]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts, params = [], []
        for r in requests:
            prompts.append(TokensPrompt(prompt_token_ids=r.prefix_ids))
            # logprobs=0: only the sampled token's log-probability. Which distribution it is under
            # follows the engine's logprobs_mode (configs set processed_logprobs: after temperature, like `hf`).
            params.append(SamplingParams(n=r.n, temperature=self.sampling.temperature, top_p=self.sampling.top_p,
                                         max_tokens=max(r.max_new_tokens, 1), logprobs=0, seed=r.seed))
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        results = []
        for r, out in zip(requests, outputs):
            samples = []
            for comp in out.outputs:
                ids = list(comp.token_ids)[: max(r.max_new_tokens, 0)]
                lps = [step[tok].logprob for tok, step in zip(ids, comp.logprobs or [])]
                samples.append(Sample(ids, lps))
            results.append(samples)
        return results


class OpenAIBackend:
    """Client of an OpenAI-compatible completions server. Token ids come back as `token_id:N`
    strings (vLLM's `return_tokens_as_token_ids`); other servers' token strings are mapped
    through the tokenizer."""

    def __init__(self, url: str, model: str, sampling: SamplingConfig, *, tokenizer=None, revision: str | None = None,
                 timeout_s: float = 600.0):
        self.url = url.rstrip("/") + "/v1/completions" if not url.rstrip("/").endswith("/completions") else url
        self.model, self.sampling, self.tokenizer, self.timeout_s = model, sampling, tokenizer, timeout_s
        self.generator_id, self.revision = model, revision

    def _token_id(self, token: str) -> int:
        if token.startswith("token_id:"):
            return int(token[len("token_id:"):])
        if self.tokenizer is None:
            raise ValueError("the server returned token strings, not token ids; give the backend a tokenizer")
        return int(self.tokenizer.convert_tokens_to_ids(token))

    def generate(self, requests: list[Request]) -> list[list[Sample]]:
        return [self._one(r) for r in requests]

    def _one(self, r: Request) -> list[Sample]:
        body = {"model": self.model, "prompt": r.prefix_ids, "n": r.n, "max_tokens": r.max_new_tokens,
                "temperature": self.sampling.temperature, "top_p": self.sampling.top_p, "seed": r.seed,
                "logprobs": 0, "return_tokens_as_token_ids": True}
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"completions server {self.url}: HTTP {err.code}: {err.read()[:500]!r}") from err
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        samples = []
        for c in choices:
            lp = c.get("logprobs") or {}
            ids = [self._token_id(t) for t in lp.get("tokens", [])]
            lps = [float(x) if x is not None else -math.inf for x in lp.get("token_logprobs", [])]
            samples.append(Sample(ids, lps))
        return samples


def make_backend(kind: str, generator: str, sampling: SamplingConfig, *, revision: str | None = None,
                 device: str = "cpu", dtype: str = "auto", server_url: str = "", tokenizer=None,
                 vllm_options: dict[str, Any] | None = None) -> Backend:
    if kind == "hf":
        return HFBackend(generator, sampling, device=device, dtype=dtype, revision=revision)
    if kind == "vllm":
        return VLLMBackend(generator, sampling, revision=revision, **(vllm_options or {}))
    if kind == "openai":
        if not server_url:
            raise ValueError("backend 'openai' needs rollouts.server_url (e.g. http://127.0.0.1:8000)")
        return OpenAIBackend(server_url, generator, sampling, tokenizer=tokenizer, revision=revision)
    raise ValueError(f"unknown generation backend '{kind}'; choose hf, vllm or openai")
