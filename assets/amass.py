"""AMASS assets, one partition per subset: the clips (``amass_archives``) and their conversion
to ``.motion`` files (``amass_motions``).

Thin wrappers over the library the ``mimic amass`` commands use: :func:`motion.samples.fetch_sample_clips`,
:mod:`motion.amass_staging` (``mimic amass stage``),
:func:`motion.batch_convert.convert_amass_tree`. Each materialisation records the md5 of its
output folder (DVC's scheme, :mod:`training.dvc_records`) as metadata and as its data version.
"""

import os
import re
from enum import Enum
from pathlib import Path
from typing import List, Optional

import dagster as dg
from pydantic import Field

from motion.amass import AMASS_SUBSETS
from motion.amass_staging import download_and_stage_subset, require_clips, stage_local_subset
from motion.batch_convert import convert_amass_tree, stamp_is_stale, write_conversion_stamp
from motion.conversion import CONVERTER_VERSION, ConversionParams
from motion.motion_config import split_of_subset
from motion.samples import DEFAULT_BASE_URL, SAMPLES_SUBSET, fetch_sample_clips
from pipelines.resources import AmassCredentialsResource, PathsResource
from training.dvc_records import output_md5

#: Environment variable naming extra partitions: folders of your own clips (a corpus kept as
#: ``train/`` and ``heldout/``, a lab's captures), materialised in ``local`` mode.
LOCAL_SUBSETS_ENV = "MIMIC_LOCAL_SUBSETS"
_SUBSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def local_subsets(value: Optional[str] = None) -> List[str]:
    """The extra partition names in ``$MIMIC_LOCAL_SUBSETS`` (comma- or space-separated), e.g.
    ``accad_train,accad_heldout``; raises ValueError naming a name that cannot be a folder."""
    text = os.environ.get(LOCAL_SUBSETS_ENV, "") if value is None else value
    names = [name for name in re.split(r"[,\s]+", text) if name]
    for name in names:
        if not _SUBSET_NAME.match(name):
            raise ValueError(f"{LOCAL_SUBSETS_ENV}: expected folder names (letters, digits, _ . -), found {name!r}")
    known = {SAMPLES_SUBSET, *AMASS_SUBSETS}
    return [name for name in dict.fromkeys(names) if name not in known]


#: Partitions: AMASS subsets as the AMASS server names its per-dataset archives, the public
#: samples, and the folders of your own named in $MIMIC_LOCAL_SUBSETS.
AMASS_PARTITIONS = dg.StaticPartitionsDefinition([SAMPLES_SUBSET, *AMASS_SUBSETS, *local_subsets()])


class ArchiveMode(str, Enum):
    """Where ``amass_archives`` gets a subset's clips."""

    auto = "auto"  # samples partition: samples; clips already in place: local; else download
    download = "download"  # the AMASS server (needs the AMASS account resource)
    local = "local"  # a folder of clips or an archive the user already has (local_path)
    samples = "samples"  # the three public sample clips (samples partition only)


class AmassArchivesConfig(dg.Config):
    mode: ArchiveMode = Field(default=ArchiveMode.auto, description="auto | download | local | samples")
    local_path: str = Field(
        default="",
        description="local mode: the subset's folder of clips, an AMASS root holding <subset>/, a folder holding "
        "<subset>.tar.bz2, or the archive itself; empty: the clips are already at <data_root>/amass/<subset>/",
    )
    samples_base_url: str = Field(default="", description="samples mode: mirror of raw.githubusercontent.com")
    model: str = Field(default="smplh/gender_specific/mosh_results", description="download mode: AMASS body model")
    download_base_url: str = Field(default="https://download.is.tue.mpg.de", description="download mode: server")


def _resolve_mode(config: AmassArchivesConfig, subset: str, target: Path) -> ArchiveMode:
    if config.mode is not ArchiveMode.auto:
        return config.mode
    if subset == SAMPLES_SUBSET:
        return ArchiveMode.samples
    if config.local_path or (target.is_dir() and any(target.iterdir())):
        return ArchiveMode.local
    return ArchiveMode.download


