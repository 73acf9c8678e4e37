"""Toy tasks shared by the offline learners' tests (OPPO, FamO2O): a one-step-lookahead target and a
behaviour-cloning reference."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.evaluation import run_episodes


class TargetEpisode(gym.Env):
    """10 steps: observe ``c ~ U[-1, 1]``, act ``a in [-1, 1]``, reward ``-(a - c)^2`` (best: 0)."""

    horizon = 10
    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.c = 0, float(self.np_random.uniform(-1, 1))
        return np.array([self.c], np.float32), {}

    def step(self, action):
        reward = -((float(np.clip(np.asarray(action).reshape(-1)[0], -1, 1)) - self.c) ** 2)
        self.t, self.c = self.t + 1, float(self.np_random.uniform(-1, 1))
        return np.array([self.c], np.float32), reward, False, self.t >= self.horizon, {}


def mean_return(policy, n: int = 50) -> float:
    deterministic = True if hasattr(policy, "predict") else None  # a plain callable has no mode
    episodes = run_episodes(TargetEpisode(), policy, range(10_000, 10_000 + n), deterministic=deterministic)
    return float(np.mean([ep.total_reward for ep in episodes]))


def behaviour_cloning(data: TransitionDataset, steps: int = 1000, seed: int = 0):
    """An MLP regressing the dataset's actions on its observations (squared error): ``obs -> action``."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(1, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1), torch.nn.Tanh()
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    obs, act = torch.as_tensor(data.observations.copy()), torch.as_tensor(data.actions.copy())
    for _ in range(steps):
        idx = torch.randint(len(obs), (256,), generator=gen)
        loss = (net(obs[idx]) - act[idx]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return lambda o: net(torch.as_tensor(o, dtype=torch.float32).reshape(1, 1)).detach().numpy()[0]
