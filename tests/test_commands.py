"""`pip install .` gives the commands, and `python -m vision.demo` runs only modules of the package, so
both work without a checkout."""
import configparser
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vision.demo import steps

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {"ssd-train", "ssd-eval", "ssd-export", "ssd-coco-download", "ssd-validate-images", "ssd-fix-coco",
            "ssd-setup-coco", "ssd-open-images-download"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package installed into a folder, built from a copy of what packaging reads (the build
    leaves its files beside the source)."""
    source, target = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("installed")
    shutil.copytree(REPO / "vision", source / "vision", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, timeout=120)
    return target


def entry_points(installed: Path) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(next(installed.glob("*.dist-info")) / "entry_points.txt")
    return dict(parser["console_scripts"])


def test_install_gives_every_command(installed):
    assert set(entry_points(installed)) == COMMANDS
    assert {path.name for path in (installed / "bin").iterdir()} == COMMANDS


def test_every_command_answers_help(installed, capsys):
    for command, target in entry_points(installed).items():
        module, function = target.split(":")
        with pytest.raises(SystemExit) as exit:
            getattr(importlib.import_module(module), function)(["--help"])
        assert exit.value.code == 0, command
        assert capsys.readouterr().out.startswith("usage: "), command


@pytest.mark.parametrize("command, prog", [("ssd-setup-coco", "setup_coco"), ("ssd-eval", "eval_ssd.py")])
def test_an_installed_command_runs_outside_the_checkout(installed, tmp_path, command, prog):
    env = dict(os.environ, PYTHONPATH=str(installed))
    result = subprocess.run([sys.executable, str(installed / "bin" / command), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {prog} ")


# run_ssd_example.py's code is not in the package yet: that step still runs the script.
SCRIPT_STEPS = {"run the example"}


def test_the_demo_runs_modules_of_the_package(tmp_path):
    for name, command in steps(tmp_path):
        if name in SCRIPT_STEPS:
            continue
        assert command[0] == "-m", name
        assert command[1].startswith("vision.") and importlib.util.find_spec(command[1]), name
