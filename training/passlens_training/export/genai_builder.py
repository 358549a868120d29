"""Runs onnxruntime-genai's model builder (the arguments of `python -m
onnxruntime_genai.models.builder`) with one correction.

The builder takes every `nn.Linear` whose output width equals the vocabulary for the LM
head. A model whose fused MLP projection (`gate_up_proj`, 2 x intermediate) is as wide as
its vocabulary, like the micro generator (2 x 512 = 1024), gets its first layer's MLP
wired to `logits`; here the LM head is the model's own `lm_head` module, nothing else.
Phi-4-mini (vocabulary 200,064, intermediate 8,192) is not affected either way.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    import torch
    from onnxruntime_genai.models import builder

    Model = builder.Model  # the builder imports its classes as top-level `builders.*` modules
    width_rule = Model.has_lm_head

    def has_lm_head(self, module) -> bool:
        lm_head = getattr(self.weights, "lm_head", None)
        return module is lm_head if isinstance(lm_head, torch.nn.Module) else width_rule(self, module)

    Model.has_lm_head = has_lm_head
    sys.argv = ["onnxruntime_genai.models.builder", *(sys.argv[1:] if argv is None else argv)]
    args = builder.get_args()
    extra_options = builder.parse_extra_options(
        args.model_name, args.input, args.output, args.precision, args.execution_provider, args.cache_dir,
        args.extra_options, builder_config_version=args.builder_config_version, target_options=args.target_options,
        drafter_options=args.drafter_options, speculative_options=args.speculative_options,
        runtime_config=args.runtime_config, search=args.search,
    )
    builder.create_model(args.model_name, args.input, args.output, args.precision, args.execution_provider,
                         args.cache_dir, **extra_options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
