"""`python -m passlens_training.micro.demo --out demo [--generator DIR --critic BUNDLE]`

Writes the demo workspace: one `<name>.md` per held-out micro problem family (validation
and test) and kind
(the format `passlens rank` and the extension read: statement, then starter code in a
```python block for call-based problems), an empty `<name>.py` beside each (PassLens
takes a file's problem from the `.md` of the same name, so Generate and Rank works there
at once), a README.md that says what to do, and, when model folders are given,
`.vscode/settings.json` pointing PassLens at the micro generator and critic.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .problems import generate_problems

DEMO_SEED = 20260101

README = """# PassLens demo: micro problems

Each `<name>.md` here is a problem the micro critic never saw in training; the empty
`<name>.py` beside it is where the solution goes (PassLens reads a file's problem from
the `.md` of the same name).

1. Open a `.py` file, e.g. `{first}`.
2. Run **PassLens: Generate and Rank Solutions** (Ctrl+Alt+G, or the command palette):
   the micro generator writes {candidates} candidates, the critic scores every token as
   it streams, and the sandbox runs each candidate on the problem's example.
3. The picker lists them best first: p(pass), a confidence sparkline and the example's
   verdict. Moving through it previews a candidate as a diff; Enter inserts it.
4. Live confidence is on: the gutter shows each line's p(pass) (green high, red low) and
   updates as you edit. Hover a line for details; **PassLens: Show Confidence Curve**
   plots the whole file.

Try changing a decisive token of the inserted code (`>=` to `>`, `n + 1` to `n`) and
watch the gutter and the status bar.

The models are CPU-sized (about a million parameters, trained in minutes): the method is
the one that runs with Phi-4, the problems are much simpler.
"""


def problem_markdown(problem: dict) -> str:
    title = problem["problem_id"]
    text = f"# {title}\n\n{problem['question']}\n"
    if problem["starter_code"]:
        text += f"\n```python\n{problem['starter_code'].rstrip()}\n```\n"
    return text


def write_workspace(out: Path, generator: Path | None = None, critic: Path | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for problem in generate_problems(DEMO_SEED, {"validation": 1, "test": 1}, splits=("validation", "test")):
        short = "stdin" if problem["io_type"] == "standard_input" else "call"
        stem = f"{problem['micro']['family']}-{short}"
        path = out / f"{stem}.md"
        path.write_text(problem_markdown(problem))
        written.append(path)
        solution = out / f"{stem}.py"
        if not solution.exists():  # a rerun keeps what the user wrote there
            solution.write_text("")
        written.append(solution)
    candidates = 6
    readme = out / "README.md"
    readme.write_text(README.format(first=written[1].name, candidates=candidates))
    written.append(readme)
    if generator and critic:
        settings = {
            "passlens.generator.backend": "local",
            "passlens.generator.model": str(generator.resolve()),
            "passlens.generator.dtype": "fp32",
            "passlens.generator.offlineOnly": True,
            "passlens.generator.candidates": candidates,
            # The critic's training rollouts were sampled at 1.0: its p(pass) fits that mix.
            "passlens.generator.temperature": 1.0,
            "passlens.generator.maxNewTokens": 200,
            "passlens.critic.backend": "local",
            "passlens.critic.bundlePath": str(critic.resolve()),
            "passlens.liveConfidence.enabled": True,
            # The editor's own AI chat offers "Generate code (Ctrl+I)" in every empty file,
            # next to PassLens' Generate and Rank: off in this workspace only.
            "chat.disableAIFeatures": True,
            "workbench.secondarySideBar.defaultVisibility": "hidden",
        }
        (out / ".vscode").mkdir(exist_ok=True)
        settings_file = out / ".vscode" / "settings.json"
        settings_file.write_text(json.dumps(settings, indent=2) + "\n")
        written.append(settings_file)
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
