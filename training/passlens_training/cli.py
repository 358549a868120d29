"""`passlens-train STAGE ...`: one entry per stage, in the order of the data, each also
runnable as `python -m MODULE`. Every stage module exposes `main(argv)`."""
from __future__ import annotations

import importlib
import sys

STAGES = {
    "build-dataset": "passlens_training.rollouts.build",
    "train": "passlens_training.train.trainer",
    "score": "passlens_training.evaluate.score",
    "evaluate": "passlens_training.evaluate.report",
    "export": "passlens_training.export.critic_bundle",
    "export-generator": "passlens_training.export.generator",
    "micro": "passlens_training.micro.build",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: passlens-train STAGE [options]\n\nstages:\n  " + "\n  ".join(STAGES))
        return 0 if argv else 2
    stage, rest = argv[0], argv[1:]
    if stage not in STAGES:
        print(f"passlens-train: unknown stage '{stage}'; choose one of: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    module = importlib.import_module(STAGES[stage])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
