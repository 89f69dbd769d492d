"""``mimic amass download``: fetch AMASS subset archives (registered users) and extract them."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, List, Optional

# Progress lines at most every this many bytes, so a multi-GB archive prints a few dozen lines.
_PROGRESS_STEP_BYTES = 256 << 20


def _progress_printer(subset: str) -> Callable[[int, Optional[int]], None]:
    state = {"next": _PROGRESS_STEP_BYTES}

    def report(received: int, total: Optional[int]) -> None:
        if received < state["next"]:
            return
        state["next"] = received + _PROGRESS_STEP_BYTES
        of_total = f" of {total / 1e6:.0f} MB ({100.0 * received / total:.0f}%)" if total else ""
        print(f"  {subset}: {received / 1e6:.0f} MB{of_total}", file=sys.stderr, flush=True)

    return report


def _download(args: argparse.Namespace) -> int:
    from mimic.cli import split_list
    from motion.amass_download import (
        DEFAULT_BASE_URL,
        DEFAULT_MODEL,
        AmassCredentials,
        AmassDownloadError,
        download_subset,
    )

    try:
        credentials = AmassCredentials.from_env()
    except AmassDownloadError as error:
        print(f"mimic: error: {error}", file=sys.stderr)
        return 1
    subsets = split_list(args.subsets)
    failed: List[str] = []
    for subset in subsets:
        print(f"{subset}: downloading as {credentials.username!r} into {args.out}", flush=True)
        try:
            facts = download_subset(
                subset,
                args.out,
                credentials,
                model=args.model or DEFAULT_MODEL,
                base_url=args.base_url or DEFAULT_BASE_URL,
                extract=not args.no_extract,
                retries=args.retries,
                progress=_progress_printer(subset),
            )
        except (OSError, ValueError) as error:  # AmassDownloadError is an OSError, MotionDataError a ValueError
            failed.append(subset)
            print(f"FAILED {subset}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            continue
        if facts["downloaded"]:
            state = "downloaded" + (", resumed" if facts["resumed"] else "") + f", {facts['attempts']} request(s)"
        else:
            state = "already present (md5 matches its record)"
        print(f"{subset}: {facts['archive']}  size {facts['size']} bytes  md5 {facts['md5']}  ({state})")
        if facts["extracted_to"] is not None:
            verb = "extracted" if facts["extracted"] else "already extracted"
            print(
                f"{subset}: {verb} {facts['files']} files into {facts['extracted_to']}: {', '.join(facts['top_level'])}"
            )
    if failed:
        print(f"mimic: {len(failed)} of {len(subsets)} subset(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    # motion.amass_download (urllib, tarfile) is imported by the handler only: `mimic --help` stays fast.
    parser = subparsers.add_parser(
        "download",
        help="download AMASS subset archives (needs an AMASS account) and extract them",
        description="Download AMASS per-dataset archives (<out>/archives/<model>/<subset>.tar.bz2, md5 "
        "recorded beside each) and extract them safely into <out> (each archive holds one folder, e.g. "
        "<out>/CMU/). Interrupted downloads resume. Credentials come only from the environment: "
        "AMASS_USERNAME and AMASS_PASSWORD.",
    )
    parser.add_argument("--subsets", nargs="+", required=True, help="AMASS subsets, e.g. CMU ACCAD (or CMU,ACCAD)")
    parser.add_argument("--out", required=True, help="AMASS root directory (e.g. data/amass)")
    parser.add_argument(
        "--model", default=None, help="body model folder on the server (default: SMPL+H gender-specific MoSh results)"
    )
    parser.add_argument("--base-url", default=None, help="download server (default: the AMASS server at MPI-IS)")
    parser.add_argument("--no-extract", action="store_true", help="keep the archives, do not extract them")
    parser.add_argument("--retries", type=int, default=5, help="retries per archive after transient errors")
    parser.set_defaults(handler=_download)
