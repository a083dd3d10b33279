"""Helpers shared by the data-preparation tests (a uniquely named module: conftest.py names clash)."""

import importlib.machinery
import importlib.util
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]


def make_zip(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def jpeg_bytes(height=48, width=64, seed=0, gray=False) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (height, width) if gray else (height, width, 3)
    ok, encoded = cv2.imencode(".jpg", rng.integers(0, 256, shape, dtype=np.uint8))
    assert ok
    return encoded.tobytes()


def png_bytes(height=40, width=30, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    ok, encoded = cv2.imencode(".png", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    assert ok
    return encoded.tobytes()


def run_script(name: str, *args, cwd=None, timeout=60) -> subprocess.CompletedProcess:
    """Run a repository-root command line the way a user would, capturing its output."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(REPO / name), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_in_process(capsys, name: str, *args) -> subprocess.CompletedProcess:
    """A repository-root command line's main() run in this process, as a finished process: its exit code
    (argparse's errors leave by SystemExit) and what it printed."""
    loader = importlib.machinery.SourceFileLoader(name.removesuffix(".py"), str(REPO / name))  # setup_coco has no .py
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    try:
        code = module.main(list(map(str, args)))
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess([name, *map(str, args)], code, out.out, out.err)
