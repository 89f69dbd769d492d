"""Convert a whole AMASS tree (or a motion config) into ``.motion`` files.

Resumable (finished outputs are skipped unless ``force_remake``; every write is atomic, so a
killed run leaves only whole files), parallel (chunks of files per worker process, each chunk
converted in one batched pass), and it never stops on a bad file: failures are collected and
reported at the end. Each file is converted under a guard, so even an unexpected exception is
that file's failure (KeyboardInterrupt still stops). It does stop on an
:class:`~motion.errors.OutputWriteError` (disk full, read-only, ...): every later write would fail
too; the files finished so far are whole and a rerun resumes after them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from motion.amass import AmassClip, amass_subset_of, downsample_step, find_amass_files, read_amass_clip
from motion.capture_glitches import root_jumps
from motion.conversion import CONVERTER_VERSION, ConversionParams, convert_body_pose_batch
from motion.errors import MotionDataError, OutputWriteError
from motion.io_utils import PathLike, atomic_write_text, file_digest
from motion.limits import FRAMERATE_RANGE_TEXT, MAX_FRAMERATE, check_framerate
from motion.motion_config import SPLITS, MotionEntry, read_motion_config, split_of_subset, write_motion_config
from motion.motion_file import METADATA_KEY, SMPL_SIZES, read_torch_dict, save_motion

log = logging.getLogger(__name__)

MOTION_FORMAT_VERSION = 1
_UNSAFE_NAME = re.compile(r"[-() ]")


@dataclass(frozen=True)
class ConversionJob:
    """One source clip to convert, and where its ``.motion`` goes."""

    source: str
    output: str
    relative_source: str  # as recorded in metadata: relative to the AMASS root
    subset: str
    weight: float = 1.0
    fps: Optional[float] = None  # overrides the file's capture rate
    split: str = ""  # train / validation / test; "" = the AMASS default for ``subset``
    start: Optional[float] = None  # seconds
    end: Optional[float] = None


@dataclass
class ConversionReport:
    converted: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    failures: List[Tuple[str, str]] = field(default_factory=list)  # (source file, reason)
    notes: List[Tuple[str, str]] = field(default_factory=list)  # (source file, e.g. a capture glitch)
    seconds: float = 0.0
    source_frames: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        lines = [
            f"converted {len(self.converted)}, skipped {len(self.skipped)} (already done), "
            f"failed {len(self.failures)} in {self.seconds:.1f} s"
        ]
        lines += [f"  FAILED {source}: {reason}" for source, reason in self.failures]
        if self.notes:
            lines.append(f"{len(self.notes)} clip(s) converted with data problems kept as captured:")
            lines += [f"  NOTE {source}: {note}" for source, note in self.notes]
        return "\n".join(lines)


def output_name(relative_source: str) -> str:
    """``.motion`` path for a source path: ProtoMotions' rule, ``-``, ``(``, ``)``, spaces → ``_``."""
    stem = relative_source[: -len(".npz")] if relative_source.endswith(".npz") else relative_source
    parts = [_UNSAFE_NAME.sub("_", part) for part in Path(stem).parts]
    return str(Path(*parts)) + ".motion"


