"""Retarget every motion of an SMPL MotionLib to the G1 with a process pool.

Each motion becomes ``<out_dir>/<index>_<name>.motion`` (G1 states); the good ones are packaged
into the G1 MotionLib at ``output_file``, and the quality report is written beside it
(``<stem>.quality.parquet``, ``<stem>.quality_summary.json``). A bad motion is reported with
its error while the others complete; an output that cannot be written (disk full, read-only, ...)
stops the run with :class:`motion.errors.OutputWriteError`, since every later write would fail too.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from motion.errors import MotionDataError, OutputWriteError
from motion.io_utils import PathLike
from retarget.ik import G1Retargeter, RetargetParams

_WORKER: Dict[str, Any] = {}


@dataclass
class RetargetJob:
    """One SMPL motion to retarget (``T`` frames)."""

    index: int
    name: str
    source: str
    fps: int
    body_pos: np.ndarray  # (T, 24, 3) m
    body_rot: np.ndarray  # (T, 24, 4) xyzw
    contacts: np.ndarray  # (T, 24) bool
    output: Path


@dataclass
class RetargetReport:
    """What :func:`retarget_motion_lib` did."""

    output_file: Path
    motion_files: List[Path] = field(default_factory=list)
    quality: List[Dict[str, Any]] = field(default_factory=list)
    failures: List[Tuple[str, str]] = field(default_factory=list)  # (motion name, error)
    num_frames: int = 0
    seconds: float = 0.0
    report_files: Dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def plan_jobs(motion_file: PathLike, out_dir: PathLike) -> List[RetargetJob]:
    """One job per motion of the SMPL MotionLib ``motion_file``."""
    from motion.motion_lib import MotionLib

    # NaN/inf are checked per motion in run_job, so one bad motion is one failed row, not the batch.
    lib = MotionLib.from_file(motion_file, check_values=False)
    if lib.contacts is None:
        raise MotionDataError(motion_file, "contacts", "per-body contacts (bool or float)", "missing")
    if lib.gts.shape[1] != 24:
        raise MotionDataError(
            motion_file, "gts", "an SMPL humanoid MotionLib (24 bodies)", f"{lib.gts.shape[1]} bodies"
        )
    jobs = []
    for index in range(lib.num_motions):
        start, count = int(lib.length_starts[index]), int(lib.motion_num_frames[index])
        source = lib.motion_files[index] if index < len(lib.motion_files) else ""
        name = Path(source).stem if source else f"motion_{index}"
        frames = slice(start, start + count)
        jobs.append(
            RetargetJob(
                index=index,
                name=name,
                source=source,
                fps=int(round(1.0 / float(lib.motion_dt[index]))),
                body_pos=lib.gts[frames].numpy().copy(),
                body_rot=lib.grs[frames].numpy().copy(),
                contacts=(lib.contacts[frames] > 0.5).numpy().copy(),
                output=Path(out_dir) / f"{index:06d}_{name}.motion",
            )
        )
    return jobs


def _worker_init(robot_xml: Optional[str], params: RetargetParams) -> None:
    # One intra-op thread per worker: parallelism comes from processes.
    import torch

    from robots.g1_kinematics import load_g1_model

    torch.set_num_threads(1)
    g1 = load_g1_model(robot_xml)
    _WORKER.update(g1=g1, retargeter=G1Retargeter(g1, params), params=params)


def run_job(job: RetargetJob) -> Tuple[int, Optional[Dict[str, Any]], str]:
    """Retarget, save and measure one motion: (index, quality row or None, error message)."""
    from motion.motion_file import save_motion
    from retarget.output import fix_height, g1_motion, g1_sizes, smoothed_foot_contacts
    from retarget.quality import motion_quality
    from robots.g1_kinematics import KEYPOINT_FRAMES

    g1, retargeter, params = _WORKER["g1"], _WORKER["retargeter"], _WORKER["params"]
    try:
        for key in ("body_pos", "body_rot"):
            values = getattr(job, key)
            if not np.isfinite(values).all():
                frame = int(np.argwhere(~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1))[0, 0])
                raise MotionDataError(job.source or job.name, key, "finite values", f"NaN or inf at frame {frame}")
        result = retargeter.retarget(job.body_pos, job.body_rot, job.contacts, job.fps)
        qpos = fix_height(g1, result.qpos)
        metadata = {
            "source_path": job.source,
            "robot": "g1",
            "robot_xml": str(g1.xml_path),
            "body_names": list(g1.body_names),
            "joint_names": list(g1.joint_names),
            "keypoints": [list(k) for k in KEYPOINT_FRAMES],
            # Under "conversion", as for SMPL motions: the packaged library lists each distinct set once.
            "conversion": params.as_dict(),
        }
        motion = g1_motion(g1, qpos, result, metadata)
        save_motion(motion, job.output, g1_sizes(g1))
        contacts = smoothed_foot_contacts(result.foot_contacts)
        row = motion_quality(g1, qpos, result.keypoint_targets, contacts, result.fps)
        row.update(motion=job.name, source=job.source)
        return job.index, row, ""
    except OutputWriteError:
        raise  # not this motion's fault: the disk is full (or read-only...), stop the batch
    except Exception as error:  # reported per motion; the batch goes on
        return job.index, None, f"{type(error).__name__}: {error}"


def retarget_motion_lib(
    motion_file: PathLike,
    output_file: PathLike,
    robot_xml: Optional[PathLike] = None,
    workers: int = 1,
    out_dir: Optional[PathLike] = None,
    params: RetargetParams = RetargetParams(),
    progress: bool = False,
) -> RetargetReport:
    """Retarget every motion of ``motion_file`` to the G1; package the good ones into ``output_file``.

    ``progress``: report motions done with rate and ETA (:mod:`motion.progress`)."""
    from motion.motion_lib_packaging import package_motion_lib
    from retarget.output import g1_sizes
    from retarget.quality import write_quality_report
    from robots.g1 import resolve_g1_xml
    from robots.g1_kinematics import load_g1_model

    started = time.perf_counter()
    output_file = Path(output_file)
    xml = str(resolve_g1_xml(robot_xml))  # fail early, before any worker starts
    motions_dir = Path(out_dir) if out_dir is not None else output_file.with_name(output_file.stem + "_motions")
    motions_dir.mkdir(parents=True, exist_ok=True)
    jobs = plan_jobs(motion_file, motions_dir)
    from motion.progress import progress_iter

    if workers <= 1:
        _worker_init(xml, params)
        outcomes = [run_job(job) for job in progress_iter(jobs, "retarget", "motion", enabled=progress)]
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(xml, params)) as pool:
            results = pool.map(run_job, jobs, chunksize=1)
            outcomes = list(progress_iter(results, "retarget", "motion", total=len(jobs), enabled=progress))
    report = RetargetReport(output_file=output_file)
    for (index, row, error), job in zip(outcomes, jobs):  # map keeps the job order
        assert index == job.index
        if row is None:
            report.failures.append((job.source or job.name, error))
            continue
        report.quality.append(row)
        report.motion_files.append(job.output)
        report.num_frames += int(row["num_frames"])
    if report.motion_files:
        package_motion_lib(report.motion_files, output_file, expected=g1_sizes(load_g1_model(xml)))
    extra = {
        "motion_file": str(motion_file),
        "output_file": str(output_file) if report.motion_files else None,
        "robot_xml": xml,
        "params": params.as_dict(),
        "failures": [{"motion": name, "error": error} for name, error in report.failures],
    }
    report.report_files = write_quality_report(report.quality, output_file.parent, output_file.stem, extra)
    report.seconds = time.perf_counter() - started
    return report
