"""The package as a user gets it: a wheel built from the sources, installed (not editable) into a fresh venv, runs
the short demo from an unrelated directory with its own SQL and use cases; and the lock file covers pyproject.

Nothing is downloaded: the wheel is built with the locked setuptools of the dev venv (no build isolation), and
the fresh venv sees the dev venv's site-packages for the dependencies through a plain path line in a ``.pth``
file. A path line adds the directory without running the ``.pth`` files inside it, so the editable install's
finder there never loads, and ``factory`` can only come from the wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]
# Variables that would point the installed factory back at the caller's state or sources.
_SCRUBBED = ("FACTORY_HOME", "FACTORY_WAREHOUSE", "FACTORY_USECASES", "MLFLOW_TRACKING_URI", "PYTHONPATH")


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _build_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the sources, so the worktree gets no build/ or egg-info."""
    source = tmp_path / "source"
    source.mkdir()
    shutil.copytree(REPO_ROOT / "factory", source / "factory", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    dist = tmp_path / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    _run([*pip_wheel, "--wheel-dir", dist, source], cwd=tmp_path)
    (wheel,) = dist.glob("ai_factory-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A venv with only the wheel installed in it; dependencies resolve from the dev venv's site-packages."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).strip())
    dev_paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (purelib / "dev_dependencies.pth").write_text("".join(f"{path}\n" for path in dev_paths))
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel],
        tmp_path,
    )
    return venv


def test_wheel_ships_every_runtime_file(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("factory/")}
    sources = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / "factory").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert shipped == sources, (
        f"missing from the wheel: {sorted(sources - shipped)}; extra: {sorted(shipped - sources)}"
    )
    assert "factory/sql/read_partition.sql" in shipped
    assert "factory/usecases/ticket_triage.yaml" in shipped
    assert "factory/usecases/redteam/ticket_triage.yaml" in shipped, "the red-team files ship beside the specs"
    assert not (REPO_ROOT / "sql").exists(), "the SQL lives in factory/sql/ only"


def test_installed_wheel_runs_the_short_demo_from_another_directory(tmp_path: Path) -> None:
    venv = _fresh_venv(tmp_path, _build_wheel(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    env["DAGSTER_HOME"] = str(dagster_home)

    where = _run(
        [
            venv / "bin" / "python",
            "-c",
            "import factory, sysconfig; print(factory.__file__); print(sysconfig.get_paths()['purelib'])",
        ],
        cwd=elsewhere,
        env=env,
    ).split()
    assert Path(where[0]) == Path(where[1]) / "factory" / "__init__.py", "factory must come from the installed wheel"

    out = _run([venv / "bin" / "factory", "demo", "--days", "3", "--train-days", "2"], cwd=elsewhere, env=env)
    assert "sources       raw rows in: 6000" in out
    assert re.search(r"^dataset       ticket_triage/v1 commit \w+ digest \w+ rows \d+ published now: true", out, re.M)
    assert re.search(r"^model         v1 \w+ chosen \(.+\); test macro F1 0\.\d+ \[0\.\d+, 0\.\d+\], ECE", out, re.M)
    assert "champion      v1: first champion" in out
    passed = re.findall(r"\[(?:agreement gate: )?(\d+)/(\d+) checks passed\]", out)
    assert len(passed) >= 5
    assert all(done == total for done, total in passed), out
    # With FACTORY_HOME unset, state goes to .factory/ in the current directory.
    assert (elsewhere / ".factory" / "warehouse.duckdb").is_file()


def test_lock_file_pins_every_declared_dependency() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]
    pins: dict[str, list[str]] = {}
    for name, version in re.findall(
        r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", (REPO_ROOT / "requirements.lock").read_text(), re.M
    ):
        pins.setdefault(canonicalize_name(name.split("[")[0]), []).append(version)
    for requirement in declared:
        versions = pins.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert all(requirement.specifier.contains(v) for v in versions), (
            f"requirements.lock pins {requirement.name}=={versions}, outside {requirement.specifier}: run `make lock`"
        )
