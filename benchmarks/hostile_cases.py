"""The hostile inputs of ``bench_hostile_inputs.py``: AMASS archives, ``.motion`` files, MotionLibs
and checkpoints, each a named case that writes one file (or FIFO, socket, link, folder) at a path.

Every case says what a correct reader does with it: ``named`` (refuse it with one message naming
the file and the field, ``PATH: field 'F': expected E, found X``), ``accepted`` (a plausible file
that converts or loads) or ``ignored`` (not an input by its name or kind, so never read). The
variants are derived from one real AMASS clip, one ``.motion`` converted from it, the MotionLib
packaged from that, and the shipped checkpoint, so each differs from a good input in one way.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import shutil
import signal
import socket
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

Builder = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One hostile input: ``build(path)`` writes it; ``want`` is the correct outcome."""

    name: str
    build: Builder
    want: str = "named"  # "named", "accepted" or "ignored"
    note: str = ""
    filename: Optional[str] = None  # default: the suite's pattern around ``name``


# --- file kinds and raw bytes, shared by every suite ----------------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)  # open() would wait for a writer forever


def _socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))  # the socket file stays after close


def _link_to(target: str) -> Builder:
    return lambda path: os.symlink(target, path)


def _link_loop(path: Path) -> None:
    os.symlink(path.name, path)  # points at itself: ELOOP


def _bytes(data: bytes) -> Builder:
    return lambda path: path.write_bytes(data)


