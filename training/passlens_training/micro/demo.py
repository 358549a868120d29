"""`python -m passlens_training.micro.demo --out demo [--generator DIR --critic BUNDLE]`

Writes the demo workspace: one problem.md per held-out micro problem family and kind
(the format `passlens rank` and the extension read: statement, then starter code in a
```python block for call-based problems), and, when model folders are given,
`.vscode/settings.json` pointing PassLens at the micro generator and critic.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .problems import generate_problems

DEMO_SEED = 20260101


def problem_markdown(problem: dict) -> str:
    title = problem["problem_id"]
    text = f"# {title}\n\n{problem['question']}\n"
    if problem["starter_code"]:
        text += f"\n```python\n{problem['starter_code'].rstrip()}\n```\n"
    return text


def write_workspace(out: Path, generator: Path | None = None, critic: Path | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for problem in generate_problems(DEMO_SEED, {"test": 1}, splits=("test",)):
        short = "stdin" if problem["io_type"] == "standard_input" else "call"
        name = f"{problem['micro']['family']}-{short}.md"
        path = out / name
        path.write_text(problem_markdown(problem))
        written.append(path)
    if generator and critic:
        settings = {
            "passlens.generator.backend": "local",
            "passlens.generator.model": str(generator.resolve()),
            "passlens.generator.dtype": "fp32",
            "passlens.generator.offlineOnly": True,
            "passlens.generator.maxNewTokens": 200,
            "passlens.critic.backend": "local",
            "passlens.critic.bundlePath": str(critic.resolve()),
        }
        (out / ".vscode").mkdir(exist_ok=True)
        (out / ".vscode" / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m passlens_training.micro.demo")
    parser.add_argument("--out", required=True)
    parser.add_argument("--generator", type=Path)
    parser.add_argument("--critic", type=Path)
    args = parser.parse_args(argv)
    for path in write_workspace(Path(args.out), args.generator, args.critic):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