def plan_conversion(
    amass_root: PathLike,
    out_dir: PathLike,
    motion_config: Optional[PathLike] = None,
    subsets: Optional[Sequence[str]] = None,
    split_of: Optional[Mapping[str, str]] = None,
) -> List[ConversionJob]:
    """Jobs for every AMASS file below ``amass_root``, or for the entries of ``motion_config``
    (whose ``file`` paths are relative to ``amass_root``); with ``subsets``, only those below
    ``amass_root/<subset>`` for one of them (each must be a folder there). ``split_of`` maps
    subset folder names to the split their clips go to (e.g. ``{"heldout": "test"}`` for a corpus
    kept as ``train/`` and ``heldout/`` folders); other subsets take the AMASS default split."""
    root = Path(amass_root)
    split_of = check_split_map(split_of or {}, root)
    for subset in subsets or ():
        if not (root / subset).is_dir():
            present = sorted(child.name for child in root.iterdir() if child.is_dir()) if root.is_dir() else []
            raise MotionDataError(root, "subsets", f"a folder {subset!r} in the AMASS root", f"folders {present}")
    if motion_config is not None:
        entries = read_motion_config(motion_config)
        if subsets is not None:
            wanted = set(subsets)
            entries = [entry for entry in entries if Path(entry.file).parts[0] in wanted]
    else:
        folders = [root] if subsets is None else [root / subset for subset in subsets]
        entries = [MotionEntry(file=path.relative_to(root).as_posix()) for f in folders for path in find_amass_files(f)]
    jobs = []
    for entry in entries:
        source = root / entry.file
        jobs.append(
            ConversionJob(
                source=str(source),
                output=str(Path(out_dir) / output_name(entry.file)),
                relative_source=entry.file,
                subset=amass_subset_of(source, root),
                split=split_of.get(amass_subset_of(source, root), split_of_subset(amass_subset_of(source, root))),
                weight=entry.weight,
                fps=entry.fps,
                start=entry.start,
                end=entry.end,
            )
        )
    return jobs


def _select_frames(clip: AmassClip, job: ConversionJob, params: ConversionParams) -> Tuple[Any, Any, float, int]:
    """Slice (seconds → source frames) then downsample: (poses, trans, output fps, step)."""
    # The reader and the config parser range-check their rates; checked again here, where it is used.
    fps = clip.fps if job.fps is None else check_framerate(job.fps, job.source, "fps (motion config)")
    first = 0 if job.start is None else int(round(job.start * fps))
    last = clip.num_frames if job.end is None else min(clip.num_frames, int(round(job.end * fps)) + 1)
    if last - first < 2:
        raise MotionDataError(
            job.source,
            "sub_motions[0].timings",
            "a slice of at least 2 frames",
            f"frames {first}..{last - 1}",
        )
    step, output_fps = downsample_step(fps, params.output_fps)
    poses = clip.poses[first:last:step]
    if poses.shape[0] < 2:
        raise MotionDataError(job.source, "poses", f"at least 2 frames after downsampling by {step}", "1")
    return poses, clip.trans[first:last:step], output_fps, step


def _metadata(clip: AmassClip, job: ConversionJob, params: ConversionParams, step: int, md5: str) -> Dict[str, Any]:
    return {
        "format_version": MOTION_FORMAT_VERSION,
        "converter_version": CONVERTER_VERSION,
        "source_path": job.relative_source,
        "source_md5": md5,
        "source_fps": float(clip.fps if job.fps is None else job.fps),
        "source_frames": clip.num_frames,
        "source_slice_seconds": [job.start, job.end],
        "frame_step": step,
        "subset": job.subset,
        "split": job.split or split_of_subset(job.subset),
        "betas": [float(b) for b in clip.betas],
        "gender": clip.gender,
        "model_type": clip.model_type,
        "synthetic": Path(job.source).name.startswith("SYNTHETIC_"),
        "conversion": params.as_dict(),
    }


Prefetched = List[Tuple["Future[Tuple[AmassClip, Tuple[Any, Any, float, int]]]", "Future[str]"]]


def _read_job(job: ConversionJob, params: ConversionParams) -> Tuple[AmassClip, Tuple[Any, Any, float, int]]:
    clip = read_amass_clip(job.source)
    return clip, _select_frames(clip, job, params)


def prefetch_chunk(jobs: Sequence[ConversionJob], params: ConversionParams, io: ThreadPoolExecutor) -> Prefetched:
    """Start reading and hashing ``jobs`` on the I/O threads; returns per job (read, md5) futures.

    Reading (zip + npy), and md5 above all, are half of the per-file cost and release the GIL,
    so they run beside the tensor maths and the writes of the previous chunk.
    """
    return [(io.submit(_read_job, job, params), io.submit(file_digest, job.source, "md5")) for job in jobs]