def _random_bytes(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _flip_member_bytes(data: bytes, member_suffix: str, count: int = 8) -> bytes:
    """Flip ``count`` bytes in the middle of the stored data of the zip member named ``*suffix``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(member_suffix))
    local = info.header_offset
    name_length = int.from_bytes(data[local + 26 : local + 28], "little")
    extra_length = int.from_bytes(data[local + 28 : local + 30], "little")
    start = local + 30 + name_length + extra_length + info.compress_size // 2
    raw = bytearray(data)
    for offset in range(count):
        raw[start + offset] ^= 0xFF
    return bytes(raw)


def file_kind_cases(good: Path, suffix: str) -> List[Case]:
    """FIFO, socket, links, empty / truncated / zero / random bytes, bit rot: for any file type."""
    data = good.read_bytes()
    return [
        Case("fifo", _fifo, filename=f"x{suffix}", note="a FIFO: open() would block forever"),
        Case("socket", _socket),
        Case("link_dev_zero", _link_to("/dev/zero"), note="endless zeros if opened"),
        Case("link_dangling", _link_to("nowhere" + suffix)),
        Case("link_loop", _link_loop),
        Case("empty", _bytes(b"")),
        Case("truncated", _bytes(data[: len(data) // 2])),
        Case("zeros", _bytes(bytes(4096))),
        Case("random_bytes", _bytes(_random_bytes(4096, 0))),
    ]


# --- AMASS archives --------------------------------------------------------------------------------


def _npz(arrays: Dict[str, Any], compressed: bool = False) -> Builder:
    def build(path: Path) -> None:
        with path.open("wb") as handle:  # a file object: np.savez would append .npz to a path
            (np.savez_compressed if compressed else np.savez)(handle, **arrays)

    return build


def _npz_member_headers(members: Dict[str, Any]) -> Builder:
    """An npz whose members are written raw: (header dict, data bytes) or an array each."""

    def build(path: Path) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for key, value in members.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    if isinstance(value, np.ndarray):
                        np.lib.format.write_array(member, value, allow_pickle=False)
                    else:
                        header, payload = value
                        np.lib.format.write_array_header_1_0(member, header)
                        member.write(payload)

    return build


def _npy(array: np.ndarray) -> Builder:
    def build(path: Path) -> None:
        with path.open("wb") as handle:  # a file object: np.save would append .npy to a path
            np.save(handle, array)

    return build


def _unknown_compression(arrays: Dict[str, Any]) -> Builder:
    """An npz whose ``poses.npy`` claims compression method 99 in the central directory."""

    def build(path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        raw = bytearray(buffer.getvalue())
        offset = raw.find(b"PK\x01\x02")
        while offset >= 0:
            name_length = int.from_bytes(raw[offset + 28 : offset + 30], "little")
            if raw[offset + 46 : offset + 46 + name_length] == b"poses.npy":
                raw[offset + 10 : offset + 12] = (99).to_bytes(2, "little")
            offset = raw.find(b"PK\x01\x02", offset + 4)
        path.write_bytes(bytes(raw))

    return build


def _unreadable(good: Path) -> Builder:
    def build(path: Path) -> None:
        shutil.copyfile(good, path)
        os.chmod(path, 0)

    return build


def _with_changes(base: Dict[str, Any], changes: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of ``base`` with ``changes`` applied; a change to None removes the key."""
    changed = dict(base)
    for key, value in changes.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


def amass_cases(good: Path) -> List[Case]:
    """Hostile AMASS archives (file names ``<name>_poses.npz`` unless given), from the real ``good`` clip."""
    with np.load(good) as data:
        base = {key: data[key] for key in ("poses", "trans", "betas", "gender", "mocap_framerate")}
    poses, trans = base["poses"], base["trans"]
    frames = poses.shape[0]

    def variant(**changes: Any) -> Builder:
        return _npz(_with_changes(base, changes))

    def poked(array: np.ndarray, value: float) -> np.ndarray:
        array = array.copy()
        array[frames // 2, 1] = value
        return array

    stageii = {
        "root_orient": poses[:, :3],
        "pose_body": poses[:, 3:66],
        "trans": trans,
        "betas": np.zeros(16),
        "gender": np.array("female"),
        "mocap_frame_rate": np.array(120.0),
        "surface_model_type": np.array("smplx"),
    }

    def smplx(**changes: Any) -> Builder:
        return _npz({**stageii, **changes})

    root = os.geteuid() == 0
    declared = {"descr": "<f8", "fortran_order": False}
    cases = file_kind_cases(good, "_poses.npz") + [
        Case("bit_rot", _bytes(_flip_member_bytes(good.read_bytes(), "poses.npy")), note="8 bytes of poses flipped"),
        Case(
            "folder",
            lambda path: path.mkdir(),
            "ignored",
            "a folder: walked into; it holds no clips",
            filename="y_poses.npz",
        ),
        Case(
            "unreadable",
            _unreadable(good),
            "accepted" if root else "named",
            "chmod 000; read anyway: the benchmark runs as root" if root else "chmod 000",
        ),
        Case("plain_pickle", _bytes(pickle.dumps({k: v.tolist() for k, v in base.items()}, protocol=4))),
        Case("npy_renamed", _npy(poses), note="a single .npy array"),
        Case("object_arrays", _npz({**base, "poses": np.array([{"frame": i} for i in range(frames)], dtype=object)})),
        Case("unknown_compression", _unknown_compression(base)),
        Case(
            "huge_header",
            _npz_member_headers(
                {
                    "poses": ({**declared, "shape": (10**12, 156)}, b""),
                    "trans": trans,
                    "mocap_framerate": base["mocap_framerate"],
                }
            ),
            note="declares 1.2 PB; must not allocate",
        ),
        Case(
            "header_longer_than_data",
            _npz_member_headers(
                {
                    "poses": ({**declared, "shape": (frames, 156)}, poses[:10].tobytes()),
                    "trans": trans,
                    "mocap_framerate": base["mocap_framerate"],
                }
            ),
        ),
        Case("no_poses", variant(poses=None)),
        Case("no_trans", variant(trans=None)),
        Case("no_framerate", variant(mocap_framerate=None)),
        Case("poses_strings", variant(poses=poses.astype("<U4"))),
        Case("poses_complex", variant(poses=poses.astype(np.complex64))),
        Case("trans_bool", variant(trans=trans > 0)),
        Case("framerate_string", variant(mocap_framerate=np.array("120"))),
        Case("framerate_pair", variant(mocap_framerate=np.array([120.0, 60.0]))),
        Case("gender_number", variant(gender=np.array(3.0))),
        Case("gender_alien", variant(gender=np.array("alien"))),
        Case("poses_T_71", variant(poses=poses[:, :71])),
        Case("poses_3d", variant(poses=poses[:, None, :])),
        Case("trans_T_2", variant(trans=trans[:, :2])),
        Case("frames_mismatch", variant(trans=trans[:-5])),
        Case("poses_nan", variant(poses=poked(poses, np.nan))),
        Case("poses_inf", variant(poses=poked(poses, np.inf))),
        Case("poses_1e308", variant(poses=poked(poses, 1e308))),
        Case("trans_nan", variant(trans=poked(trans, np.nan))),
        Case("trans_inf", variant(trans=poked(trans, -np.inf))),
        Case("trans_1e5", variant(trans=poked(trans, 1e5)), note="100 km from the origin"),
        Case("framerate_nan", variant(mocap_framerate=np.array(np.nan))),
        Case("framerate_inf", variant(mocap_framerate=np.array(np.inf))),
        Case("framerate_0", variant(mocap_framerate=np.array(0.0))),
        Case("framerate_0.3", variant(mocap_framerate=np.array(0.3))),
        Case("framerate_-30", variant(mocap_framerate=np.array(-30.0))),
        Case("framerate_7919", variant(mocap_framerate=np.array(7919.0)), note="a prime: no sub-rate"),
        Case("framerate_1e12", variant(mocap_framerate=np.array(1e12))),
        Case("frames_0", variant(poses=poses[:0], trans=trans[:0])),
        Case("frames_1", variant(poses=poses[:1], trans=trans[:1])),
        Case("frames_2", variant(poses=poses[:2], trans=trans[:2]), note="1 frame after downsampling 120 → 30"),
        Case("stageii_betas_nan", smplx(betas=np.full(16, np.nan)), filename="stageii_betas_nan_stageii.npz"),
        Case("stageii_betas_strings", smplx(betas=np.array(["a"] * 16)), filename="stageii_betas_str_stageii.npz"),
        Case("stageii_gender_robot", smplx(gender=np.array("robot")), filename="stageii_gender_stageii.npz"),
        Case("stageii_model_smplh", smplx(surface_model_type=np.array("smplh")), filename="stageii_model_stageii.npz"),
        Case("stageii_pose_body_62", smplx(pose_body=poses[:, 3:65]), filename="stageii_body62_stageii.npz"),
        Case("stageii_root_short", smplx(root_orient=poses[:-3, :3]), filename="stageii_short_stageii.npz"),
        # Plausible files: converted.
        Case("stageii_good", smplx(), "accepted", "SMPL-X with split pose keys", filename="stageii_good_stageii.npz"),
        Case("compressed", _npz(base, compressed=True), "accepted", "np.savez_compressed"),
        Case("float32", variant(poses=poses.astype(np.float32), trans=trans.astype(np.float32)), "accepted"),
        Case("framerate_1000", variant(mocap_framerate=np.array(1000.0)), "accepted", "the upper limit"),
        Case(
            "extra_pickled_member",
            variant(notes=np.array([{"x": 1}], dtype=object)),
            "accepted",
            "a pickled member never read, so never unpickled",
        ),
        # Not motion files by name: never read.
        Case("shape_file", _bytes(b"garbage"), "ignored", "shape.npz: SMPL-H body shape", filename="shape.npz"),
        Case("stagei_file", _bytes(b"garbage"), "ignored", "MoSh stage-i shape fit", filename="garbage_stagei.npz"),
        Case("appledouble", _bytes(b"\0\5\26\7"), "ignored", "macOS ._ file", filename="._x_poses.npz"),
    ]
    return cases


# --- .motion files -----------------------------------------------------------------------------------


def _torch_save(value: Any) -> Builder:
    def build(path: Path) -> None:
        import torch

        torch.save(value, path)

    return build


def _robot_motion(frames: int, bodies: int, dofs: int) -> Dict[str, Any]:
    """A structurally valid ``.motion`` dict of another body tree (a G1-sized robot: 30 bodies, 29 dofs)."""
    import torch

    quat = torch.zeros(frames, bodies, 4)
    quat[..., 3] = 1.0
    zeros3 = torch.zeros(frames, bodies, 3)
    return {
        "fps": 30,
        "rigid_body_pos": zeros3.clone(),
        "rigid_body_rot": quat.clone(),
        "rigid_body_vel": zeros3.clone(),
        "rigid_body_ang_vel": zeros3.clone(),
        "dof_pos": torch.zeros(frames, dofs),
        "dof_vel": torch.zeros(frames, dofs),
        "rigid_body_contacts": torch.zeros(frames, bodies, dtype=torch.bool),
        "local_rigid_body_rot": quat.clone(),
    }


def motion_cases(good: Path, protomotions: Optional[Path]) -> List[Case]:
    """Hostile ``.motion`` files (``<name>.motion``), from ``good`` (one converted real clip)."""
    import torch

    base = torch.load(good, weights_only=True)
    frames = base["rigid_body_pos"].shape[0]

    def variant(**changes: Any) -> Builder:
        return _torch_save(_with_changes(base, changes))

    def poked(key: str, value: float) -> Any:
        tensor = base[key].clone()
        tensor.view(-1)[tensor.numel() // 2] = value
        return tensor

    pos = base["rigid_body_pos"]
    cases = file_kind_cases(good, ".motion") + [
        Case("bit_rot", _bytes(_flip_member_bytes(good.read_bytes(), "data.pkl")), note="the pickle of the dict"),
        Case("folder", lambda path: path.mkdir(), note="a folder named z.motion", filename="z.motion"),
        Case("plain_pickle", _bytes(pickle.dumps({k: getattr(v, "tolist", lambda v=v: v)() for k, v in base.items()}))),
        Case("foreign_class", _torch_save({**base, "fps": argparse.Namespace(fps=30)}), note="pickled class"),
        Case(
            "foreign_enum",
            _torch_save({**base, "state_conversion": signal.Signals.SIGTERM}),
            note="ProtoMotions-style enum slot holding another enum",
        ),
        Case("not_a_dict", _torch_save([1, 2, 3])),
        Case("no_fps", variant(fps=None)),
        Case("no_rigid_body_pos", variant(rigid_body_pos=None)),
        Case("fps_0", variant(fps=0)),
        Case("fps_29.5", variant(fps=29.5)),
        Case("fps_string", variant(fps="30")),
        Case("fps_nan", variant(fps=float("nan"))),
        Case("fps_1e12", variant(fps=10**12)),
        Case("pos_last_dim_2", variant(rigid_body_pos=pos[..., :2].clone())),
        Case("dof_pos_68", variant(dof_pos=base["dof_pos"][:, :68].clone())),
        Case("dof_vel_short", variant(dof_vel=base["dof_vel"][:-1].clone()), note="T − 1 frames"),
        Case("pos_23_bodies", variant(rigid_body_pos=pos[:, :23].clone())),
        Case("pos_float64", variant(rigid_body_pos=pos.double())),
        Case("contacts_float", variant(rigid_body_contacts=base["rigid_body_contacts"].float())),
        Case("pos_nan", variant(rigid_body_pos=poked("rigid_body_pos", float("nan")))),
        Case("dof_vel_inf", variant(dof_vel=poked("dof_vel", float("inf")))),
        Case("rot_not_unit", variant(rigid_body_rot=base["rigid_body_rot"] * 2)),
        Case(
            "pos_broadcast_1e6",
            variant(rigid_body_pos=pos[:1].expand(10**6, -1, -1)),
            note="one stored frame posing as a million",
        ),
        Case("pos_sparse", variant(rigid_body_pos=pos.to_sparse())),
        Case("frames_0", _torch_save({k: v[:0] if isinstance(v, torch.Tensor) else v for k, v in base.items()})),
        Case("metadata_not_dict", variant(mimicflow=3)),
        Case("robot_sizes", _torch_save(_robot_motion(frames, 30, 29)), note="G1 sizes among SMPL motions"),
    ]
    if protomotions is not None:
        cases.append(
            Case(
                "protomotions",
                lambda path: shutil.copyfile(protomotions, path),
                "accepted",
                "a ProtoMotions 3 file (its StateConversion enum)",
            )
        )
    return cases


# --- MotionLibs and checkpoints ---------------------------------------------------------------------


def motion_lib_cases(good: Path, protomotions: Optional[Path]) -> List[Case]:
    """Hostile MotionLib ``.pt`` files for ``mimic motionlib info`` (``<name>.pt``)."""
    import torch

    base = torch.load(good, weights_only=True)

    def variant(**changes: Any) -> Builder:
        return _torch_save({**{k: v for k, v in base.items() if k not in changes}, **changes})

    kinds = [c for c in file_kind_cases(good, ".pt") if c.name in ("fifo", "empty", "truncated", "random_bytes")]
    frames = base["motion_num_frames"]
    cases = kinds + [
        Case("folder", lambda path: path.mkdir()),
        Case("foreign_class", _torch_save({**base, "motion_files": argparse.Namespace()})),
        Case("not_a_dict", _torch_save([base["gts"]])),
        Case("no_gts", variant(gts=torch.zeros(0))),
        Case("frames_dont_sum", variant(motion_num_frames=frames + 1)),
        Case("dt_0", variant(motion_dt=torch.zeros_like(base["motion_dt"]))),
        Case("gts_broadcast", variant(gts=base["gts"][:1].expand_as(base["gts"]))),
        Case("good", lambda path: shutil.copyfile(good, path), "accepted", "the real clip, packaged"),
        Case(
            "gts_nan",
            variant(gts=torch.full_like(base["gts"], float("nan"))),
            "accepted",
            "info reads only the per-motion tables; the loader refuses it (loading suite, mimic inference)",
        ),
    ]
    if protomotions is not None:
        cases.append(
            Case(
                "protomotions",
                lambda path: shutil.copyfile(protomotions, path),
                "accepted",
                "ProtoMotions' own packaged MotionLib",
            )
        )
    return cases


def checkpoint_cases(good: Path) -> List[Case]:
    """Hostile checkpoints for ``mimic inference --checkpoint`` (``<name>.ckpt``), from the shipped one."""
    import torch

    payload = torch.load(good, weights_only=True)

    def variant(**changes: Any) -> Builder:
        return _torch_save({**payload, **changes})

    agent = payload["model"]["agent"]
    actor = dict(agent["actor"])
    first = next(key for key, value in actor.items() if value.is_floating_point() and value.numel() > 1)
    actor[first] = torch.full_like(actor[first], float("nan"))
    kinds = [c for c in file_kind_cases(good, ".ckpt") if c.name in ("fifo", "empty", "truncated", "random_bytes")]
    return kinds + [
        Case("missing", lambda path: None, note="no such file"),
        Case("folder", lambda path: path.mkdir()),
        Case("foreign_class", variant(extra=argparse.Namespace())),
        Case("not_a_dict", _torch_save([1])),
        Case("format_version_99", variant(format_version=99)),
        Case("epoch_-1", variant(epoch=-1)),
        Case("actor_nan", variant(model={**payload["model"], "agent": {**agent, "actor": actor}})),
        Case("motion_weights_inf", variant(motion_weights=torch.full((3,), float("inf")))),
    ]
