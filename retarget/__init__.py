"""Retargeting SMPL motions to robots (the Unitree G1) with differential IK, and its quality report."""
