"""The MotionLib: packaged reference motions, sampled and interpolated in batches.

Loads our packaged ``.pt`` (see :mod:`motion.motion_lib_packaging`) or one made by ProtoMotions,
always with ``weights_only=True``. :meth:`MotionLib.get_motion_state` reproduces ProtoMotions'
interpolation rule, vectorised over the batch:

* ``t`` is clamped to ``[0, length]``; ``frame0 = floor(t / length · (n − 1))``,
  ``frame1 = min(frame0 + 1, n − 1)``, ``blend = clip((t − frame0·dt) / dt, 0, 1)``;
* positions, velocities, angular velocities and dof velocities are lerped; body rotations and
  local rotations are slerped; ``dof_pos`` is the exp-map of the slerped local rotations of the
  non-root bodies (lerped ``dps`` when the library has no local rotations);
* bool contacts are the OR of the frames the blend draws on; float contacts are lerped.

Unlike ProtoMotions, all-zero contact labels are kept (ProtoMotions drops them at load).

One deliberate refinement: ``frame0`` is corrected by at most one frame so that ``frame0·dt ≤ t <
(frame0 + 1)·dt`` holds in float arithmetic, times within 1e-5 frames of a frame snapping onto it.
Values are unchanged (to float precision), but a time ``t = k·dt`` then reads frame ``k`` itself
with ``blend = 0``: its quaternions with their stored sign, and its own contacts (ProtoMotions may
return the previous frame blended by 0.99999, and ORs in the next frame's contacts).

Sharded libraries: a file name containing ``slurmrank`` (e.g. ``amass_slurmrank.pt``) resolves
per distributed rank to one of ``amass_0.pt``, ``amass_1.pt``, ... (:func:`resolve_motion_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from motion.errors import MotionDataError
from motion.io_utils import PathLike, atomic_torch_save
from motion.motion_file import METADATA_KEY, read_torch_dict
from motion.motion_lib_checks import PER_MOTION_KEYS as _PER_MOTION_KEYS
from motion.motion_lib_checks import check_finite_columns, check_motion_lib_dict
from motion.motion_lib_shards import resolve_motion_file
from motion.rotations import MIN_SLERP_ARC, quat_to_rotvec

#: Times this close to a frame (in frames) read that frame alone: float32 rounding of t = k·dt
#: must not turn into a blend of 0.99999 with the previous frame (a sign-flipped quaternion and
#: that frame's contacts). Far below any motion's resolution.
_SNAP_FRAMES = 1e-5


class MotionState(NamedTuple):
    """Interpolated reference states for a batch of ``N`` (motion, time) queries.

    ``B`` bodies (24 for SMPL) and ``D`` dofs (69). Tensors may be views into one buffer
    (use ``.reshape``/``.contiguous()`` rather than ``.view`` across their last dimensions).
    """

    rigid_body_pos: Tensor  # (N, B, 3) m, world frame
    rigid_body_rot: Tensor  # (N, B, 4) xyzw, world frame
    rigid_body_vel: Tensor  # (N, B, 3) m/s
    rigid_body_ang_vel: Tensor  # (N, B, 3) rad/s
    dof_pos: Tensor  # (N, D) rad (exp-map of local rotations for SMPL)
    dof_vel: Tensor  # (N, D) rad/s
    rigid_body_contacts: Optional[Tensor]  # (N, B) bool (float for smoothed contacts); None if absent
    local_rigid_body_rot: Optional[Tensor]  # (N, B, 4) xyzw, parent frame; None if absent


class MotionLib:
    """Reference motions concatenated along frames, with per-motion start, length, dt and weight.

    Per-frame data is held in one (F, C) float32 buffer (lerped columns, then quaternions) so a
    query gathers both bracketing frames of every key with a single ``index_select``; the public
    per-key tensors (``gts``, ``grs``, ...) are views into it.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        device: Union[str, torch.device] = "cpu",
        source: PathLike = "<memory>",
        check_values: bool = True,
    ):
        """``check_values``: refuse NaN/inf per-frame values (one pass over the data). Only a caller
        that validates every motion itself and reports them one by one (retargeting) turns it off."""
        self.source = str(source)
        self.device = torch.device(device)
        num_frames, num_bodies, num_dofs = check_motion_lib_dict(data, self.source)
        self.metadata: Dict[str, Any] = dict(data.get(METADATA_KEY) or {})
        self.motion_files: Tuple[str, ...] = tuple(data.get("motion_files") or ("",) * len(data["motion_lengths"]))
        self.length_starts = _owned(data["length_starts"], self.device, torch.int64)
        self.motion_num_frames = _owned(data["motion_num_frames"], self.device, torch.int64)
        self.motion_lengths = _owned(data["motion_lengths"], self.device, torch.float32)
        self.motion_dt = _owned(data["motion_dt"], self.device, torch.float32)
        self._weights = torch.empty(0)
        self.motion_weights = data["motion_weights"]
        self._last_frame = self.motion_num_frames - 1

        contacts = data.get("contacts")
        self._bool_contacts = contacts is not None and contacts.dtype == torch.bool
        has_lrs = data.get("lrs") is not None
        # dof_pos comes from the local rotations when they describe every non-root body.
        self._dof_from_lrs = has_lrs and num_dofs == 3 * (num_bodies - 1)
        linear_keys = ["gts", "gvs", "gavs", "dvs"]
        if not self._dof_from_lrs:
            linear_keys.append("dps")
        if contacts is not None and not self._bool_contacts:
            linear_keys.append("contacts")
        quat_keys = ["grs", "lrs"] if has_lrs else ["grs"]
        columns = [data[key].reshape(num_frames, -1) for key in linear_keys + quat_keys]
        widths = [c.shape[1] for c in columns]
        self._frames = torch.empty((num_frames, sum(widths)), dtype=torch.float32, device=self.device)
        self._column: Dict[str, slice] = {}
        offset = 0
        for key, column, width in zip(linear_keys + quat_keys, columns, widths):
            self._frames[:, offset : offset + width].copy_(column)
            self._column[key] = slice(offset, offset + width)
            offset += width
        if check_values:
            check_finite_columns(self._frames, self._column, self.source)
        self._linear_width = sum(widths[: len(linear_keys)])
        self._num_quats = len(quat_keys) * num_bodies
        self._num_bodies, self._num_dofs = num_bodies, num_dofs
        self._contacts = _owned(contacts, self.device, torch.bool) if self._bool_contacts else None

        frames = self._frames
        self.gts = frames[:, self._column["gts"]].view(num_frames, num_bodies, 3)
        self.gvs = frames[:, self._column["gvs"]].view(num_frames, num_bodies, 3)
        self.gavs = frames[:, self._column["gavs"]].view(num_frames, num_bodies, 3)
        self.grs = frames[:, self._column["grs"]].view(num_frames, num_bodies, 4)
        self.lrs = frames[:, self._column["lrs"]].view(num_frames, num_bodies, 4) if has_lrs else None
        self.dvs = frames[:, self._column["dvs"]]
        if "dps" in self._column:
            self.dps = frames[:, self._column["dps"]]
        else:
            self.dps = _owned(data["dps"], self.device, torch.float32)
            if check_values:
                check_finite_columns(self.dps, {"dps": slice(0, self._num_dofs)}, self.source)
        self._arcs = self._frame_pair_arcs()
        self.contacts = self._contacts if self._bool_contacts else None
        if "contacts" in self._column:
            self.contacts = frames[:, self._column["contacts"]]

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: PathLike,
        device: Union[str, torch.device] = "cpu",
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        cycle: int = 0,
        check_values: bool = True,
    ) -> MotionLib:
        """Load a packaged ``.pt`` (ours or ProtoMotions'); ``slurmrank`` names pick this rank's shard."""
        resolved = resolve_motion_file(path, rank, world_size, cycle)
        # mmap: tensors are copied straight from the page cache into the packed buffer.
        return cls(read_torch_dict(resolved, mmap=True), device=device, source=resolved, check_values=check_values)

    @classmethod
    def from_motion_files(
        cls,
        paths: Sequence[PathLike],
        weights: Optional[Sequence[float]] = None,
        device: Union[str, torch.device] = "cpu",
    ) -> MotionLib:
        """Build in memory from ``.motion`` files (bad files raise ``MotionPackagingError``)."""
        from motion.motion_lib_packaging import MotionSource, build_motion_lib

        if weights is not None and len(weights) != len(paths):
            raise MotionDataError("<motion list>", "weights", f"{len(paths)} weights", f"{len(weights)}")
        sources = [MotionSource(Path(p), 1.0 if weights is None else float(w)) for p, w in zip(paths, weights or paths)]
        data, _ = build_motion_lib(sources)
        return cls(data, device=device)

    def to_dict(self) -> Dict[str, Any]:
        """The packaged-file dict (contiguous CPU tensors), as :mod:`motion_lib_packaging` writes it."""
        out: Dict[str, Any] = {}
        for key in ("gts", "grs", "gvs", "gavs", "dps", "dvs", "contacts", "lrs"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        for key in _PER_MOTION_KEYS:
            out[key] = getattr(self, key).detach().to("cpu").clone()
        out["motion_files"] = self.motion_files
        if self.metadata:
            out[METADATA_KEY] = self.metadata
        return out

    def save(self, path: PathLike) -> None:
        atomic_torch_save(self.to_dict(), path)

    # --- per-motion properties ----------------------------------------------------------------

    @property
    def num_motions(self) -> int:
        return int(self.motion_lengths.shape[0])

    @property
    def num_frames(self) -> int:
        """Frames over all motions (F)."""
        return int(self._frames.shape[0])

    @property
    def motion_weights(self) -> Tensor:
        """(M,) float32 sampling weights (not normalised)."""
        return self._weights

    @motion_weights.setter
    def motion_weights(self, weights: Any) -> None:
        weights = torch.as_tensor(weights, dtype=torch.float32, device=self.device)
        count = int(self.motion_lengths.shape[0])
        if weights.shape != (count,):
            raise MotionDataError(self.source, "motion_weights", f"shape ({count},)", f"shape {tuple(weights.shape)}")
        if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()) or not bool((weights > 0).any()):
            raise MotionDataError(self.source, "motion_weights", "finite, ≥ 0, not all zero", str(weights.tolist()[:8]))
        self._weights = weights

    # --- sampling -------------------------------------------------------------------------------

    def sample_motions(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """(n,) int64 motion ids drawn with replacement, probability ∝ weight."""
        return torch.multinomial(self._weights, n, replacement=True, generator=generator)

    def sample_time(
        self, motion_ids: Tensor, truncate_time: Optional[float] = None, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        """(N,) float32 seconds, uniform in ``[0, length − truncate_time]`` (clamped at 0)."""
        lengths = self.motion_lengths.index_select(0, motion_ids)
        if truncate_time is not None:
            lengths = (lengths - truncate_time).clamp_min(0.0)
        phase = torch.rand(lengths.shape, generator=generator, device=self.device, dtype=torch.float32)
        return phase * lengths

    def _frame_pair_arcs(self) -> Tensor:
        """Slerp constants of every (frame, next frame) pair, for every quaternion column.

        Returns (F, Q, 3) float32: half-angle θ of the shorter arc, 1/sin θ, and ±1/sin θ (the
        sign of the dot product: negating the next frame's weight takes the shorter arc). A
        query then needs only sin((1−t)θ) and sin(tθ): the dot product, acos and branches are
        paid once here (12 bytes per quaternion per frame) instead of at every query.
        """
        num_frames = self._frames.shape[0]
        following = torch.arange(1, num_frames + 1, device=self.device)
        # The last frame of each motion pairs with itself (θ = 0): it is only ever read at blend 0.
        following[self.length_starts + self._last_frame] -= 1
        quats = self._frames[:, self._linear_width :].view(num_frames, self._num_quats, 4)
        arcs = torch.empty(num_frames, self._num_quats, 3, device=self.device)
        for start in range(0, num_frames, 65536):  # chunks: bounded temporary memory
            end = min(start + 65536, num_frames)
            cos_signed = (quats[start:end] * quats.index_select(0, following[start:end])).sum(-1)
            half = torch.acos(cos_signed.abs().clamp(max=1.0)).clamp_min(MIN_SLERP_ARC)
            inv_sin = 1.0 / torch.sin(half)
            arcs[start:end, :, 0] = half
            arcs[start:end, :, 1] = inv_sin
            arcs[start:end, :, 2] = torch.copysign(inv_sin, cos_signed)
        return arcs

    # --- states ---------------------------------------------------------------------------------

    def frame_blend(self, motion_ids: Tensor, times: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Global frame indices ``(frame0, frame1)`` (N,) int64 and ``blend`` (N,) float32."""
        lengths = self.motion_lengths.index_select(0, motion_ids)
        dt = self.motion_dt.index_select(0, motion_ids)
        last = self._last_frame.index_select(0, motion_ids)
        t = torch.minimum(times.to(torch.float32).clamp_min(0.0), lengths)
        # Zero-length (one-frame) motions: t is 0 there, so any positive divisor gives phase 0.
        phase = t / torch.where(lengths > 0, lengths, torch.ones_like(lengths))
        frame0 = (phase * last).to(torch.int64)
        # Keep frame0·dt ≤ t < (frame0 + 1)·dt in float arithmetic, snapping times within
        # _SNAP_FRAMES of a frame onto it, so t = k·dt reads frame k itself (module docstring).
        frame0 = frame0 + (((frame0 + 1 - _SNAP_FRAMES) * dt <= t) & (frame0 < last)).to(torch.int64)
        frame0 = frame0 - (((frame0 - _SNAP_FRAMES) * dt > t) & (frame0 > 0)).to(torch.int64)
        frame1 = torch.minimum(frame0 + 1, last)
        blend = ((t - frame0 * dt) / dt).clamp(0.0, 1.0)
        # Within _SNAP_FRAMES after a frame, and at the last frame (both indices coincide), the
        # blend is exactly 0: the frame itself is read.
        blend = torch.where((blend > _SNAP_FRAMES) & (frame1 > frame0), blend, torch.zeros_like(blend))
        start = self.length_starts.index_select(0, motion_ids)
        return start + frame0, start + frame1, blend

    def get_motion_state(self, motion_ids: Tensor, times: Tensor) -> MotionState:
        """Interpolated states of motions ``motion_ids`` (N,) int64 at ``times`` (N,) seconds."""
        frame0, frame1, blend = self.frame_blend(motion_ids, times)
        n = int(frame0.shape[0])
        rows = self._frames.index_select(0, torch.cat((frame0, frame1)))  # (2N, C)
        weight = blend.unsqueeze(1)
        linear_width = self._linear_width
        linear = torch.lerp(rows[:n, :linear_width], rows[n:, :linear_width], weight)
        # grs and lrs slerped together, from the precomputed arcs of the frame0 → frame1 pairs
        # (same result as rotations.quat_slerp, see _frame_pair_arcs).
        stored = rows[:, linear_width:].view(2 * n, self._num_quats, 4)
        arcs = self._arcs.index_select(0, frame0)
        t = weight.unsqueeze(2)
        half = arcs[..., 0:1]
        weight0 = torch.sin((1.0 - t) * half) * arcs[..., 1:2]
        weight1 = torch.sin(t * half) * arcs[..., 2:3]
        quats = weight0 * stored[:n] + weight1 * stored[n:]
        # slerp at blend 0 is q0 only to ~1e-7 (sin(acos c)/√(1−c²), then normalised); queries at
        # frame times must return the stored quaternions bit for bit.
        exact = blend == 0
        if quats.is_cuda:  # no host sync on the GPU
            quats = torch.where(exact.view(n, 1, 1), stored[:n], quats)
        elif bool(exact.any()):  # on the CPU, touch only those rows (training queries rarely hit a frame)
            rows_at_frames = exact.nonzero().squeeze(1)
            quats.index_copy_(0, rows_at_frames, stored.index_select(0, rows_at_frames))
        bodies = self._num_bodies
        local = quats[:, bodies:] if self.lrs is not None else None
        if self._dof_from_lrs:
            dof_pos = quat_to_rotvec(local[:, 1:]).reshape(n, self._num_dofs)
        else:
            dof_pos = linear[:, self._column["dps"]]
        return MotionState(
            rigid_body_pos=linear[:, self._column["gts"]].view(n, bodies, 3),
            rigid_body_rot=quats[:, :bodies],
            rigid_body_vel=linear[:, self._column["gvs"]].view(n, bodies, 3),
            rigid_body_ang_vel=linear[:, self._column["gavs"]].view(n, bodies, 3),
            dof_pos=dof_pos,
            dof_vel=linear[:, self._column["dvs"]],
            rigid_body_contacts=self._blend_contacts(frame0, frame1, blend, linear),
            local_rigid_body_rot=local,
        )

    def _blend_contacts(self, frame0: Tensor, frame1: Tensor, blend: Tensor, linear: Tensor) -> Optional[Tensor]:
        if "contacts" in self._column:
            return linear[:, self._column["contacts"]]
        if self._contacts is None:
            return None
        n = int(frame0.shape[0])
        both = self._contacts.index_select(0, torch.cat((frame0, frame1)))
        # blend < 1 − _SNAP_FRAMES always holds here (frame0 would have been advanced).
        return both[:n] | (both[n:] & (blend > 0).unsqueeze(1))


def _owned(tensor: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A copy on ``device``, never a view of the loaded (possibly memory-mapped) file."""
    return tensor.to(device=device, dtype=dtype, copy=True)


# --- reading a packaged dict without building a library -----------------------------------------


def summarize_motion_lib(path: PathLike) -> Dict[str, Any]:
    """Counts, durations, weights and hashes of a packaged ``.pt`` (ours or ProtoMotions').

    Tensors are memory-mapped and only the per-motion tables are read, so this is cheap even
    for large files, apart from the file's md5 (one sequential read).
    """
    from motion.io_utils import file_digest

    data = read_torch_dict(path, mmap=True)
    check_motion_lib_dict(data, path)
    metadata = data.get(METADATA_KEY) or {}
    count = int(data["motion_lengths"].shape[0])
    files = data.get("motion_files") or ("",) * count

    def column(key: str) -> List[Any]:
        values = metadata.get(key)
        return list(values) if isinstance(values, (list, tuple)) and len(values) == count else [None] * count

    fps_stored = column("fps")
    motions = []
    for index, (frames, length, dt, weight) in enumerate(
        zip(
            data["motion_num_frames"].tolist(),
            data["motion_lengths"].tolist(),
            data["motion_dt"].tolist(),
            data["motion_weights"].tolist(),
        )
    ):
        fps = fps_stored[index] if fps_stored[index] is not None else _fps_from_dt(dt)
        motions.append(
            {
                "index": index,
                "file": str(files[index]),
                "frames": int(frames),
                "duration_s": float(length),
                "fps": fps,
                "weight": float(weight),
                "md5": column("motion_md5")[index],
                "source_md5": column("source_md5")[index],
                "source_path": column("source_path")[index],
            }
        )
    return {
        "file": str(path),
        "md5": file_digest(path, "md5"),
        "size_bytes": Path(path).stat().st_size,
        "made_by": "mimicflow" if metadata else "unknown (no mimicflow metadata, e.g. ProtoMotions)",
        "format_version": metadata.get("format_version"),
        "created_by": metadata.get("created_by"),
        "conversion": metadata.get("conversion", []),
        "num_motions": count,
        "num_frames": int(data["gts"].shape[0]),
        "total_duration_s": float(data["motion_lengths"].double().sum()),
        "has_local_rotations": data.get("lrs") is not None,
        "contacts": None if data.get("contacts") is None else str(data["contacts"].dtype).replace("torch.", ""),
        "motions": motions,
    }


def _fps_from_dt(dt: float) -> Union[int, float]:
    fps = 1.0 / dt
    return int(round(fps)) if abs(fps - round(fps)) < 1e-3 else fps
