"""The training `openai` backend against a real OpenAI-compatible server nobody here wrote:
llama.cpp through llama-cpp-python's server, serving a GGUF conversion of a tiny Phi-3
(export/gguf.py), on loopback. scripts/setup.sh builds the server (it compiles llama.cpp)."""
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import torch

from passlens_training.config import REPO_ROOT
from passlens_training.rollouts.generation import OpenAIBackend, Request, SamplingConfig
from passlens_training.testing.fixtures import gguf_generator_fixture

try:
    import llama_cpp.server  # noqa: F401
except ImportError:
    pytestmark = pytest.mark.skip(reason="llama-cpp-python[server] is not installed: scripts/setup.sh builds it "
                                         "(see .cache/llama-cpp-python/*/build.log if its build failed)")


def start_llama_server(gguf, n_ctx: int = 512):
    """Starts llama-cpp-python's server on a free loopback port; returns (process, base URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                                "--port", str(port), "--logits_all", "true", "--n_ctx", str(n_ctx)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-cpp-python's server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=2).read()
            return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("llama-cpp-python's server did not answer within 120 s")


@pytest.fixture(scope="module")
def served():
    out = gguf_generator_fixture(REPO_ROOT / ".cache" / "fixtures" / "gguf-generator")
    process, url = start_llama_server(out / "model.gguf")
    yield out / "checkpoint", url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def reference(served):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint, _ = served
    return AutoTokenizer.from_pretrained(checkpoint), AutoModelForCausalLM.from_pretrained(checkpoint).eval()


def test_backend_samples_token_ids_and_logprobs_of_the_model(served, reference):
    _, url = served
    tokenizer, model = reference
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Print the sum of two numbers."}],
                                           add_generation_prompt=True, tokenize=False)
    prefix = tokenizer.encode(prompt, add_special_tokens=False)
    backend = OpenAIBackend(url, "tiny", SamplingConfig(1.0, 1.0), tokenizer=tokenizer)
    [samples] = backend.generate([Request(prefix, 3, 12, seed=5)])
    assert backend.text_prompts, "llama-cpp-python refuses token-id prompts; the backend falls back to text"
    assert len(samples) == 3, "the server ignores n; the backend tops up"
    assert len({tuple(s.token_ids) for s in samples}) > 1, "seed + i: different samples"
    for sample in samples:
        assert 0 < len(sample.token_ids) <= 12 and len(sample.logprobs) == len(sample.token_ids)
        with torch.no_grad():
            logits = model(torch.tensor([prefix + sample.token_ids])).logits[0, len(prefix) - 1: -1]
        expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(sample.token_ids)[:, None])[:, 0]
        # llama.cpp keeps its KV cache in f16 (~1e-2 on these logits); a wrong token or position is off by > 1.
        assert sample.logprobs == pytest.approx(expected.tolist(), abs=5e-2)


def test_a_prefix_that_does_not_retokenise_is_refused(served, reference):
    _, url = served
    tokenizer, _ = reference
    word = next(w for w in ("def", "print", "return", "the") if len(tokenizer.encode(w, add_special_tokens=False)) == 1)
    split = [tokenizer.convert_tokens_to_ids(c) for c in word]  # the word spelled letter by letter
    backend = OpenAIBackend(url, "tiny", SamplingConfig(1.0, 1.0), tokenizer=tokenizer)
    with pytest.raises(ValueError, match="re-tokenises differently from token 0"):
        backend.generate([Request(split, 1, 2, seed=0)])


def test_an_unreachable_server_is_named():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RuntimeError, match=f"cannot reach the completions server http://127.0.0.1:{port}"):
        OpenAIBackend(f"http://127.0.0.1:{port}", "tiny", SamplingConfig()).generate([Request([1, 2], 1, 2, 0)])
