"""Procrustes alignment of one pose onto another, the alignment behind PA-MPJPE.

Its own module because both the per-motion metrics (:mod:`evaluation.metrics`) and PHC's
frame-weighted ones (:mod:`evaluation.phc_metrics`) align poses this way.
"""

from __future__ import annotations

import torch
from torch import Tensor


def procrustes_align(pred: Tensor, target: Tensor) -> Tensor:
    """Per-frame similarity transform of ``pred`` onto ``target`` (the PA-MPJPE alignment).

    For each frame, finds the scale ``s``, proper rotation ``R`` (det +1) and translation ``t``
    minimising ``Σ_j ‖s·R·p_j + t − q_j‖²`` (orthogonal Procrustes / Umeyama): with both point
    sets centred, ``R`` comes from the SVD of their cross-covariance, its last singular direction
    flipped when the best orthogonal matrix would be a reflection; ``s`` is the trace of the
    rotated covariance over the variance of ``pred``.

    Args:
        pred, target: (T, J, 3) positions (any unit; the result is in the same unit).
    Returns:
        (T, J, 3) float64 aligned ``pred``. A frame whose ``pred`` points all coincide maps to the
        target's centroid (scale 0).
    """
    x = pred.double()
    y = target.double()
    x_mean = x.mean(dim=1, keepdim=True)
    y_mean = y.mean(dim=1, keepdim=True)
    xc = x - x_mean
    yc = y - y_mean
    covariance = xc.transpose(1, 2) @ yc  # (T, 3, 3): Σ_j x_j y_jᵀ
    u, singular, vh = torch.linalg.svd(covariance)
    v = vh.transpose(1, 2)
    # R = V·D·Uᵀ with D = diag(1, 1, sign det(V·Uᵀ)): the closest rotation, never a reflection.
    # (det of an orthogonal matrix is ±1, never 0.)
    d = torch.ones_like(singular)
    d[:, -1] = torch.sign(torch.linalg.det(v @ u.transpose(1, 2)))
    rotation = v @ torch.diag_embed(d) @ u.transpose(1, 2)
    variance = xc.square().sum(dim=(1, 2))
    scale = (singular * d).sum(dim=1) / variance.clamp_min(1e-300)  # (T,)
    return scale[:, None, None] * (xc @ rotation.transpose(1, 2)) + y_mean
