"""Motion core: AMASS reading, the SMPL skeleton and humanoid, forward kinematics,
conversion to per-clip ``.motion`` files and the packaged MotionLib.

Everything here is plain Python 3.8-compatible code over numpy/torch; MuJoCo and
``smplx`` are imported lazily where needed.
"""
