"""Dagster resources of the mimicflow code location: where files live, which Python trains,
and the AMASS credentials.

Relative paths are taken relative to the repository root (the code location's working
directory), never to whatever directory the Dagster process happened to start in.
"""

import sys
from pathlib import Path

import dagster as dg
from pydantic import Field

REPO_ROOT = Path(__file__).resolve().parent.parent


def _absolute(path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


class PathsResource(dg.ConfigurableResource):
    """Data and results roots, and the layout the assets write below them.

    ``<data_root>/amass/<subset>/`` holds AMASS clips (shared with ``mimic`` and DVC);
    Dagster's own outputs go to ``<data_root>/dagster/`` so they never collide with DVC's
    ``data/motions`` and ``data/motionlib`` outputs.
    """

    data_root: str = Field(default="data", description="data folder (relative: to the repository root)")
    results_root: str = Field(default="results", description="training runs, as `mimic train --results-dir`")

    @property
    def data_dir(self) -> Path:
        return _absolute(self.data_root)

    @property
    def results_dir(self) -> Path:
        return _absolute(self.results_root)

    @property
    def amass_dir(self) -> Path:
        """AMASS root: one folder per subset (``CMU/``, ``samples/``, ...)."""
        return self.data_dir / "amass"

    def amass_subset_dir(self, subset: str) -> Path:
        return self.amass_dir / subset

    @property
    def motions_dir(self) -> Path:
        """Converted ``.motion`` files: one ``mimic amass convert`` output folder per subset."""
        return self.data_dir / "dagster" / "motions"

    def motions_subset_dir(self, subset: str) -> Path:
        return self.motions_dir / subset

    @property
    def motionlib_dir(self) -> Path:
        return self.data_dir / "dagster" / "motionlib"

    def motionlib_file(self, split: str) -> Path:
        """The packaged MotionLib of a split (``train``, ``validation``, ``test``)."""
        return self.motionlib_dir / f"amass_{split}.pt"

    def g1_motionlib_file(self, split: str) -> Path:
        """The G1 MotionLib retargeted from a split's MotionLib; its quality report lies beside it
        (``g1_<split>.quality.parquet``, ``g1_<split>.quality_summary.json``)."""
        return self.motionlib_dir / f"g1_{split}.pt"

    def g1_motions_dir(self, split: str) -> Path:
        """One G1 ``.motion`` file per retargeted motion of a split."""
        return self.data_dir / "dagster" / "g1_motions" / split


class TrainingPythonResource(dg.ConfigurableResource):
    """The Python that runs ``mimic train`` / ``mimic inference`` as a subprocess.

    Training may need another environment than Dagster's (IsaacGym wants Python 3.8): point
    ``python_executable`` at that environment's interpreter (default: ``MIMIC_TRAIN_PYTHON``
    when set at load time, else Dagster's own Python). The command runs in ``working_directory``
    (default: the repository root), so ``python -m mimic.cli`` works there even when mimicflow
    is not installed into that environment.
    """

    python_executable: str = Field(default=sys.executable, description="interpreter for mimic train/inference")
    working_directory: str = Field(default=str(REPO_ROOT), description="cwd of the subprocess")

    def mimic_command(self, *arguments: str) -> list[str]:
        """``[python, -m, mimic.cli, *arguments]``."""
        return [self.python_executable, "-m", "mimic.cli", *arguments]


class G1ModelResource(dg.ConfigurableResource):
    """The Unitree G1 MJCF (``g1_29dof.xml``, meshes beside it) that retargeting targets.

    Never part of the repository. Empty ``robot_xml``: :func:`robots.g1.resolve_g1_xml`
    looks at ``MIMIC_G1_XML`` (at run time), then the ``mujoco-menagerie`` package.
    """

    robot_xml: str = Field(default="", description="G1 MJCF path ('' = $MIMIC_G1_XML, else mujoco-menagerie)")

    def xml_path(self, override: str = "") -> Path | None:
        """``override`` (a run's config) if set, else this resource's path; None: let the library resolve it."""
        chosen = override or self.robot_xml
        return _absolute(chosen) if chosen else None


class AmassCredentialsResource(dg.ConfigurableResource):
    """AMASS account (https://amass.is.tue.mpg.de) for ``download`` mode.

    Set from ``dagster.EnvVar("AMASS_USERNAME")`` / ``EnvVar("AMASS_PASSWORD")`` so the UI shows
    only the variable names. The values are passed to the downloader and nowhere else: never
    logged, never put in metadata.
    """

    username: str | None = Field(default=None, description="AMASS account name (use EnvVar)")
    password: str | None = Field(default=None, description="AMASS password (use EnvVar)")

    def require(self) -> tuple[str, str]:
        if not self.username or not self.password:
            raise dg.Failure(
                "AMASS credentials missing: set AMASS_USERNAME and AMASS_PASSWORD (an account registered at "
                "https://amass.is.tue.mpg.de) in the environment of the Dagster code location and reload it"
            )
        return self.username, self.password
