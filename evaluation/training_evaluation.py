"""The evaluation that training runs every ``agent.eval_metrics_every`` epochs.

Each rank snapshots its env (episodes in flight, physics), evaluates its share of the motions
with the deterministic policy (:func:`evaluation.evaluator.evaluate`, capped at
``agent.max_eval_steps`` frames), and restores the snapshot, so training continues exactly
where it was. The ranks' per-motion rows are gathered; the motion weights are updated
(:mod:`evaluation.prioritized_sampling`) and rank 0 writes ``eval/<timestamp>/`` in the run
directory. Returns the ``Eval/*`` metrics to log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from evaluation.evaluator import evaluate
from evaluation.prioritized_sampling import update_motion_weights


def run_training_evaluation(
    env: Any,
    agent: Any,
    run_root: Optional[Path],
    evaluation_index: int,
    shared_motion_lib: bool = True,
) -> Dict[str, float]:
    """Evaluate, update motion weights, write results (rank 0: ``run_root`` not None).

    ``shared_motion_lib``: every rank loaded the same MotionLib (its motions are split between
    ranks and every rank applies every result); otherwise each rank has its own shard and
    evaluates all of it. ``evaluation_index`` counts evaluations (the predicted MotionLib is
    kept every ``agent.save_predicted_motion_lib_every``-th).
    """
    from training.ppo import distributed

    config = agent.config
    rank, world = distributed.rank(), distributed.world_size()
    lib = env.motion_lib
    ids = torch.arange(lib.num_motions, device="cpu")
    if shared_motion_lib and world > 1:
        ids = ids[rank::world]
    every = config.save_predicted_motion_lib_every
    keep_predicted = run_root is not None and world == 1 and every > 0 and evaluation_index % every == 0
    snapshot = env.state_dict()
    result = evaluate(env, agent.policy, ids.tolist(), max_frames=config.max_eval_steps or None,
                      keep_predicted=keep_predicted)  # fmt: skip
    if snapshot is not None:
        env.load_state_dict(snapshot)
    else:  # a backend that cannot save its physics: start fresh episodes
        agent.restart_episodes()
        env.reset()

    rows: List[Dict[str, Any]] = result.rows
    if distributed.is_distributed():
        gathered: List[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, rows)
        rows = [row for rank_rows in gathered for row in rank_rows]
    own = result.successes()
    successes = {int(r["motion_id"]): bool(r["success"]) for r in rows} if shared_motion_lib else own
    lib.motion_weights = update_motion_weights(lib.motion_weights, successes)

    from evaluation.metrics import summarize_motions

    summary = summarize_motions(rows) if len(rows) != len(result.rows) else result.summary
    if run_root is not None:
        from evaluation.eval_outputs import new_eval_dir, prune_eval_dirs, write_eval_outputs
        from training.run_layout import keep_eval_dirs

        out_dir = new_eval_dir(run_root)
        # The weights after this evaluation's update, by motion id: prioritised sampling's trace.
        weights = [round(float(w), 5) for w in lib.motion_weights.tolist()]
        summary = dict(summary, epoch=agent.epoch, env_steps=agent.env_steps, motion_file=lib.source,
                       motion_weights=weights)  # fmt: skip
        write_eval_outputs(out_dir, rows, summary, result.predicted_motion_lib)
        prune_eval_dirs(run_root, keep_eval_dirs())  # the newest few and the best (README: retention)
    return eval_log_metrics(summary)


def eval_log_metrics(summary: Dict[str, Any]) -> Dict[str, float]:
    """The ``Eval/*`` scalars to log: success rate, gt_err (m) and every metric's mean."""
    metrics = {
        "Eval/success_rate": float(summary["Eval/success_rate"]),
        "Eval/gt_err": float(summary["Eval/gt_err"]),
        "Eval/num_motions": float(summary["num_motions"]),
    }
    for name, value in summary["all"].items():
        if value is not None and name not in ("gt_err",):
            metrics[f"Eval/{name}"] = float(value)
    return metrics
