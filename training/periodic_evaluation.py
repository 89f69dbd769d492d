"""The hook through which training runs its evaluation every ``agent.eval_metrics_every`` epochs.

Evaluation sits above training (it builds envs and loads checkpoints from it), so training never
imports it: the command that starts a run (`mimic train`) hands the trainer
:func:`evaluation.training_evaluation.run_training_evaluation` as ``TrainOptions.periodic_evaluation``.
A plain function is picklable by reference, so spawned ranks receive it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Protocol


class PeriodicEvaluation(Protocol):
    def __call__(
        self, env: Any, agent: Any, run_root: Optional[Path], evaluation_index: int, shared_motion_lib: bool
    ) -> Dict[str, float]:
        """Evaluate ``agent``'s policy on ``env``'s motions (every rank takes part; rank 0 passes
        ``run_root`` and writes results there) and return the ``Eval/*`` metrics to log."""
        ...


def evaluation_due(epoch: int, every: int) -> bool:
    """Whether epoch ``epoch`` (1-based) ends with an evaluation; ``every`` ≤ 0 disables them."""
    return every > 0 and epoch > 0 and epoch % every == 0
