"""Robots: what each robot the pipeline simulates, retargets to or draws brings with it.

The model (MJCF), body and DoF order, PD gains, limits and action mapping (:mod:`robots.spec`,
:mod:`robots.registry`), the SMPL humanoid's generated MJCF and shapes, the G1's model file and
kinematics, the MotionLib ↔ simulator DoF conversion and kinematic standing clips.

Sits below ``training/``, ``retarget/`` and ``evaluation/`` (they import it) and above ``motion/``
(it imports the skeleton and rotations from there); it never imports the packages above it.
"""
