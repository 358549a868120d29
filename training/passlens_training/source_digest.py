"""Hashes of the code a step runs, for caches that must rebuild when that code changes
(the micro build's stage stamps, the test fixtures).

A module's code is itself plus every `passlens_training` module it imports, transitively,
read off the source (imports inside functions included), plus the sandbox judge and the
shared contracts, which decide labels and prompts without being imported. No hand-kept lists:
a new import is covered the moment it is written.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT_NAME = PACKAGE.name


def _module_file(name: str) -> Path | None:
    """The source file of `passlens_training.x.y` (a package's __init__.py), or None."""
    parts = name.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path, module: str) -> set[str]:
    """Names of the package's modules that `path` (module `module`) imports anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == ROOT_NAME)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == ROOT_NAME:
                prefix = node.module
            else:
                continue
            found.add(prefix)
            # `from . import plots` names a module; `from .x import name` names an attribute.
            found.update(f"{prefix}.{a.name}" for a in node.names if _module_file(f"{prefix}.{a.name}"))
    return found


def module_closure(*modules: str) -> list[Path]:
    """Source files of `modules` (dotted names under passlens_training; a package also runs
    its __main__.py) and of everything they import from the package, sorted."""
    seen: dict[str, Path] = {}
    stack = list(modules)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        main = path.parent / "__main__.py"
        if path.name == "__init__.py" and main.is_file() and name in modules:
            stack.append(f"{name}.__main__")
        parts = name.split(".")
        stack.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        stack.extend(_imported_modules(path, name))
    return sorted(set(seen.values()))


def _data_files() -> list[tuple[str, Path]]:
    """What decides labels and prompts without being imported: the judge and the contracts."""
    from .contracts import contracts_dir
    from .rollouts.judging import default_judge

    sandbox, contracts = default_judge().parent, contracts_dir()
    files = [(f"sandbox/{p.relative_to(sandbox)}", p) for p in sandbox.rglob("*.py")
             if "tests" not in p.relative_to(sandbox).parts]
    files += [(f"contracts/{p.relative_to(contracts)}", p) for p in contracts.rglob("*") if p.is_file()]
    return sorted(files)


def source_digest(*modules: str) -> str:
    """sha256 (16 hex digits) over the closure of `modules`, the judge and the contracts."""
    digest = hashlib.sha256()
    named = [(str(p.relative_to(PACKAGE.parent)), p) for p in module_closure(*modules)] + _data_files()
    for name, path in named:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (model files are gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