class ChunkResult(NamedTuple):
    """What converting one job gave: an error message or None, and notes on a converted clip."""

    source: str
    error: Optional[str]
    frames: int  # source frames converted (0 on failure)
    notes: Tuple[str, ...] = ()  # data problems kept as captured (motion.capture_glitches)


def convert_chunk(
    jobs: Sequence[ConversionJob], params: ConversionParams, prefetched: Optional[Prefetched] = None
) -> List[ChunkResult]:
    """Convert and write a chunk of jobs in one batched pass.

    Returns one :class:`ChunkResult` per job. Bad inputs are reported, never raised, so one file
    cannot stop a batch.
    """
    own_io = None
    if prefetched is None:
        own_io = ThreadPoolExecutor(max_workers=2)
        prefetched = prefetch_chunk(jobs, params, own_io)
    try:
        return _convert_prefetched(jobs, params, prefetched)
    finally:
        if own_io is not None:
            own_io.shutdown(wait=True)


def _failure_message(job: ConversionJob, error: Exception) -> str:
    """One line for a file's failure: bad input names its field; anything else is unexpected."""
    if isinstance(error, MotionDataError):
        return str(error)
    if isinstance(error, OSError):
        return f"cannot read {job.source} or write {job.output}: {error}"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{job.source}: unexpected {type(error).__name__} while converting: {text}"[:500]


def _convert_prefetched(
    jobs: Sequence[ConversionJob], params: ConversionParams, prefetched: Prefetched
) -> List[ChunkResult]:
    results: Dict[str, ChunkResult] = {}
    prepared = []
    for job, (read, md5) in zip(jobs, prefetched):
        try:
            clip, (poses, trans, fps, step) = read.result()
            prepared.append((job, clip, poses, trans, fps, step, md5))
        except Exception as error:  # the per-file guard: one bad file is one failed row
            results[job.source] = ChunkResult(job.source, _failure_message(job, error), 0)
    for group in _convert_groups(prepared, params, results):
        for (job, clip, _poses, _trans, _fps, step, md5), motion in group:
            try:
                metadata = _metadata(clip, job, params, step, md5.result())
                jumps = root_jumps(clip.trans, clip.fps if job.fps is None else job.fps)
                if jumps:  # only then: clips without glitches keep the bytes converter 2 always wrote
                    metadata["capture_glitches"] = [[j.frame, round(j.step, 4), round(j.local, 4)] for j in jumps]
                motion["mimicflow"] = metadata
                save_motion(motion, job.output, SMPL_SIZES)
                notes = tuple(jump.describe() for jump in jumps)  # listed in the report's summary
                results[job.source] = ChunkResult(job.source, None, clip.num_frames, notes)
            except OutputWriteError:
                raise  # the disk is full (or read-only...): the next file would fail the same way
            except Exception as error:  # e.g. non-finite states from extreme source poses
                results[job.source] = ChunkResult(job.source, _failure_message(job, error), 0)
    return [results[job.source] for job in jobs]


def _convert_groups(
    prepared: List[Any], params: ConversionParams, results: Dict[str, ChunkResult]
) -> List[List[Tuple[Any, Dict[str, Any]]]]:
    """The chunk's motions in one batched pass; should that fail, each file alone, so that only
    the file that breaks the maths fails (recorded in ``results``)."""
    if not prepared:
        return []
    try:
        motions = convert_body_pose_batch(
            [p[2] for p in prepared], [p[3] for p in prepared], [p[4] for p in prepared], params
        )
        return [list(zip(prepared, motions))]
    except Exception:
        pass
    groups = []
    for item in prepared:
        job = item[0]
        try:
            groups.append([(item, convert_body_pose_batch([item[2]], [item[3]], [item[4]], params)[0])])
        except Exception as error:
            results[job.source] = ChunkResult(job.source, _failure_message(job, error), 0)
    return groups


