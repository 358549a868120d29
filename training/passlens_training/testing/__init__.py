"""Test support, kept apart from the stages: tiny models and tokenizers built in code, and
cached fixtures (critic bundles, PyTorch reference values) for both test suites."""
