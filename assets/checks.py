"""Asset checks: MotionLib integrity (per split) and the evaluation's success rate.

The integrity test is a plain function over the packaged dict (:func:`motion_lib_integrity`),
so it can be used and tested without Dagster; the checks wrap it.
"""

from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import torch
from pydantic import Field

from assets.evaluation import evaluation
from assets.motionlibs import MOTIONLIB_ASSETS, MOTIONLIB_SPLITS
from motion.conversion import ConversionParams
from pipelines.resources import PathsResource

#: Float tensors of a packaged MotionLib (see motion.motion_lib_packaging).
FLOAT_KEYS = ("gts", "grs", "gvs", "gavs", "dps", "dvs", "lrs")


class MotionLibIntegrityConfig(dg.Config):
    quaternion_tolerance: float = Field(default=1e-3, description="largest allowed | |q| - 1 | of grs/lrs")
    height_tolerance_m: float = Field(
        default=0.005, description="largest allowed distance of a motion's lowest body origin from the height offset"
    )
    # Well above human extremes (a pitcher's hand ~ 20 m/s, arm internal rotation ~ 150 rad/s)
    # and far below what broken data gives (frame jumps, millimetres read as metres).
    max_body_speed_m_s: float = Field(default=30.0, description="largest allowed body linear speed (m/s)")
    max_body_angular_speed_rad_s: float = Field(default=200.0, description="largest allowed body angular speed")


@dataclass
class IntegrityReport:
    """What :func:`motion_lib_integrity` measured; ``problems`` is empty when the MotionLib is sound."""

    num_motions: int
    nonfinite_values: int
    max_quaternion_norm_error: float
    lowest_body_height_m: list[float]  # per motion, m
    expected_height_m: list[float]  # per motion: the conversion's height offset, m
    max_body_speed_m_s: float
    max_body_angular_speed_rad_s: float
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _height_offsets(data: dict[str, Any], num_motions: int) -> list[float]:
    """Per motion, the height offset its conversion used (mimicflow metadata; else the default)."""
    meta = data.get("mimicflow") or {}
    conversions, index = meta.get("conversion"), meta.get("conversion_index")
    default = ConversionParams().height_offset
    if not conversions or not index or len(index) != num_motions:
        return [default] * num_motions
    return [float(conversions[i].get("height_offset", default)) for i in index]


def motion_lib_integrity(data: dict[str, Any], config: MotionLibIntegrityConfig) -> IntegrityReport:
    """Check a packaged MotionLib dict (shapes as in motion.motion_lib_packaging).

    - every float tensor finite;
    - ``grs``/``lrs`` unit quaternions: max | ‖q‖ − 1 | ≤ ``quaternion_tolerance``;
    - each motion's lowest body origin (min over frames and bodies of ``gts[..., 2]``, m) within
      ``height_tolerance_m`` of the conversion's height offset (0.015 m: the converter's height fix);
    - max ‖gvs‖ (m/s) and ‖gavs‖ (rad/s) over all frames and bodies under the plausible limits.
    """
    nonfinite = sum(int((~torch.isfinite(data[key])).sum()) for key in FLOAT_KEYS if key in data)
    # torch's max propagates NaN (Python's max() would drop it depending on the order).
    quat_error = float(torch.stack([(data[k].norm(dim=-1) - 1).abs().max() for k in ("grs", "lrs") if k in data]).max())
    starts, counts = data["length_starts"].tolist(), data["motion_num_frames"].tolist()
    heights = data["gts"][..., 2].amin(dim=-1)  # (F,) lowest body origin per frame, m
    lowest = [float(heights[start : start + count].min()) for start, count in zip(starts, counts)]
    expected = _height_offsets(data, len(counts))
    speed = float(data["gvs"].norm(dim=-1).max())
    angular = float(data["gavs"].norm(dim=-1).max())
    report = IntegrityReport(len(counts), nonfinite, quat_error, lowest, expected, speed, angular)
    if nonfinite:
        report.problems.append(f"{nonfinite} non-finite values (NaN/inf)")
    if not quat_error <= config.quaternion_tolerance:
        report.problems.append(f"quaternion norm off by {quat_error:.3g} (tolerance {config.quaternion_tolerance})")
    files = data.get("motion_files") or [f"motion {i}" for i in range(len(counts))]
    for name, low, want in zip(files, lowest, expected):
        if not abs(low - want) <= config.height_tolerance_m:
            report.problems.append(f"{name}: lowest body at {low:.4f} m, expected {want:.4f} m")
    if not speed <= config.max_body_speed_m_s:
        report.problems.append(f"body speed {speed:.1f} m/s above {config.max_body_speed_m_s} m/s")
    if not angular <= config.max_body_angular_speed_rad_s:
        report.problems.append(f"body angular speed {angular:.1f} rad/s above {config.max_body_angular_speed_rad_s}")
    return report


def _integrity_check(asset: dg.AssetsDefinition, split: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="integrity",
        description="finite values, unit quaternions, lowest body near the 0.015 m height offset, plausible velocities",
    )
    def _check(config: MotionLibIntegrityConfig, paths: PathsResource) -> dg.AssetCheckResult:
        path = paths.motionlib_file(split)
        data = torch.load(path, map_location="cpu", weights_only=True)
        report = motion_lib_integrity(data, config)
        return dg.AssetCheckResult(
            passed=report.passed,
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "num_motions": report.num_motions,
                "nonfinite_values": report.nonfinite_values,
                "max_quaternion_norm_error": report.max_quaternion_norm_error,
                "lowest_body_height_min_m": min(report.lowest_body_height_m),
                "lowest_body_height_max_m": max(report.lowest_body_height_m),
                "max_body_speed_m_s": report.max_body_speed_m_s,
                "max_body_angular_speed_rad_s": report.max_body_angular_speed_rad_s,
                "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in report.problems) or "none"),
            },
        )

    return _check


MOTIONLIB_INTEGRITY_CHECKS = tuple(
    _integrity_check(asset, MOTIONLIB_SPLITS[asset.key.path[-1]]) for asset in MOTIONLIB_ASSETS
)


class SuccessRateConfig(dg.Config):
    min_success_rate: float = Field(default=0.8, description="every evaluated split must reach this success rate")


@dg.asset_check(asset=evaluation, name="success_rate", description="success rate of every split ≥ a threshold")
def evaluation_success_rate(context: dg.AssetCheckExecutionContext, config: SuccessRateConfig) -> dg.AssetCheckResult:
    event = context.instance.get_latest_materialization_event(evaluation.key)
    if event is None or event.asset_materialization is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "evaluation was never materialised"})
    metadata = event.asset_materialization.metadata
    rates = {key: float(value.value) for key, value in metadata.items() if key.endswith("/success_rate")}
    failing = {key: rate for key, rate in rates.items() if rate < config.min_success_rate}
    return dg.AssetCheckResult(
        passed=bool(rates) and not failing,
        metadata={"min_success_rate": config.min_success_rate, **rates, "failing": dg.MetadataValue.json(failing)},
    )
