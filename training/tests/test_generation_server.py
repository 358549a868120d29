"""The OpenAI-compatible completions backend against a loopback server the test starts,
which serves backend 1 (transformers) behind a minimal /v1/completions route."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from passlens_training.rollouts.generation import HFBackend, OpenAIBackend, Request, SamplingConfig
from passlens_training.testing.tiny import save_tiny_causal_lm


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    return HFBackend(str(save_tiny_causal_lm(tmp_path_factory.mktemp("gen"), seed=2)), SamplingConfig(0.9, 1.0))


@pytest.fixture(scope="module")
def server(hf):
    seen = []

    class Completions(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            if self.path != "/v1/completions" or not isinstance(body.get("prompt"), list):
                self.send_response(400)
                self.end_headers()
                self.wfile.write(b'{"error": "token-id prompt expected"}')
                return
            assert body["temperature"] == hf.sampling.temperature and body["logprobs"] == 0
            samples = hf.generate([Request(body["prompt"], body["n"], body["max_tokens"], body["seed"])])[0]
            choices = [{"index": i, "text": hf.tokenizer.decode(s.token_ids), "finish_reason": "length",
                        "logprobs": {"tokens": [f"token_id:{t}" for t in s.token_ids], "token_logprobs": s.logprobs}}
                       for i, s in enumerate(samples)]
            data = json.dumps({"object": "text_completion", "choices": choices}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Completions)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def test_server_backend_continues_a_token_prefix_like_the_in_process_one(hf, server):
    url, seen = server
    client = OpenAIBackend(url, "tiny", SamplingConfig(0.9, 1.0))
    prefix = hf.tokenizer("<|user|>hi<|end|><|assistant|>def", add_special_tokens=False)["input_ids"]
    requests = [Request(prefix, 3, 12, 5), Request(prefix + [40, 41], 2, 6, 9)]
    remote = client.generate(requests)
    local = hf.generate(requests)
    assert [[s.token_ids for s in r] for r in remote] == [[s.token_ids for s in r] for r in local]
    for r_samples, l_samples in zip(remote, local):
        for a, b in zip(r_samples, l_samples):
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-6) and len(a.logprobs) == len(a.token_ids)
    assert seen[-1]["prompt"] == prefix + [40, 41] and seen[-1]["return_tokens_as_token_ids"] is True


def test_server_errors_are_reported(server):
    url, _ = server
    client = OpenAIBackend(url + "/v1/other", "tiny", SamplingConfig())
    with pytest.raises(RuntimeError, match="HTTP 400"):
        client.generate([Request([1, 2], 1, 2, 0)])
