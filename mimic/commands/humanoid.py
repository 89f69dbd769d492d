"""``mimic humanoid export``: write the SMPL humanoid MJCF (neutral or shape-specific)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write the SMPL humanoid MJCF (PD actuators inside the engine)",
        description="Write the SMPL humanoid MJCF. Without --smpl-model-dir it is the neutral mean "
        "shape; with it, the body shape given by --gender and --betas from your SMPL model files.",
    )
    parser.add_argument("--output", required=True, help="MJCF file to write, e.g. smpl_humanoid.xml")
    parser.add_argument("--with-floor", action="store_true", help="add a ground plane and a light")
    parser.add_argument("--smpl-model-dir", default=None,
                        help="folder holding SMPL_<GENDER>.pkl (or smpl/SMPL_<GENDER>.pkl)")  # fmt: skip
    parser.add_argument("--gender", default="neutral", choices=("neutral", "male", "female"))
    parser.add_argument("--betas", nargs="+", type=float, default=None, help="SMPL shape coefficients")
    parser.set_defaults(handler=export_humanoid)


def export_humanoid(args: argparse.Namespace) -> int:
    import mujoco

    from robots.smpl_humanoid import build_smpl_humanoid_xml, write_smpl_humanoid_xml

    offsets = geoms = None
    if args.smpl_model_dir is not None:
        from robots.smpl_shape import smpl_shaped_humanoid

        shaped = smpl_shaped_humanoid(args.smpl_model_dir, args.gender, args.betas or ())
        offsets, geoms = shaped.offsets, shaped.geoms
    elif args.betas or args.gender != "neutral":
        print("mimic: error: --betas and --gender need --smpl-model-dir", file=sys.stderr)
        return 2
    # Compile before writing so that a file on disk always loads.
    model = mujoco.MjModel.from_xml_string(build_smpl_humanoid_xml(offsets, geoms, with_floor=args.with_floor))
    path = write_smpl_humanoid_xml(args.output, offsets, geoms, with_floor=args.with_floor)
    print(f"wrote {path}: {model.nbody - 1} bodies, {model.nu} PD actuators, "
          f"total mass {model.body_mass.sum():.2f} kg")  # fmt: skip
    return 0
