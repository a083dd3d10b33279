"""One forward pass, PyTorch against onnxruntime on the exported graph, batch 1 on the CPU.

For mb1-ssd and mb2-ssd-lite at 300 with 21 classes (VOC): each net is exported with export_onnx
(opset 11), then both runtimes take turns on the same normalized input, with the same number of
threads. The best time is kept (on a shared machine other work only ever slows a run down), with
the median beside it and the CPU time per pass, which depends less on what else the machine runs.

    python3 bench/export.py [--runs 30] [--threads N]
"""
import argparse
import os
import statistics
import tempfile
import time

import onnxruntime
import torch

from vision.export.contract import INPUT_NAME
from vision.export.onnx_export import export_onnx, synthetic_image
from vision.inference.pipeline import net_input
from vision.ssd import create_net

NETS = ("mb1-ssd", "mb2-ssd-lite")
WARMUP = 3


def timed(run) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, runs: int, threads: int, directory: str) -> dict[str, list[tuple[float, float]]]:
    torch.manual_seed(0)
    net = create_net(name, 21, is_test=True).eval()
    path = os.path.join(directory, f"{name}.onnx")
    export_onnx(net, path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    image = net_input(synthetic_image(), net.resolution, net.mean, net.std)
    feed = {INPUT_NAME: image.numpy()}
    passes = {"pytorch": lambda: net(image), "onnxruntime": lambda: session.run(None, feed)}
    times = {runtime: [] for runtime in passes}
    with torch.inference_mode():
        for turn in range(WARMUP + runs):
            for runtime, run in passes.items():
                measured = timed(run)
                if turn >= WARMUP:
                    times[runtime].append(measured)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} threads "
          f"({os.cpu_count()} CPUs), batch 1, 300x300, {args.runs} runs each after {WARMUP} warm-up")
    print(f"{'net':14} {'runtime':12} {'best ms':>8} {'median ms':>10} {'CPU ms':>8}")
    with tempfile.TemporaryDirectory() as directory:
        for name in NETS:
            report(name, measure(name, args.runs, args.threads, directory))


def report(name: str, times: dict[str, list[tuple[float, float]]]) -> None:
    best = {}
    for runtime, samples in times.items():
        walls = [wall for wall, _ in samples]
        best[runtime] = min(walls)
        median, cpu = statistics.median(walls), statistics.median(cpu for _, cpu in samples)
        print(f"{name:14} {runtime:12} {best[runtime] * 1e3:8.1f} {median * 1e3:10.1f} {cpu * 1e3:8.1f}")
    ratio = best["pytorch"] / best["onnxruntime"]
    print(f"{name:14} onnxruntime is {ratio:.2f}x as fast as PyTorch (best times)")


if __name__ == "__main__":
    main()
