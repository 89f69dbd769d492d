"""Asset checks: MotionLib integrity (per split) and the evaluation's success rate.

The integrity test is :func:`motion.motion_lib_integrity.motion_lib_file_integrity` (what
``mimic motionlib check`` runs); the checks wrap it.
"""

import dataclasses

import dagster as dg
from pydantic import Field

from assets.evaluation import evaluation
from assets.motionlibs import MOTIONLIB_ASSETS, MOTIONLIB_SPLITS
from motion.motion_lib_integrity import MotionLibIntegrityConfig, motion_lib_file_integrity
from pipelines.resources import PathsResource

_DEFAULTS = MotionLibIntegrityConfig()


class IntegrityCheckConfig(dg.Config):
    """The Dagster run config of :class:`~motion.motion_lib_integrity.MotionLibIntegrityConfig`."""

    quaternion_tolerance: float = Field(
        default=_DEFAULTS.quaternion_tolerance, description="largest allowed | |q| - 1 | of grs/lrs"
    )
    height_tolerance_m: float = Field(
        default=_DEFAULTS.height_tolerance_m,
        description="largest allowed distance of a motion's lowest body origin from the height offset",
    )
    max_body_speed_m_s: float = Field(
        default=_DEFAULTS.max_body_speed_m_s, description="largest allowed body linear speed (m/s)"
    )
    max_body_angular_speed_rad_s: float = Field(
        default=_DEFAULTS.max_body_angular_speed_rad_s, description="largest allowed body angular speed"
    )

    def thresholds(self) -> MotionLibIntegrityConfig:
        return MotionLibIntegrityConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(_DEFAULTS)})


def _integrity_check(asset: dg.AssetsDefinition, split: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="integrity",
        description="finite values, unit quaternions, lowest body near the 0.015 m height offset, plausible velocities",
    )
    def _check(config: IntegrityCheckConfig, paths: PathsResource) -> dg.AssetCheckResult:
        path = paths.motionlib_file(split)
        report = motion_lib_file_integrity(path, config.thresholds())
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


#: What a failed success-rate check is (``SuccessRateConfig.severity``).
SEVERITIES = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}


class SuccessRateConfig(dg.Config):
    min_success_rate: float = Field(default=0.8, description="every evaluated split must reach this success rate")
    severity: str = Field(
        default="error",
        description="what a rate below it is: 'error' (the check fails, red) or 'warn' (a warning, for a policy "
        "not meant to pass, e.g. make demo's 4-epoch smoke run)",
    )
    note: str = Field(default="", description="shown with the result: why this threshold and severity")


@dg.asset_check(
    asset=evaluation,
    name="success_rate",
    description="success rate of every split ≥ min_success_rate (0.8); below it an error, or a warning where the run "
    "config says the policy is not meant to pass (make demo's smoke-run policy: its note says so)",
)
def evaluation_success_rate(context: dg.AssetCheckExecutionContext, config: SuccessRateConfig) -> dg.AssetCheckResult:
    if config.severity not in SEVERITIES:
        raise dg.Failure(f"success_rate check: severity {config.severity!r}: expected one of {sorted(SEVERITIES)}")
    event = context.instance.get_latest_materialization_event(evaluation.key)
    if event is None or event.asset_materialization is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "evaluation was never materialised"})
    metadata = event.asset_materialization.metadata
    rates = {key: float(value.value) for key, value in metadata.items() if key.endswith("/success_rate")}
    failing = {key: rate for key, rate in rates.items() if rate < config.min_success_rate}
    return dg.AssetCheckResult(
        passed=bool(rates) and not failing,
        severity=SEVERITIES[config.severity],
        description=config.note or None,
        metadata={
            "min_success_rate": config.min_success_rate,
            **rates,
            "failing": dg.MetadataValue.json(failing),
            **({"note": dg.MetadataValue.md(config.note)} if config.note else {}),
        },
    )
