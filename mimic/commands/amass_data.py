"""``mimic amass samples`` and ``mimic amass synthesize``: input clips without the AMASS download."""

from __future__ import annotations

import argparse
import sys


def _samples(args: argparse.Namespace) -> int:
    from motion.errors import MotionDataError
    from motion.samples import DEFAULT_BASE_URL, SampleDownloadError, copy_sample_clips, fetch_sample_clips

    try:
        if args.from_dir:
            fetched = copy_sample_clips(args.dir, args.from_dir)
        else:
            fetched = fetch_sample_clips(args.dir, base_url=args.base_url or DEFAULT_BASE_URL)
    except (SampleDownloadError, MotionDataError) as error:
        print(f"mimic: error: {error}", file=sys.stderr)
        return 1
    for sample in fetched:
        new = "copied" if args.from_dir else "downloaded"
        state = new if sample.downloaded else "already present (sha256 ok)"
        print(f"{sample.path}  {state}  <- {sample.url}")
    return 0


def _synthesize(args: argparse.Namespace) -> int:
    from motion.synthetic import synthesize_amass_clips

    for path in synthesize_amass_clips(args.dir, seed=args.seed):
        print(f"wrote {path}  (SYNTHETIC, not motion capture)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    samples = subparsers.add_parser(
        "samples",
        help="download the three public AMASS sample clips (sha256-verified) into <dir>/samples/",
        description="Download the AMASS authors' three public sample clips from GitHub into "
        "<dir>/samples/, verifying each against a pinned sha256; present files are kept.",
    )
    samples.add_argument("dir", help="AMASS root directory; clips go to <dir>/samples/")
    samples.add_argument(
        "--base-url",
        default=None,
        help="replace https://raw.githubusercontent.com (URL = BASE/<owner>/<repo>/<branch>/<path>)",
    )
    samples.add_argument(
        "--from-dir",
        default=None,
        help="copy the clips from this folder instead (e.g. a copy made earlier), each checked against its sha256",
    )
    samples.set_defaults(handler=_samples)

    synthesize = subparsers.add_parser(
        "synthesize",
        help="write deterministic SYNTHETIC clips (SMPL-H, SMPL-X, SMPL, standing) into <dir>/SYNTHETIC/",
        description="Write deterministic, clearly labelled SYNTHETIC clips in each AMASS format "
        "(for format tests and offline demos; not motion capture) into <dir>/SYNTHETIC/.",
    )
    synthesize.add_argument("dir", help="AMASS root directory; clips go to <dir>/SYNTHETIC/")
    synthesize.add_argument("--seed", type=int, default=0, help="seed of the joint-angle curves")
    synthesize.set_defaults(handler=_synthesize)