def _worker_init() -> None:
    # One intra-op thread per worker: parallelism comes from processes; more threads only fight.
    import torch

    torch.set_num_threads(1)


#: The stamp :func:`convert_amass_tree` keeps in its output folder: the converter version and
#: parameters its outputs were made with.
TREE_STAMP = "conversion.json"


def conversion_stamp(params: ConversionParams, split_of: Optional[Mapping[str, str]] = None) -> str:
    """The text of a conversion stamp: the converter version and ``params``, as sorted JSON, plus
    the subset → split map when one was given (it is written into every output's metadata)."""
    stamp: Dict[str, Any] = dict(params.as_dict(), converter_version=CONVERTER_VERSION)
    if split_of:
        stamp["split_of"] = dict(sorted(split_of.items()))
    return json.dumps(stamp, sort_keys=True)


def check_split_map(split_of: Mapping[str, str], root: PathLike) -> Dict[str, str]:
    """``split_of`` checked: every split one of :data:`SPLITS`; raises naming the bad entry."""
    for subset, split in split_of.items():
        if split not in SPLITS:
            raise MotionDataError(
                root, "split_of", f"a split in {', '.join(SPLITS)} for subset {subset!r}", repr(split)
            )
    return dict(split_of)


def stamp_is_stale(
    stamp_file: PathLike, params: ConversionParams, split_of: Optional[Mapping[str, str]] = None
) -> bool:
    """Whether ``stamp_file`` records another converter version or other parameters than ``params``.

    The converter resumes by skipping outputs that exist, so outputs made with other parameters
    would be kept: a caller that keeps a stamp beside its output folder remakes them when this is
    true (no stamp: nothing known, nothing forced), and writes the stamp once the conversion is ok.
    """
    stamp_file = Path(stamp_file)
    return stamp_file.is_file() and stamp_file.read_text() != conversion_stamp(params, split_of)


def write_conversion_stamp(
    stamp_file: PathLike, params: ConversionParams, split_of: Optional[Mapping[str, str]] = None
) -> None:
    atomic_write_text(conversion_stamp(params, split_of), stamp_file)


