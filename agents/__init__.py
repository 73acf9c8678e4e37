"""rlsuite learning algorithms (PPO, BPO, PDPPO, HDPO, ...) with Stable-Baselines3's public surface."""
