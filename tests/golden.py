"""Deterministic weights and input of ../shared/reference/GOLDEN.md."""
import numpy as np
import torch


def lcg(n: int, k: int) -> np.ndarray:
    t = np.arange(n, dtype=np.int64)
    values = (t * 2654435761 + k * 40503) % (1 << 32)
    return values.astype(np.float64) / (1 << 32) - 0.5


def golden_state_dict(state_dict: dict) -> dict:
    out = {}
    for k, (key, value) in enumerate(state_dict.items()):
        if key.endswith("num_batches_tracked"):
            out[key] = value.clone()
            continue
        u = lcg(value.numel(), k).reshape(tuple(value.shape))
        if key.endswith("running_var"):
            w = 1 + u
        elif key.endswith("running_mean"):
            w = 0.2 * u
        elif value.dim() == 1 and key.endswith("weight"):
            w = 1 + 0.2 * u
        elif value.dim() == 1:
            w = 0.1 * u
        else:
            w = np.sqrt(24 / (value.numel() / value.shape[0])) * u
        out[key] = torch.from_numpy(w.astype(np.float32))
    return out


def golden_input(size: int = 300) -> torch.Tensor:
    return torch.from_numpy((2 * lcg(3 * size * size, 0)).astype(np.float32).reshape(1, 3, size, size))