@dg.asset(
    partitions_def=AMASS_PARTITIONS,
    group_name="amass",
    code_version="archives-1",
    kinds={"python"},
    description="AMASS clips of one subset at <data_root>/amass/<subset>/ (samples, local folder/archive, or "
    "download from the AMASS server).",
)
def amass_archives(
    context: dg.AssetExecutionContext,
    config: AmassArchivesConfig,
    paths: PathsResource,
    amass_credentials: AmassCredentialsResource,
) -> dg.MaterializeResult:
    subset = context.partition_key
    target = paths.amass_subset_dir(subset)
    mode = _resolve_mode(config, subset, target)
    extra: dict[str, object] = {}
    if mode is ArchiveMode.samples:
        if subset != SAMPLES_SUBSET:
            raise dg.Failure(f"samples mode serves only the '{SAMPLES_SUBSET}' partition, not '{subset}'")
        base_url = config.samples_base_url or DEFAULT_BASE_URL
        fetched = fetch_sample_clips(paths.amass_dir, base_url=base_url)
        how = f"{sum(f.downloaded for f in fetched)} sample clip(s) fetched from {base_url}, the rest already present"
    elif mode is ArchiveMode.local:
        source = Path(config.local_path) if config.local_path else target
        how = stage_local_subset(source, subset, paths.amass_dir, context.log.warning)
    else:
        username, password = amass_credentials.require()
        facts = download_and_stage_subset(
            subset, paths.amass_dir, username, password, config.model, config.download_base_url
        )
        extra["download"] = dg.MetadataValue.json(facts)
        extra["archive_md5"], extra["archive_size_bytes"] = facts["md5"], facts["size"]
        how = f"{'downloaded' if facts['downloaded'] else 'already downloaded'} {facts['archive']}"
    clips = require_clips(target)
    md5 = output_md5(target)
    context.log.info(f"{subset}: {len(clips)} clips at {target} ({how}); md5 {md5}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "md5": md5,
            "mode": mode.value,
            "source": how,
            "num_clips": len(clips),
            "size_bytes": sum(clip.stat().st_size for clip in clips),
            "split": split_of_subset(subset),
            **extra,
        },
        data_version=dg.DataVersion(md5),
    )


class ConvertConfig(dg.Config):
    output_fps: int = Field(default=30, description="as `mimic amass convert --output-fps`")
    workers: int = Field(default=1, description="worker processes")
    force_remake: bool = Field(default=False, description="reconvert clips whose .motion already exists")
    split: str = Field(
        default="",
        description="train, validation or test: this subset's clips go to that split instead of the AMASS "
        "default (as `mimic amass convert --split SUBSET=SPLIT`), e.g. test for a held-out folder",
    )


@dg.asset(
    partitions_def=AMASS_PARTITIONS,
    deps=[amass_archives],
    group_name="amass",
    code_version=f"convert-v{CONVERTER_VERSION}-2",
    kinds={"python", "pytorch"},
    description="The subset's clips converted to SMPL-humanoid .motion files (`mimic amass convert`): "
    "<data_root>/dagster/motions/<subset>/<subset>/**.motion, with motions/train/validation/test.yaml "
    "(the outputs, split by AMASS's default split).",
)
def amass_motions(
    context: dg.AssetExecutionContext, config: ConvertConfig, paths: PathsResource
) -> dg.MaterializeResult:
    subset = context.partition_key
    out_dir = paths.motions_subset_dir(subset)
    params = ConversionParams(output_fps=config.output_fps)
    split_of = {subset: config.split} if config.split else None
    # Beside the subset's folder, not in it: the folder holds exactly what DVC's convert stage
    # writes, so both record the same md5 for the same clips and parameters.
    stamp = paths.motions_dir / f"{subset}.conversion.json"
    force = config.force_remake or stamp_is_stale(stamp, params, split_of)
    require_clips(paths.amass_subset_dir(subset))
    # From the AMASS root, restricted to the subset: each clip's subset (and split) is the folder's name.
    report = convert_amass_tree(
        paths.amass_dir, out_dir, subsets=[subset], params=params, force_remake=force,
        workers=config.workers, progress=False, split_of=split_of,
    )  # fmt: skip
    context.log.info(report.summary())
    if not report.ok:
        raise dg.Failure(f"{len(report.failures)} clip(s) of {subset} failed to convert", metadata={
            "failures": dg.MetadataValue.md("\n".join(f"- `{src}`: {why}" for src, why in report.failures)),
        })  # fmt: skip
    write_conversion_stamp(stamp, params, split_of)
    md5 = output_md5(out_dir)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out_dir)),
            "md5": md5,
            "split": config.split or split_of_subset(subset),
            "num_motions": len(report.converted) + len(report.skipped),
            "converted": len(report.converted),
            "skipped_already_done": len(report.skipped),
            "source_frames": report.source_frames,
            "seconds": round(report.seconds, 2),
            "conversion": dg.MetadataValue.json(params.as_dict()),
        },
        data_version=dg.DataVersion(md5),
    )