def convert_amass_tree(
    amass_root: PathLike,
    out_dir: PathLike,
    motion_config: Optional[PathLike] = None,
    params: ConversionParams = ConversionParams(),
    force_remake: bool = False,
    workers: int = 1,
    chunk_size: int = 32,
    progress: bool = True,
    subsets: Optional[Sequence[str]] = None,
    split_of: Optional[Mapping[str, str]] = None,
) -> ConversionReport:
    """Convert every clip of an AMASS tree (or motion config; only ``subsets`` if given) to ``out_dir``.

    Writes ``out_dir/<subset>/.../<name>.motion`` per clip, plus ``motions.yaml`` (all
    outputs with their weights) and ``train.yaml``/``validation.yaml``/``test.yaml`` (the
    default AMASS split, or ``split_of``'s split for the subsets it names), which
    ``mimic motionlib package`` reads.
    """
    started = time.perf_counter()
    report = ConversionReport()
    if not 1 <= params.output_fps <= MAX_FRAMERATE:
        raise MotionDataError(
            "--output-fps", "output_fps", f"a rate in {FRAMERATE_RANGE_TEXT}", repr(params.output_fps)
        )
    jobs = plan_conversion(amass_root, out_dir, motion_config, subsets, split_of)
    _check_unique_outputs(jobs)
    stamp = Path(out_dir) / TREE_STAMP
    if not force_remake and _outputs_out_of_date(stamp, jobs, params, split_of):
        log.info(f"{out_dir}: made by another converter version or with other parameters: converting again")
        force_remake = True
    todo = [job for job in jobs if force_remake or not os.path.exists(job.output)]
    pending = {job.source for job in todo}
    report.skipped = [job.source for job in jobs if job.source not in pending]
    # Several chunks per worker so the pool stays balanced, but never more than chunk_size files.
    size = max(1, min(chunk_size, -(-len(todo) // (4 * max(1, workers)))))
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]

    from motion.progress import Progress

    bar = Progress(len(todo), "convert", "file", enabled=progress)  # a bar on a terminal, else lines
    try:
        if workers <= 1:
            _worker_init()
            with ThreadPoolExecutor(max_workers=2) as io:
                # Chunk k+1 is read and hashed while chunk k is converted and written.
                upcoming = prefetch_chunk(chunks[0], params, io) if chunks else []
                for index, chunk in enumerate(chunks):
                    current = upcoming
                    if index + 1 < len(chunks):
                        upcoming = prefetch_chunk(chunks[index + 1], params, io)
                    _record(report, convert_chunk(chunk, params, current), bar)
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
                futures = {pool.submit(convert_chunk, chunk, params): chunk for chunk in chunks}
                try:
                    for future in as_completed(futures):
                        _record(report, _chunk_outcome(future, futures[future]), bar)
                except BaseException:  # a write error or Ctrl-C: start no further chunk
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    failed = {source for source, _ in report.failures}
    _write_indexes([job for job in jobs if job.source not in failed], out_dir)
    write_conversion_stamp(stamp, params, split_of)  # every output now is this converter's with these parameters
    report.seconds = time.perf_counter() - started
    return report


def _outputs_out_of_date(
    stamp: Path, jobs: Sequence[ConversionJob], params: ConversionParams, split_of: Optional[Mapping[str, str]]
) -> bool:
    """Whether the outputs already there were made by another converter version or with other
    parameters, so that resuming (skipping outputs that exist) would keep them.

    The folder's stamp says; a folder from before stamps existed is judged by the recorded
    metadata of its first existing output.
    """
    if stamp.is_file():
        return stamp_is_stale(stamp, params, split_of)
    existing = next((job.output for job in jobs if os.path.exists(job.output)), None)
    if existing is None:
        return False
    try:
        metadata = read_torch_dict(existing, mmap=True).get(METADATA_KEY) or {}
    except MotionDataError:
        return True  # unreadable: convert again
    return metadata.get("converter_version") != CONVERTER_VERSION or metadata.get("conversion") != params.as_dict()


def _chunk_outcome(future: Future[List[ChunkResult]], chunk: Sequence[ConversionJob]) -> Any:
    """A worker's results; a worker that died (killed, out of memory) fails its chunk's files."""
    try:
        return future.result()
    except BrokenProcessPool as error:
        reason = f"the worker process converting it died ({error or 'killed or out of memory'}); rerun to retry"
        return [ChunkResult(job.source, f"{job.source}: {reason}", 0) for job in chunk]


def _record(report: ConversionReport, outcome: List[ChunkResult], bar: Any) -> None:
    for source, error, frames, notes in outcome:
        if error is None:
            report.converted.append(source)
            report.source_frames += frames
            report.notes += [(source, note) for note in notes]
        else:
            report.failures.append((source, error))
    bar.update(len(outcome))


def _check_unique_outputs(jobs: Sequence[ConversionJob]) -> None:
    seen: Dict[str, str] = {}
    for job in jobs:
        if job.output in seen:
            raise MotionDataError(
                job.source, "file", f"a unique output name ({seen[job.output]} maps to it too)", job.output
            )
        seen[job.output] = job.source


def _write_indexes(jobs: Sequence[ConversionJob], out_dir: PathLike) -> None:
    """motions.yaml with every converted clip, and one YAML per split (possibly empty)."""
    entries_by_split: Dict[str, List[MotionEntry]] = {split: [] for split in SPLITS}
    all_entries = []
    for job in jobs:
        entry = MotionEntry(file=os.path.relpath(job.output, out_dir), weight=job.weight)
        all_entries.append(entry)
        entries_by_split[job.split or split_of_subset(job.subset)].append(entry)
    write_motion_config(all_entries, Path(out_dir) / "motions.yaml")
    for split, entries in entries_by_split.items():
        write_motion_config(entries, Path(out_dir) / f"{split}.yaml")
