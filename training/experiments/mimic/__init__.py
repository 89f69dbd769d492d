"""Motion-imitation experiments for the SMPL humanoid (flat and complex terrain)."""
