"""The repository is self-contained: tests and code read nothing outside a fresh clone (issue #12).

The tracked files are copied to an empty temporary folder and searched for references that would leave it:
absolute paths of the development machine, `../shared`-style siblings, and `Path(__file__).parents[N]`
that climbs above the repository root.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = [re.compile(p) for p in (r"/work/", r"\.\./shared", r"[\"']shared[\"']\s*/", r"\.\./\.\./")]
PARENTS = re.compile(r"parents\[(\d+)\]")


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
    return [name for name in listed.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


def _copy(files: list[str], into: Path) -> None:
    for name in files:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, into / name)


def _problems(copy: Path, name: str) -> list[str]:
    try:
        text = (copy / name).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    found = [f"{name}: {pattern.pattern!r}" for pattern in OUTSIDE if pattern.search(text)]
    if name.endswith(".py"):
        depth = len(Path(name).parts) - 1  # parents[depth] of this file is the repository root
        found += [f"{name}: parents[{n}] climbs above the repository" for n in PARENTS.findall(text)
                  if int(n) > depth]
    return found


def test_a_copy_of_the_tracked_files_references_nothing_outside_it(tmp_path: Path) -> None:
    files = _tracked_files()
    assert "tests/fixtures/cds-hooks-sandbox-recorded/README.md" in files  # the fixtures travel with the repo
    _copy(files, tmp_path)
    this = Path(__file__).resolve().relative_to(ROOT).as_posix()
    problems = [p for name in files if name != this for p in _problems(tmp_path, name)]
    assert problems == [], "references outside the repository:\n" + "\n".join(problems)

