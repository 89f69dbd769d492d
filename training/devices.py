"""Which torch device a rank's simulator, environment, MotionLib and networks live on.

One device per rank for all of them: the environment computes observations and rewards where the
simulator's state tensors are (no copies per step), and the networks read the observations there.

``ExperimentConfig.device``:

- ``"auto"`` (default): the simulator's natural device. ``mjwarp`` and ``isaacgym`` use this
  rank's GPU (``cuda:<local rank>``) when torch sees one, else the CPU (MuJoCo Warp's CPU device:
  correct but slow; IsaacGym's CPU pipeline). ``mujoco`` is CPU only.
- ``"cpu"``; ``"cuda"`` (this rank's GPU); ``"cuda:k"`` (that GPU, one rank per node only).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

#: Backends whose state tensors can live on a GPU.
GPU_SIMULATORS = ("mjwarp", "isaacgym")


def resolve_device(
    simulator: str,
    requested: str,
    local_rank: int = 0,
    cuda_available: Optional[Callable[[], bool]] = None,
) -> torch.device:
    """The device of this rank (``local_rank`` on its node) for ``simulator`` and ``requested``.

    ``cuda_available`` defaults to ``torch.cuda.is_available`` (tests pass their own answer).
    Raises ValueError naming the setting when the request cannot be met.
    """
    has_cuda = (cuda_available or torch.cuda.is_available)()
    text = requested.strip().lower()
    if text == "auto":
        if simulator in GPU_SIMULATORS and has_cuda:
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    try:
        device: Optional[torch.device] = torch.device(text)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:k', found {requested!r}")
    if device.type == "cpu":
        return device
    if simulator not in GPU_SIMULATORS:
        raise ValueError(
            f"device: {requested!r} needs a GPU simulator ({', '.join(GPU_SIMULATORS)}); "
            f"the {simulator!r} backend runs on the CPU (use device=auto or cpu)"
        )
    if not has_cuda:
        raise ValueError(f"device: {requested!r} asked for, but torch sees no CUDA device on this machine")
    if device.index is None:
        return torch.device("cuda", local_rank)
    if local_rank != 0:
        raise ValueError(f"device: {requested!r} names one GPU, but several ranks run here: use device=cuda")
    return device


def resume_promise(device: torch.device) -> str:
    """What resuming a run on ``device`` promises (said with ``mimic train``'s resume message).

    Every device restores the exact saved state: weights, optimisers, normalisers, every RNG, the
    episodes in flight and the physics state. On the CPU the continued run is then the
    uninterrupted one, bit for bit. On CUDA it is not: MuJoCo Warp's contact solver (and torch's
    ``index_add_`` of contact forces) sum with atomics in a varying order, so two runs from one
    state already differ in float32's last bits at the first contact and drift apart as contacts
    amplify that (tests/device_under_test.py); a resumed run is one more such run.
    """
    if device.type == "cpu":
        return "on the CPU it continues bit for bit as if it had never stopped"
    return (
        f"on {device} it continues from the exact saved state, but not bit for bit: GPU physics sums "
        "contact forces with atomics, so it drifts from the uninterrupted run as two runs from one state do"
    )
