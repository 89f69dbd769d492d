"""The device the simulator, env, PPO and evaluation suites run on: ``MIMIC_TEST_DEVICE``.

``MIMIC_TEST_DEVICE=cpu`` (default), ``cuda`` or ``cuda:k``. Tests that can run on a GPU carry the
``device`` marker and build their simulators, envs, agents and expectations on
:data:`TEST_DEVICE`; the env and evaluation tests then step ``mjwarp`` (MuJoCo Warp on that GPU),
since the ``mujoco`` backend runs on the CPU only. ``pytest -m device`` selects them (what ``make
gpu-check`` runs with ``MIMIC_TEST_DEVICE=cuda``). Where torch sees no CUDA device, a ``cuda``
request skips them, naming CUDA in the reason (tests/conftest.py adds the skip).

What determinism means here (README, "Determinism"):

- CPU (``mujoco``; ``mjwarp`` on Warp's CPU device; PPO): bit for bit. Two runs from the same state
  with the same actions give identical states, whatever the thread count, and a saved physics
  state continues exactly as the original.
- CUDA, PPO alone (networks, normalisers, GAE, Adam on a torch task): bit for bit too; the ops it
  uses have no atomics, so :data:`BIT_IDENTICAL_PPO` stays true there.
- CUDA, ``mjwarp``: not bit for bit. MuJoCo Warp's contact solver accumulates with atomics whose
  order changes from run to run (measured on an H200: the thread-count and saved-state tests
  differed), and so does torch's ``index_add_`` summing contact forces per body. Two runs from
  the same state agree within :data:`CUDA_REPEAT_TOLERANCE` over the first
  :data:`REPEAT_HORIZON_STEPS` control steps, after which contact events may split them as any
  float32 difference would (the CPU parity test saw 5e-7 m between ``mujoco`` and ``mjwarp`` for
  the first 0.6 s of jittered standing, then 4 cm after one foot contact differed). The tolerance
  is derived from that CPU measurement with 100x margin, not yet measured on a GPU: the tests print
  the deviations they find (``make gpu-check`` keeps them).
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Sequence

import torch
from torch import Tensor

ENV_VAR = "MIMIC_TEST_DEVICE"


def parse_test_device(text: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:k`` as a torch device; anything else is one clear error."""
    value = text.strip().lower()
    try:
        device = torch.device(value)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda") or (device.type == "cpu" and device.index):
        raise ValueError(f"{ENV_VAR}: expected 'cpu', 'cuda' or 'cuda:k', found {text!r}")
    return torch.device("cuda", device.index or 0) if device.type == "cuda" else device


def missing_device_reason(device: torch.device) -> str:
    """Why tests cannot run on ``device`` here ('' when they can); names CUDA when that is missing."""
    if device.type != "cuda":
        return ""
    if not torch.cuda.is_available():
        return f"{ENV_VAR}={device} asks for CUDA, but torch sees no CUDA device on this machine"
    if device.index is not None and device.index >= torch.cuda.device_count():
        return f"{ENV_VAR}={device}: torch sees only {torch.cuda.device_count()} CUDA device(s)"
    return ""


TEST_DEVICE = parse_test_device(os.environ.get(ENV_VAR, "cpu"))
ON_CUDA = TEST_DEVICE.type == "cuda"
#: The simulator the env and evaluation tests step: mujoco on the CPU, MuJoCo Warp on a GPU.
ENV_SIMULATOR = "mjwarp" if ON_CUDA else "mujoco"
#: Whether two simulations from the same state are identical to the bit on TEST_DEVICE.
BIT_IDENTICAL_SIMULATION = not ON_CUDA
#: Whether PPO alone (on a torch task) is identical to the bit on TEST_DEVICE: yes on CPU and CUDA.
BIT_IDENTICAL_PPO = True
#: Control steps (1/3 s at 30 Hz) over which two CUDA simulations from one state stay within tolerance.
REPEAT_HORIZON_STEPS = 10
#: Max |run 1 - run 2| on CUDA within the horizon: body positions m, rotations (xyzw), velocities
#: m/s, angular velocities rad/s, DoF positions rad, DoF velocities rad/s, contact forces N (of ~620
#: N standing), observations and rewards (unitless). Derived (module docstring), not yet measured.
CUDA_REPEAT_TOLERANCE: Dict[str, float] = {
    "pos": 1e-4, "rot": 1e-4, "vel": 1e-2, "ang_vel": 1e-2, "dof_pos": 1e-4, "dof_vel": 1e-2, "contact": 30.0,
    "obs": 1e-2, "reward": 1e-3,
}  # fmt: skip


#: Relative tolerance between two mjwarp evaluations of the same clips in different batches (error
#: metrics over whole clips, falls included). On the CPU (mujoco) batching changes them by < 1e-5;
#: mjwarp on Warp's CPU device moved them by up to 2 % (tests/test_evaluator.py); 2.5x that margin.
CUDA_EVAL_RTOL = 0.05


def env_overrides() -> List[str]:
    """Config overrides that put an env built by ``make_env`` on the test device."""
    return [f"simulator={ENV_SIMULATOR}", f"device={TEST_DEVICE}"]


def cli_device_flags() -> List[str]:
    """``mimic train`` / ``mimic inference`` flags for the test device."""
    return ["--simulator", ENV_SIMULATOR, "--device", str(TEST_DEVICE)]


def repeat_deviation(one: Sequence[Tensor], two: Sequence[Tensor]) -> float:
    """Max |a - b| over paired tensors (compared on the CPU, float64)."""
    return max(float((a.detach().cpu().double() - b.detach().cpu().double()).abs().max()) for a, b in zip(one, two))


def assert_repeatable(
    one: Mapping[str, Sequence[Tensor]], two: Mapping[str, Sequence[Tensor]], bit_identical: bool
) -> Dict[str, float]:
    """Two runs' states per quantity (each a sequence over steps, or one tensor per quantity):
    identical when ``bit_identical``; else within :data:`CUDA_REPEAT_TOLERANCE`. Returns (and
    prints, for ``make gpu-check``'s record) the deviation of each quantity."""
    deviations = {name: repeat_deviation(one[name], two[name]) for name in one}
    print(f"repeat deviation on {TEST_DEVICE}:", deviations)
    for name in one:
        if bit_identical:
            assert all(torch.equal(a, b) for a, b in zip(one[name], two[name])), (name, deviations[name])
        else:
            assert deviations[name] <= CUDA_REPEAT_TOLERANCE[name], (name, deviations[name])
    return deviations
