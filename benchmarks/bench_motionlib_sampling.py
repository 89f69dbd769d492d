"""MotionLib.get_motion_state throughput: interpolated states per second at a fixed batch.

Builds a MotionLib in memory from synthetic motions (random but valid: unit quaternions,
dof_pos = exp-map of the local rotations), then times ``get_motion_state`` on random
(motion, time) batches against a naive reference written the straightforward way (per key:
gather both frames, lerp or slerp, as ProtoMotions does), interleaving the two so machine
noise hits both alike. Prints one JSON line, then a one-line summary.
Target: ≥ 1,000,000 states/s at batch 4096 on a 2-core CPU (ProtoMotions: ~240,000).

    python benchmarks/bench_motionlib_sampling.py [--batch 4096] [--motions 200] [--frames 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict

import torch
from torch import Tensor

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from motion.motion_lib import MotionLib  # noqa: E402
from motion.rotations import quat_normalize, quat_slerp, quat_to_rotvec  # noqa: E402
from motion.skeleton import NUM_BODIES, NUM_DOFS  # noqa: E402


def synthetic_library(num_motions: int, frames: int, seed: int = 0) -> Dict[str, object]:
    """A packaged-format dict of ``num_motions`` motions × ``frames`` frames at 30 fps."""
    gen = torch.Generator().manual_seed(seed)
    total = num_motions * frames
    lrs = quat_normalize(torch.randn(total, NUM_BODIES, 4, generator=gen))
    counts = torch.full((num_motions,), frames, dtype=torch.int64)
    return {
        "gts": torch.randn(total, NUM_BODIES, 3, generator=gen),
        "grs": quat_normalize(torch.randn(total, NUM_BODIES, 4, generator=gen)),
        "gvs": torch.randn(total, NUM_BODIES, 3, generator=gen),
        "gavs": torch.randn(total, NUM_BODIES, 3, generator=gen),
        "dps": quat_to_rotvec(lrs[:, 1:]).reshape(total, NUM_DOFS),
        "dvs": torch.randn(total, NUM_DOFS, generator=gen),
        "contacts": torch.rand(total, NUM_BODIES, generator=gen) < 0.3,
        "lrs": lrs,
        "length_starts": torch.cumsum(counts, 0) - counts,
        "motion_num_frames": counts,
        "motion_lengths": torch.full((num_motions,), (frames - 1) / 30.0),
        "motion_dt": torch.full((num_motions,), 1.0 / 30.0),
        "motion_weights": torch.ones(num_motions),
        "motion_files": tuple(f"synthetic_{i}.motion" for i in range(num_motions)),
    }


class NaiveMotionLib:
    """The straightforward implementation: per-key gathers, per-key interpolation, no packing."""

    def __init__(self, data: Dict[str, object]) -> None:
        self.data = data

    def get_motion_state(self, motion_ids: Tensor, times: Tensor) -> Dict[str, Tensor]:
        d = self.data
        length = d["motion_lengths"][motion_ids]
        num_frames = d["motion_num_frames"][motion_ids]
        dt = d["motion_dt"][motion_ids]
        t = torch.minimum(times.clamp_min(0.0), length)
        frame0 = (t / length * (num_frames - 1)).long()
        frame1 = torch.minimum(frame0 + 1, num_frames - 1)
        blend = ((t - frame0 * dt) / dt).clamp(0.0, 1.0)
        g0 = frame0 + d["length_starts"][motion_ids]
        g1 = frame1 + d["length_starts"][motion_ids]
        state0 = {key: d[key][g0].clone() for key in ("gts", "grs", "gvs", "gavs", "dps", "dvs", "contacts", "lrs")}
        state1 = {key: d[key][g1].clone() for key in ("gts", "grs", "gvs", "gavs", "dps", "dvs", "contacts", "lrs")}
        b3 = blend[:, None, None]
        out = {key: (1.0 - b3) * state0[key] + b3 * state1[key] for key in ("gts", "gvs", "gavs")}
        out["dvs"] = (1.0 - blend[:, None]) * state0["dvs"] + blend[:, None] * state1["dvs"]
        out["grs"] = quat_slerp(state0["grs"], state1["grs"], b3)
        out["lrs"] = quat_slerp(state0["lrs"], state1["lrs"], b3)
        out["dps"] = quat_to_rotvec(out["lrs"][:, 1:]).reshape(len(motion_ids), NUM_DOFS)
        out["contacts"] = state0["contacts"] | state1["contacts"]
        return out


def time_rounds(fns: Dict[str, Callable[[], object]], rounds: int, calls: int, device: str) -> Dict[str, list]:
    """Seconds per call for each function, ``rounds`` interleaved rounds of ``calls`` calls."""

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for fn in fns.values():
        for _ in range(3):
            fn()
    seconds: Dict[str, list] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            sync()
            seconds[name].append((time.perf_counter() - start) / calls)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--motions", type=int, default=200)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20, help="calls per timed round")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu (the target's device) or e.g. cuda")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    data = synthetic_library(args.motions, args.frames)
    lib = MotionLib(data, device=args.device)
    naive = NaiveMotionLib({k: v.to(args.device) if isinstance(v, Tensor) else v for k, v in data.items()})
    gen = torch.Generator(device=args.device).manual_seed(1)
    ids = lib.sample_motions(args.batch, generator=gen)
    times = lib.sample_time(ids, generator=gen)

    ours_state = lib.get_motion_state(ids, times)
    ref = naive.get_motion_state(ids, times)
    max_diff = max(
        float((ours_state.rigid_body_pos - ref["gts"]).abs().max()),
        float((ours_state.rigid_body_rot - ref["grs"]).abs().max()),
        float((ours_state.dof_pos - ref["dps"]).abs().max()),
    )

    seconds = time_rounds(
        {"ours": lambda: lib.get_motion_state(ids, times), "naive": lambda: naive.get_motion_state(ids, times)},
        args.rounds,
        args.calls,
        args.device,
    )
    rate = {name: args.batch / statistics.median(values) for name, values in seconds.items()}
    best = {name: args.batch / min(values) for name, values in seconds.items()}
    result = {
        "benchmark": "motionlib_sampling",
        "states_per_s": round(rate["ours"]),
        "states_per_s_best_round": round(best["ours"]),
        "naive_states_per_s": round(rate["naive"]),
        "naive_states_per_s_best_round": round(best["naive"]),
        "speedup_vs_naive": round(rate["ours"] / rate["naive"], 2),
        "ms_per_call": round(1e3 * statistics.median(seconds["ours"]), 3),
        "batch": args.batch,
        "device": args.device,
        "motions": args.motions,
        "frames_per_motion": args.frames,
        "max_abs_diff_vs_naive": max_diff,
        "target_states_per_s": 1_000_000,
        "baseline_protomotions_states_per_s": 240_000,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
    }
    print(json.dumps(result))
    print(
        f"get_motion_state: {result['states_per_s']:,} states/s (median of {args.rounds} rounds; best "
        f"{result['states_per_s_best_round']:,}) vs naive {result['naive_states_per_s']:,} "
        f"→ {result['speedup_vs_naive']}× at batch {args.batch}, {result['threads']} threads "
        f"(target 1,000,000; ProtoMotions ~240,000)"
    )


if __name__ == "__main__":
    main()
