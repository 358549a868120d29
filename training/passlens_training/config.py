"""Configs as data: one YAML file per experiment, one section per stage.

Each stage declares a dataclass for its section and loads it with `load_section`,
so a config file (not code) decides whether a run is the paper's or a CPU-sized one.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

REPO_PLACEHOLDER = "{repo}"
REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_path(value: str | Path) -> str:
    """Config paths may start with `{repo}` (the repository root, for runs inside a checkout),
    e.g. `{repo}/../shared/apps-sample`."""
    return str(value).replace(REPO_PLACEHOLDER, str(REPO_ROOT))


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a mapping of sections, got {type(data).__name__}")
    data.setdefault("_path", str(path.resolve()))
    return data


def from_dict(cls: type[T], values: dict[str, Any], where: str = "") -> T:
    """Builds dataclass `cls` from `values`, rejecting unknown keys (typos) clearly."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where or cls.__name__}: unknown key(s) {unknown}; known: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        ftype = fields[name].type
        if dataclasses.is_dataclass(ftype) and isinstance(value, dict):
            value = from_dict(ftype, value, f"{where}.{name}")  # type: ignore[arg-type]
        kwargs[name] = value
    return cls(**kwargs)


def load_section(path: str | Path, section: str, cls: type[T]) -> T:
    config = read_config(path)
    values = config.get(section) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: section '{section}' must be a mapping")
    return from_dict(cls, values, f"{Path(path).name}:{section}")
