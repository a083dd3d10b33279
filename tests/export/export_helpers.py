"""Helpers shared by the export tests (a uniquely named module: conftest.py names clash)."""
import importlib.util
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import nn

from vision.ssd import create_net

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["BACKGROUND", "apple", "banana", "orange"]


@torch.no_grad()
def lively_net(name: str, num_classes: int = len(CLASSES), resolution: int = 300, seed: int = 0):
    """An untrained net whose outputs vary from prior to prior and image to image, so that comparing
    two runtimes means something: a fresh net's signal fades, leaving nearly uniform scores.

    Convolutions get variance-preserving weights and no bias (a net whose signal grows instead
    amplifies rounding, and no two runtimes agree to 1e-4 on it); then each head's last convolution
    is scaled so that its outputs spread by about 1.5 (classes) or 0.5 (boxes)."""
    torch.manual_seed(seed)
    net = create_net(name, num_classes, resolution).eval()
    for layer in net.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="linear")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    heads = {**{head: 1.5 for head in net.classification_headers},
             **{head: 0.5 for head in net.regression_headers}}
    outputs = {}
    hooks = [head.register_forward_hook(lambda head, _, output: outputs.setdefault(head, output))
             for head in heads]
    net(torch.randn(2, 3, resolution, resolution))
    for hook in hooks:
        hook.remove()
    for head, spread in heads.items():
        last = [layer for layer in head.modules() if isinstance(layer, nn.Conv2d)][-1]
        last.weight.mul_(spread / outputs[head].std())
    net.is_test = True
    return net


def write_labels(path, names=CLASSES) -> str:
    Path(path).write_text("".join(f"{name}\n" for name in names))
    return str(path)


def save_checkpoint(path, net, names=CLASSES, **fields) -> str:
    """A training checkpoint in our format; `fields` override its metadata."""
    checkpoint = {"model": net.state_dict(), "net": net.net_name, "num_classes": net.num_classes,
                  "labels": list(names), "resolution": net.resolution, "width_mult": 1.0, "epoch": 3,
                  "val_loss": 2.5, "optimizer": {}}
    checkpoint.update(fields)
    torch.save(checkpoint, path)
    return str(path)


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


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
