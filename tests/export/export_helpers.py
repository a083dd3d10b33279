"""Helpers shared by the export tests (a uniquely named module: conftest.py names clash)."""
import importlib.util
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import model_helpers

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["BACKGROUND", "apple", "banana", "orange"]


def lively_net(name: str, num_classes: int = len(CLASSES), resolution: int = 300, seed: int = 0):
    return model_helpers.lively_net(name, num_classes, resolution, seed)


def write_labels(path, names=CLASSES) -> Path:
    return model_helpers.write_labels(path, names)


def save_checkpoint(path, net, names=CLASSES, **fields) -> Path:
    return model_helpers.save_checkpoint(path, net, names, **fields)


def run_script(script: str, *args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")  # see conftest.py: one thread each on a shared machine
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def run_scripts(commands: dict[str, list], cwd=None) -> dict[str, subprocess.CompletedProcess]:
    """Several runs at once, by name: each spends seconds importing torch."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_script, *command, cwd=cwd) for name, command in commands.items()}
    return {name: future.result() for name, future in futures.items()}


def load_script(script: str):
    """A command-line script of the repository root as a module, to call its main() in-process."""
    spec = importlib.util.spec_from_file_location(Path(script).stem, REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_in_process(capsys, caplog, script: str, *args) -> subprocess.CompletedProcess:
    """A script's main() run in this process, as a finished process: its exit code (argparse's errors leave by
    SystemExit) and what it printed. The warnings it logged are put on stderr as the script prints them (in
    here pytest's log capture takes them)."""
    caplog.clear()
    try:
        code = load_script(script).main(list(map(str, args)))
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    warnings = "".join(f"{script}: warning: {record.getMessage()}\n" for record in caplog.records
                       if record.levelno >= logging.WARNING)
    return subprocess.CompletedProcess([script, *map(str, args)], code, out.out, warnings + out.err)


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
