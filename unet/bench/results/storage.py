"""Where runs live: pytest-benchmark's storage, one folder per hardware key.

Local runs go to ``<--benchmark-storage>/<hardware key>/`` (default ``.benchmarks/``, ignored by
git). Baselines that the project commits live in ``benchmarks/baselines/<hardware key>/`` and are
only ever added to by ``unet-bench save-baseline``; no run writes or deletes them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from unet.bench import pbcompat

REPO_ROOT = Path(__file__).resolve().parents[3]  # unet/bench/results/storage.py
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
COMMITTED_BASELINES = BENCHMARKS_DIR / "baselines"


def storage_root(option: str) -> Path | None:
    """The folder behind a --benchmark-storage value; None for non-file (elasticsearch) storage."""
    if option.startswith("file://"):
        return Path(option[len("file://") :])
    if "://" in option:
        return None
    return Path(option)


def keyed_storage(root: Path, key: str) -> Path:
    return root / key


def saved_runs(folder: Path, pattern: str | None = None) -> list[Path]:
    """The run files pytest-benchmark would load from ``folder`` (oldest first)."""
    return sorted(pbcompat.query_runs(folder, pattern))


def committed_baselines(key: str, root: Path = COMMITTED_BASELINES) -> list[Path]:
    folder = root / key
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def unreadable(path: Path) -> str | None:
    """Why ``path`` is not a usable pytest-benchmark run file, or None when it is."""
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        return f"cannot read it ({err.strerror})"
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return f"it is not valid JSON ({err})"
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        return "it has no 'benchmarks' list; is it a pytest-benchmark run file?"
    return None


def compare_target(compare: str | bool, folder: Path, key: str) -> tuple[list[Path], Path | None]:
    """The run files a --benchmark-compare of ``compare`` will load for hardware ``key``, and the
    committed baseline to point it at when this hardware has no local run yet (else None).
    ValueError, saying what to do, when there is nothing usable to compare against."""
    explicit = Path(str(compare))
    baseline = None
    if compare is not True and explicit.is_file():
        candidates = [explicit]
    else:
        candidates = pbcompat.runs_it_compares(folder, compare)
        if not candidates and compare is True and committed_baselines(key):
            baseline = committed_baselines(key)[-1]
            candidates = [baseline]
    if not candidates:
        what = "" if compare is True else f" matching {compare!r}"
        raise ValueError(
            f"--benchmark-compare: no saved run{what} for this hardware (key {key}) in {folder} "
            f"or benchmarks/baselines/{key}. Record one "
            "first: `unet-bench run` or `pytest benchmarks --benchmark-autosave`."
        )
    # pytest-benchmark loads every run file of the folder; a broken one would end in a traceback
    for path in {*candidates, *saved_runs(folder)}:
        why = unreadable(path)
        if why:
            raise ValueError(
                f"--benchmark-compare: cannot use {path}: {why}. Move or delete that file."
            )
    return candidates, baseline


def save_baseline(run: Path, key: str, root: Path = COMMITTED_BASELINES) -> Path:
    """Copy ``run`` into the committed baselines of ``key`` under the next free number."""
    folder = root / key
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name[:4]) for p in folder.glob("[0-9][0-9][0-9][0-9]_*.json")]
    target = folder / f"{max(numbers, default=0) + 1:04d}_baseline.json"
    if target.exists():  # never overwrite what someone saved
        raise FileExistsError(f"{target} already exists")
    shutil.copyfile(run, target)
    return target
