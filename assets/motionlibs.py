"""``motionlib_train`` / ``motionlib_val`` / ``motionlib_test``: one packaged MotionLib per split.

Each gathers its split's entries from every converted subset (``<motions>/<subset>/<split>.yaml``,
written by the converter from the default AMASS split), writes them as one motion config
``<motionlib>/amass_<split>.yaml`` (entries relative to ``<motions>``) and packages it with
:func:`motion.motion_lib_packaging.package_motion_lib`, exactly what
``mimic motionlib package --motion-path <motionlib>/amass_<split>.yaml --motion-root <motions>`` does
(and the DVC package stage).
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.amass import amass_motions
from motion.motion_config import MotionEntry, read_motion_config, write_motion_config
from motion.motion_lib_packaging import PACKAGE_FORMAT_VERSION, package_motion_lib
from pipelines.resources import PathsResource
from training.dvc_records import output_md5

#: asset name → split name (motion.motion_config.SPLITS).
MOTIONLIB_SPLITS = {"motionlib_train": "train", "motionlib_val": "validation", "motionlib_test": "test"}


class MotionLibConfig(dg.Config):
    empty_split_uses_train: bool = Field(
        default=True,
        description="when no converted subset belongs to this split (e.g. only the samples, which are all "
        "training data), package the train split instead, flagged loudly in the log and metadata; "
        "false: fail instead",
    )


def split_entries(motions_dir: Path, split: str) -> tuple[list[MotionEntry], list[str]]:
    """Entries of ``split`` across converted subsets, relative to ``motions_dir``, and the subsets used."""
    entries: list[MotionEntry] = []
    subsets: list[str] = []
    if not motions_dir.is_dir():
        return entries, subsets
    for subset_dir in sorted(path for path in motions_dir.iterdir() if path.is_dir()):
        index = subset_dir / f"{split}.yaml"
        if not index.is_file():
            continue
        found = read_motion_config(index)
        if found:
            subsets.append(subset_dir.name)
        for entry in found:
            entries.append(MotionEntry(file=f"{subset_dir.name}/{entry.file}", weight=entry.weight))
    return entries, subsets


def package_split(context: dg.AssetExecutionContext, paths: PathsResource, split: str, use_train: bool):
    motions_dir = paths.motions_dir
    entries, subsets = split_entries(motions_dir, split)
    packaged_split = split
    if not entries and split != "train" and use_train:
        entries, subsets = split_entries(motions_dir, "train")
        packaged_split = "train"
        context.log.warning(
            f"NO converted subset belongs to the {split} split: packaging the TRAIN split as motionlib for "
            f"{split} (metadata packaged_split=train). Convert a {split} subset to evaluate on held-out motions."
        )
    if not entries:
        raise dg.Failure(f"no converted motions for the {split} split under {motions_dir}: materialise amass_motions")
    output = paths.motionlib_file(split)
    motion_config = output.with_suffix(".yaml")  # which motions the MotionLib holds (as DVC's stage)
    write_motion_config(entries, motion_config)
    result = package_motion_lib(motion_config, output, motion_root=motions_dir)
    md5 = output_md5(output)
    context.log.info(f"packaged {result.num_motions} motions ({result.num_frames} frames) into {output}; md5 {md5}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(output)),
            "md5": md5,
            "split": split,
            "packaged_split": packaged_split,
            "subsets": dg.MetadataValue.json(subsets),
            "motion_config": dg.MetadataValue.path(str(motion_config)),
            "num_motions": result.num_motions,
            "num_frames": result.num_frames,
            "size_bytes": result.file_size,
        },
        data_version=dg.DataVersion(md5),
    )


def _motionlib_asset(name: str, split: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        deps=[amass_motions],
        group_name="motionlib",
        code_version=f"package-v{PACKAGE_FORMAT_VERSION}-1",
        kinds={"pytorch"},
        description=f"MotionLib .pt of the {split} split across converted subsets "
        f"(`mimic motionlib package`): <data_root>/dagster/motionlib/amass_{split}.pt",
    )
    def _package(context: dg.AssetExecutionContext, config: MotionLibConfig, paths: PathsResource):
        return package_split(context, paths, split, config.empty_split_uses_train)

    return _package


motionlib_train, motionlib_val, motionlib_test = (
    _motionlib_asset(name, split) for name, split in MOTIONLIB_SPLITS.items()
)
MOTIONLIB_ASSETS = (motionlib_train, motionlib_val, motionlib_test)
