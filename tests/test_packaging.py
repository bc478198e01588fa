"""Issue 12: the project installs as a package: a wheel with the shipped models, the message
catalogue and the `landslide` command; the README's commands are what CI runs; the notebook
API of the README works; scripts and benchmarks do not edit sys.path."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("python3 -m venv .venv")]


def test_readme_has_two_commands_and_ci_runs_the_test_command_verbatim():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    install, test = commands
    assert install.endswith(".venv/bin/streamlit run app.py") and "-e ." in install
    assert test.endswith(".venv/bin/python -m pytest -q") and "-e ." in test
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()


def test_scripts_and_benchmarks_do_not_edit_sys_path():
    offenders = [str(p.relative_to(ROOT)) for folder in ("scripts", "bench") for p in (ROOT / folder).glob("*.py")
                 if "sys.path.insert" in p.read_text(encoding="utf-8") or "sys.path.append" in p.read_text()]
    assert not offenders, offenders


def test_every_requirement_is_pinned_and_leafmap_is_gone():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][^ ]*", ln) for ln in lines), lines
    assert not any(ln.startswith("leafmap") for ln in lines)


def test_the_wheel_carries_models_catalogue_and_the_landslide_command(tmp_path):
    """Built without network (--no-build-isolation) from a copy of the files the build needs,
    installed into a folder of its own, and run from elsewhere (the checkout not importable)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "landslide_core", src / "landslide_core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "models", src / "models")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "wheel"), str(src)],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "wheel").glob("landslide_monitor-*.whl"))
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(site))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import landslide_core, landslide_core.checkpoint as c, landslide_core.i18n as i;"
             "from landslide_core import load_model, detect, detect_pair, fetch;"
             "print(landslide_core.__file__); print(c.MODELS_DIR); print(c.default_model_path().is_file());"
             "print(load_model()[1].name); print(i.t('report.title', 'es'))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout.splitlines()
    assert out[0].startswith(str(site)) and out[1] == str(site / "landslide_core" / "_models")
    assert out[2] == "True" and out[3] == "default" and out[4] == "Informe de situación de deslizamientos"
    script = site / "bin" / "landslide"
    assert script.is_file()
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("usage: landslide ")
    assert " report " in done.stdout and " export " in done.stdout


def _readme_python_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match, "the README has a Python example"
    return match.group(1)


def test_the_readme_notebook_example_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_readme_python_example(), "README.md", "exec"), scope)  # noqa: S102 - our own README
    summary = scope["summary"]
    assert summary["kind"] == "pair" and summary["change"]["new_count"] >= 1
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(Exception) as info:
        from landslide_core import fetch

        fetch(pre=("2020-01-01", "2020-01-31"), post=("2020-04-01", "2020-04-30"), out=tmp_path / "x")
    assert "aoi" in str(info.value) and "bbox" in str(info.value)
