"""``mimic amass convert``: AMASS tree (or motion config) → one ``.motion`` per clip."""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert AMASS .npz clips to .motion files (SMPL humanoid states)",
        description="Convert every AMASS clip below AMASS_ROOT (or the entries of --motion-config) "
        "into OUT_DIR, mirroring the folder layout. Resumable; bad files are reported at the end.",
    )
    parser.add_argument("amass_root", help="folder of AMASS subsets (e.g. CMU/, KIT/, ...)")
    parser.add_argument("out_dir", help="where .motion files and motions/train/validation/test.yaml go")
    parser.add_argument("--motion-config", "--motion_config", default=None,
                        help="ProtoMotions-style YAML (file, fps, weight, sub_motions timings); "
                        "file paths relative to AMASS_ROOT")  # fmt: skip
    parser.add_argument("--subsets", nargs="+", default=None, metavar="SUBSET",
                        help="only these subset folders of AMASS_ROOT (e.g. CMU SFU); an AMASS_ROOT that is itself "
                        "one subset's folder (~/AMASS/SFU) is converted as its parent with --subsets SFU")  # fmt: skip
    parser.add_argument("--split", nargs="+", default=None, metavar="SUBSET=SPLIT", dest="split_of",
                        help="put a subset folder's clips in this split (train, validation or test) instead "
                        "of the AMASS default, e.g. --split heldout=test (a corpus in train/, heldout/)")  # fmt: skip
    parser.add_argument("--humanoid-type", "--humanoid_type", default="smpl", choices=["smpl"])
    parser.add_argument("--output-fps", "--output_fps", type=int, default=30,
                        help="target rate; the output is the smallest exact sub-rate ≥ this (default 30)")  # fmt: skip
    parser.add_argument("--force-remake", "--force_remake", action="store_true",
                        help="reconvert files whose output already exists")  # fmt: skip
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--chunk-size", type=int, default=32, help="files converted per batched pass")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from motion.amass import subset_folder_parent
    from motion.batch_convert import convert_amass_tree
    from motion.conversion import ConversionParams

    root, subsets = args.amass_root, args.subsets
    split_of = {}
    for item in args.split_of or ():
        subset, sep, split = item.partition("=")
        if not sep or not subset or not split:
            raise SystemExit(f"mimic amass convert: --split: expected SUBSET=SPLIT (e.g. heldout=test), got {item!r}")
        split_of[subset] = split
    nested = subset_folder_parent(root) if subsets is None and args.motion_config is None else None
    if nested is not None:
        # The subset is the folder's own name, not that of the first folder inside it (a subject).
        root, subsets = str(nested[0]), [nested[1]]
        print(
            f"{args.amass_root} is the AMASS subset folder {nested[1]}: converting it as {root} --subsets "
            f"{nested[1]} (clips labelled {nested[1]}, outputs under {os.path.join(args.out_dir, nested[1])})"
        )
    report = convert_amass_tree(
        root,
        args.out_dir,
        subsets=subsets,
        split_of=split_of,
        motion_config=args.motion_config,
        params=ConversionParams(output_fps=args.output_fps, humanoid_type=args.humanoid_type),
        force_remake=args.force_remake,
        workers=args.workers,
        chunk_size=args.chunk_size,
        progress=not args.no_progress,
    )
    print(report.summary())
    print(f"outputs in {args.out_dir} (motions.yaml, train.yaml, validation.yaml, test.yaml)")
    return 0 if report.ok else 1
