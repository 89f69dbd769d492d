"""``motionlib_train`` / ``motionlib_val`` / ``motionlib_test``: one packaged MotionLib per split.

Each is :func:`motion.motion_lib_splits.package_split` over every converted subset: its split's
entries of ``<motions>/<subset>/<split>.yaml`` joined into ``<motionlib>/amass_<split>.yaml`` and
packaged into ``amass_<split>.pt``, exactly what ``mimic motionlib package --split <split>
--motion-root <motions>`` (the DVC package stage) does, byte for byte.
"""

import dagster as dg
from pydantic import Field

from assets.amass import amass_motions
from motion.motion_lib_packaging import PACKAGE_FORMAT_VERSION
from motion.motion_lib_splits import package_split
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


def _materialize_split(context: dg.AssetExecutionContext, paths: PathsResource, split: str, use_train: bool):
    output = paths.motionlib_file(split)
    result = package_split(
        paths.motions_dir, split, output, empty_split_uses_train=use_train, log_info=context.log.info
    )
    packaging, md5 = result.packaging, output_md5(output)
    context.log.info(
        f"packaged {packaging.num_motions} motions ({packaging.num_frames} frames) into {output}; md5 {md5}"
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(output)),
            "md5": md5,
            "split": split,
            "packaged_split": result.packaged_split,
            # Said wherever the MotionLib is reported: its numbers are not held-out numbers.
            "held_out": result.packaged_split == result.split,
            **({"label": result.label} if result.label else {}),
            "subsets": dg.MetadataValue.json(result.subsets),
            "motion_config": dg.MetadataValue.path(str(result.motion_config)),
            "num_motions": packaging.num_motions,
            "num_frames": packaging.num_frames,
            "size_bytes": packaging.file_size,
        },
        data_version=dg.DataVersion(md5),
    )


def _motionlib_asset(name: str, split: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        deps=[amass_motions],
        group_name="motionlib",
        code_version=f"package-v{PACKAGE_FORMAT_VERSION}-2",
        kinds={"pytorch"},
        description=f"MotionLib .pt of the {split} split across converted subsets "
        f"(`mimic motionlib package`): <data_root>/dagster/motionlib/amass_{split}.pt",
    )
    def _package(context: dg.AssetExecutionContext, config: MotionLibConfig, paths: PathsResource):
        return _materialize_split(context, paths, split, config.empty_split_uses_train)

    return _package


motionlib_train, motionlib_val, motionlib_test = (
    _motionlib_asset(name, split) for name, split in MOTIONLIB_SPLITS.items()
)
MOTIONLIB_ASSETS = (motionlib_train, motionlib_val, motionlib_test)
