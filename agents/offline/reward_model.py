"""A reward model learned from segment preferences (Bradley-Terry), for PbRL + IQL.

Preference-based offline RL's standard baseline (Christiano et al. 2017; Lee et al. 2021; the
"PbRL + IQL" of the OPPO and Preference Transformer papers): an ensemble of MLPs ``r_phi(s, a)``
is fitted to labelled segment pairs by the Bradley-Terry likelihood

    P(sigma_1 > sigma_2) = sigmoid( sum_{t in sigma_1} r_phi(s_t, a_t) - sum_{t in sigma_2} r_phi(s_t, a_t) )
    L = - E[ y log P + (1 - y) log (1 - P) ]          (y = 1, 0, or 0.5 for a tie)

each member on its own bootstrap-free shuffle; the dataset is then relabelled with the members'
mean reward (:func:`relabel_rewards`) and handed to IQL with everything else unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlsuite.validation import check_int, check_real, check_seed

from ..common.datasets import TransitionDataset
from ..common.networks import MLP


def bradley_terry_loss(sum_first: Tensor, sum_second: Tensor, labels: Tensor) -> Tensor:
    """Per pair: the cross-entropy of ``labels`` (1: first preferred) under
    ``sigmoid(sum_first - sum_second)``."""
    return F.binary_cross_entropy_with_logits(sum_first - sum_second, labels, reduction="none")


class PreferenceRewardModel(nn.Module):
    """An ensemble of ``n_members`` MLPs ``(s, a) -> r``; :meth:`forward` is their mean."""

    input_mean: Tensor
    input_std: Tensor

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256), n_members: int = 3):
        super().__init__()
        self.obs_dim, self.act_dim = check_int("obs_dim", obs_dim, 1), check_int("act_dim", act_dim, 1)
        self.members = nn.ModuleList(
            [MLP(obs_dim + act_dim, hidden, nn.ReLU, 1) for _ in range(check_int("n_members", n_members, 1))]
        )
        #: Input standardisation (the training data's mean and std of ``[obs, action]``).
        self.register_buffer("input_mean", torch.zeros(obs_dim + act_dim))
        self.register_buffer("input_std", torch.ones(obs_dim + act_dim))

    def member_rewards(self, obs: Tensor, actions: Tensor) -> Tensor:
        """``[n_members, ...]`` each member's reward of ``(obs [..., obs_dim], actions [..., act_dim])``."""
        x = self._inputs(obs, actions)
        return torch.stack([m(x).squeeze(-1) for m in self.members])

    def _inputs(self, obs: Tensor, actions: Tensor) -> Tensor:
        x = torch.cat([obs.float(), actions.float()], -1)
        return (x - self.input_mean) / self.input_std

    def member(self, k: int, obs: Tensor, actions: Tensor) -> Tensor:
        """Member ``k``'s reward."""
        return self.members[k](self._inputs(obs, actions)).squeeze(-1)

    def forward(self, obs: Tensor, actions: Tensor) -> Tensor:
        return self.member_rewards(obs, actions).mean(0)


def _actions(dataset: TransitionDataset, rows: np.ndarray, n_actions: int | None) -> Tensor:
    a = torch.as_tensor(np.array(dataset.actions[rows]))
    if n_actions is not None:  # Discrete: one-hot
        return F.one_hot(a.long(), n_actions).float()
    return a.float().reshape(*a.shape[: rows.ndim], -1)


def train_reward_model(
    dataset: TransitionDataset,
    starts: np.ndarray,
    length: int,
    labels: np.ndarray,
    *,
    epochs: int = 50,
    batch_size: int = 64,
    learning_rate: float = 3e-4,
    hidden: tuple[int, ...] = (256, 256),
    n_members: int = 3,
    seed: int = 0,
) -> tuple[PreferenceRewardModel, dict[str, list[float]]]:
    """Fit a :class:`PreferenceRewardModel` to segment pairs (``starts [P, 2]`` first rows,
    ``length`` steps, ``labels [P]``; e.g. a :class:`rlsuite.envs.datasets.SegmentPreferences`).
    Returns the model and the per-epoch ``loss`` and ``accuracy`` (decided pairs ranked as labelled)."""
    starts = np.asarray(starts, dtype=np.int64)
    labels_t = torch.as_tensor(np.asarray(labels, dtype=np.float32))
    length = check_int("length", length, 1)
    if starts.ndim != 2 or starts.shape[1] != 2 or len(starts) != len(labels_t) or len(starts) == 0:
        raise ValueError(
            f"starts, labels: shapes {starts.shape}, {tuple(labels_t.shape)}; need [P, 2] and [P], P >= 1"
        )
    if starts.min() < 0 or starts.max() + length > len(dataset):
        raise ValueError("starts: segments run outside the dataset")
    epochs, batch_size = check_int("epochs", epochs, 1), check_int("batch_size", batch_size, 1)
    learning_rate = check_real("learning_rate", learning_rate, 0.0, low_open=True)
    gen = torch.Generator().manual_seed(check_seed("seed", seed))
    space = dataset.action_space
    n_actions = int(space.n) if space is not None and hasattr(space, "n") else None
    obs_dim = int(np.prod(dataset.observations.shape[1:]))
    act_dim = n_actions or int(np.prod(dataset.actions.shape[1:]) or 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
        model = PreferenceRewardModel(obs_dim, act_dim, tuple(hidden), n_members)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    rows = starts[:, :, None] + np.arange(length)  # [P, 2, length]
    obs_all = torch.as_tensor(np.array(dataset.observations[rows])).float().reshape(*rows.shape, obs_dim)
    act_all = _actions(dataset, rows, n_actions)
    flat = torch.cat([obs_all, act_all], -1).reshape(-1, obs_dim + act_dim)
    model.input_mean.copy_(flat.mean(0))
    model.input_std.copy_(flat.std(0).clamp_min(1e-6))
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    decided = labels_t != 0.5
    for _ in range(epochs):
        losses = []
        for member in range(n_members):  # each member sees its own shuffle of the pairs
            order = torch.randperm(len(starts), generator=gen)
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                r = model.member(member, obs_all[idx], act_all[idx])
                seg = r.sum(-1)  # [B, 2]
                loss = bradley_terry_loss(seg[:, 0], seg[:, 1], labels_t[idx]).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
        with torch.no_grad():
            seg = model(obs_all, act_all).sum(-1)
            hits = ((seg[:, 0] > seg[:, 1]).float() == labels_t)[decided]
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(float(hits.float().mean()) if len(hits) else float("nan"))
    return model, history


@torch.no_grad()
def relabel_rewards(dataset: TransitionDataset, model: PreferenceRewardModel) -> TransitionDataset:
    """``dataset`` with every reward replaced by the model's (its members' mean)."""
    space = dataset.action_space
    n_actions = int(space.n) if space is not None and hasattr(space, "n") else None
    rows = np.arange(len(dataset))
    obs = torch.as_tensor(np.array(dataset.observations)).float().reshape(len(dataset), -1)
    rewards = model(obs, _actions(dataset, rows, n_actions)).numpy().astype(np.float32)
    return replace(dataset, rewards=rewards)
