"""PPO: networks, normalisers, rollout storage with GAE, and the update."""
