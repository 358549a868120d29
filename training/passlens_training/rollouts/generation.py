"""Generation backends behind one interface: sample continuations of a token-id prefix.

`Backend.generate(requests)` takes `Request`s (prompt + already-fixed generated tokens,
how many samples, budget, seed) and returns, per request, `Sample`s with the new token ids
and each sampled token's log-probability under the sampling distribution (logits / temperature,
before top-p truncation). Forking reuses this: a branch is a request whose prefix is the
prompt plus the trunk's tokens before the fork.

- `hf`: transformers in-process (CPU or GPU); the n samples of a request are one batch.
- `vllm`: vLLM's offline engine, a wave per call, prefix caching (imported lazily; GPU machines only).
- `openai`: an OpenAI-compatible /v1/completions server (vLLM serve, SGLang, llama.cpp's
  llama-cpp-python server) with `logprobs`; token-id prompts where the server takes them.
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
                 revision: str | None = None, threads: int = 0):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads > 0:  # CPU results depend on it in the last bits (reduction order): fixed for reproducible runs
            torch.set_num_threads(threads)
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


def vllm_logprobs_mode(sampling: SamplingConfig, requested: str | None = None) -> str:
    """The vLLM `logprobs_mode` whose sampled-token values are ours: log softmax(logits / T), before
    top-p. vLLM's raw_logprobs are the model's own (ours at T = 1, whatever top_p); its
    processed_logprobs come after temperature *and* top-k/top-p, renormalised over the tokens
    kept (ours at top_p = 1). Neither is ours when T != 1 and top_p < 1."""
    agree = ({"raw_logprobs"} if sampling.temperature == 1.0 else set()) | (
        {"processed_logprobs"} if sampling.top_p >= 1.0 else set())
    if not agree:
        raise ValueError(f"backend 'vllm' cannot record log-probabilities at temperature {sampling.temperature} "
                         f"before top-p {sampling.top_p}: vLLM renormalises them over the top-p set. Use temperature 1 "
                         "or top_p 1 (the paper: both 1), or the hf backend")
    if requested is None:  # raw where it agrees: vLLM's fastest top-p sampler is not used with processed modes
        return "raw_logprobs" if "raw_logprobs" in agree else "processed_logprobs"
    if requested not in agree:
        raise ValueError(f"rollouts.vllm.logprobs_mode {requested!r} records other log-probabilities than the hf backend "
                         f"at temperature {sampling.temperature}, top_p {sampling.top_p}; use one of {sorted(agree)} or leave it out")
    return requested


class VLLMBackend:
    """vLLM's offline engine at full rate (vLLM >= 0.11.1: pyproject's `vllm` extra).

    `generate` gets a whole wave at once (build-dataset sends every trunk of a batch of problems in
    one call, then every fork), so vLLM schedules them together. A fork is one request with n = M
    samples from the prompt + trunk prefix: vLLM runs its prefill once and the M samples share its
    KV blocks; automatic prefix caching (on here) reuses the prompt's, and the trunk's prefix
    blocks, across the K forks of a trunk. Only generated-token log-probabilities are asked for
    (`logprobs=0`: the sampled token's); prompt log-probabilities would recompute every prompt
    token and bypass the cache. vLLM seeds a request's n samples seed, seed + 1, ...; token ids
    come back undecoded (`detokenize=False`: records decode with the tokenizer, as for hf)."""

    def __init__(self, model_path: str, sampling: SamplingConfig, *, revision: str | None = None, **engine_kwargs: Any):
        try:
            from vllm import LLM
        except ImportError as err:
            raise RuntimeError("backend 'vllm' needs vLLM on a GPU machine: pip install 'passlens-training[vllm]'") from err
        self.sampling = sampling
        self.generator_id, self.revision = model_path, revision
        engine_kwargs.setdefault("enable_prefix_caching", True)
        engine_kwargs["logprobs_mode"] = vllm_logprobs_mode(sampling, engine_kwargs.get("logprobs_mode"))
        self.llm = LLM(model=model_path, revision=revision, **engine_kwargs)

    def generate(self, requests: list[Request]) -> list[list[Sample]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=r.prefix_ids) for r in requests]
        params = [SamplingParams(n=r.n, temperature=self.sampling.temperature, top_p=self.sampling.top_p,
                                 max_tokens=max(r.max_new_tokens, 1), logprobs=0, seed=r.seed, detokenize=False)
                  for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        results = []
        for r, out in zip(requests, outputs):
            samples = []
            for comp in sorted(out.outputs, key=lambda c: c.index):
                ids = list(comp.token_ids)[: max(r.max_new_tokens, 0)]
                lps = [step[tok].logprob for tok, step in zip(ids, comp.logprobs or [])]
                samples.append(Sample(ids, lps))
            results.append(samples)
        return results


class OpenAIBackend:
    """Client of an OpenAI-compatible completions server, in the formats real servers answer:

    - vLLM: token-id prompts, `return_tokens_as_token_ids` gives `token_id:N` strings, `n`
      honoured; its logprobs follow `--logprobs-mode` (like `hf` with the mode
      `vllm_logprobs_mode` names: raw_logprobs at temperature 1, processed_logprobs at top_p 1).
    - llama.cpp's llama-cpp-python server: text prompts only (the prefix is decoded and must
      re-tokenise to the same ids, or the request is refused here), tokens as the text they
      decode to (mapped back through the byte-level vocabulary), `n` ignored (the backend
      tops up with one request per missing sample, seed + i), logprobs of the model's own
      distribution (equal to training's at temperature 1), and the end token not reported.

    Sampling is sent in full (`top_k` 0, `min_p` 0, `repeat_penalty` 1): llama.cpp's defaults
    (top-k 40, min-p 0.05, repeat penalty 1.1) would otherwise change the distribution."""

    def __init__(self, url: str, model: str, sampling: SamplingConfig, *, tokenizer=None, revision: str | None = None,
                 timeout_s: float = 600.0):
        self.url = url.rstrip("/") + "/v1/completions" if not url.rstrip("/").endswith("/completions") else url
        self.model, self.sampling, self.tokenizer, self.timeout_s = model, sampling, tokenizer, timeout_s
        self.generator_id, self.revision = model, revision
        self.text_prompts = False  # set when the server refuses token-id prompts
        self._byte_level: dict[int, str] | None = None

    def _token_id(self, token: str) -> int:
        if token.startswith("token_id:"):
            return int(token[len("token_id:"):])
        if self.tokenizer is None:
            raise ValueError("the server returned token strings, not token ids; give the backend a tokenizer")
        vocab = self.tokenizer.get_vocab()
        if token in vocab:  # the vocabulary's own spelling (vLLM without return_tokens_as_token_ids)
            return vocab[token]
        if self._byte_level is None:
            from transformers.convert_slow_tokenizer import bytes_to_unicode

            self._byte_level = bytes_to_unicode()  # byte -> the character byte-level BPE vocabularies spell it with
        spelled = "".join(self._byte_level[b] for b in token.encode("utf-8"))
        if spelled in vocab:  # the text the token decodes to (llama.cpp), in byte-level spelling
            return vocab[spelled]
        raise ValueError(f"the server returned the token {token!r}, which is no token of the tokenizer "
                         "(a character split across tokens?); use a server that returns token ids (vLLM)")

    def _prompt(self, prefix_ids: list[int]):
        if not self.text_prompts:
            return prefix_ids
        if self.tokenizer is None:
            raise ValueError("the server takes text prompts only; give the backend the generator's tokenizer")
        text = self.tokenizer.decode(prefix_ids, skip_special_tokens=False)
        again = self.tokenizer.encode(text, add_special_tokens=False)
        if again != prefix_ids:
            at = next((i for i, (a, b) in enumerate(zip(again, prefix_ids)) if a != b), min(len(again), len(prefix_ids)))
            raise ValueError(f"the server takes text prompts only, and this prefix re-tokenises differently from token {at} "
                             "on (a fork inside a BPE merge); use a server that takes token-id prompts (vLLM)")
        return text

    def _post(self, body: dict) -> dict:
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            detail = err.read()[:500]
            # llama-cpp-python answers a token-id prompt with HTTP 500, "prompt ... should be a valid string".
            if err.code in (400, 422, 500) and not self.text_prompts and b"prompt" in detail and b"string" in detail:
                self.text_prompts = True
                raise _RetryWithText() from err
            raise RuntimeError(f"completions server {self.url}: HTTP {err.code}: {detail!r}") from err
        except urllib.error.URLError as err:
            raise RuntimeError(f"cannot reach the completions server {self.url}: {err.reason}") from err

    def generate(self, requests: list[Request]) -> list[list[Sample]]:
        return [self._one(r) for r in requests]

    def _one(self, r: Request) -> list[Sample]:
        samples: list[Sample] = []
        while len(samples) < r.n:
            body = {"model": self.model, "prompt": self._prompt(r.prefix_ids), "n": r.n - len(samples),
                    "max_tokens": r.max_new_tokens, "temperature": self.sampling.temperature, "top_p": self.sampling.top_p,
                    "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "seed": r.seed + len(samples), "logprobs": 0,
                    "return_tokens_as_token_ids": True}
            try:
                data = self._post(body)
            except _RetryWithText:
                continue
            choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
            if not choices:
                raise RuntimeError(f"completions server {self.url} answered without choices: {str(data)[:300]}")
            for c in choices[: r.n - len(samples)]:
                lp = c.get("logprobs") or {}
                ids = [self._token_id(t) for t in lp.get("tokens", [])]
                lps = [float(x) if x is not None else -math.inf for x in lp.get("token_logprobs", [])]
                samples.append(Sample(ids, lps))
        return samples


class _RetryWithText(Exception):
    """The server refused a token-id prompt; the request is sent again as text."""


def make_backend(kind: str, generator: str, sampling: SamplingConfig, *, revision: str | None = None,
                 device: str = "cpu", dtype: str = "auto", server_url: str = "", tokenizer=None,
                 vllm_options: dict[str, Any] | None = None, threads: int = 0) -> Backend:
    if kind == "hf":
        return HFBackend(generator, sampling, device=device, dtype=dtype, revision=revision, threads=threads)
    if kind == "vllm":
        return VLLMBackend(generator, sampling, revision=revision, **(vllm_options or {}))
    if kind == "openai":
        if not server_url:
            raise ValueError("backend 'openai' needs rollouts.server_url (e.g. http://127.0.0.1:8000)")
        return OpenAIBackend(server_url, generator, sampling, tokenizer=tokenizer, revision=revision)
    raise ValueError(f"unknown generation backend '{kind}'; choose hf, vllm or openai")
