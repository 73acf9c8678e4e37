"""Offline policy optimisation from logged, scored trajectories: DPO, QRPO, RPO and DRO.

The LLM-alignment methods carried over to agents (``../shared/reference/alignment.md``): a prompt
``x`` is an instance (reset seed), a completion ``y`` a trajectory from it, ``log pi(y|x)`` the sum
of the policy's action log-probabilities along it (the env's dynamics cancel in every ratio), and
``r(x, y)`` the episode's return or success. All four regress onto, or compare through, the
KL-regularised optimum ``pi* = pi_ref exp(r / beta) / Z(x)``, i.e. ``r - beta log Z = beta log(pi* /
pi_ref)``, and differ in how they handle ``Z``; with ``l(y) = log pi(y|x) - log pi_ref(y|x)``:

- **DPO** (Rafailov et al. 2023), pairs ``y_w > y_l`` of the same instance; ``Z`` cancels:
  ``L = softplus(-beta (l(y_w) - l(y_l)))``.
- **QRPO** (Matrenok et al. 2025), pointwise: the score becomes its quantile among reference-policy
  samples of the same instance, ``R_q = mean_j 1{r_j <= r}``, whose partition function is known,
  ``Z = beta (e^{1/beta} - 1)``; ``L = (R_q - beta log Z - beta l(y))^2``.
- **RPO** (Faye et al. 2025), pointwise: ``Z`` estimated per instance from that instance's own
  distinct logged trajectories, ``V(x) = beta log sum_j pi_ref(y_j|x) e^{r_j / beta}`` (frozen);
  ``L = 1/2 (l(y) - (r - V(x)) / beta)^2``, scores z-scored over the dataset and log-probs averaged
  per step, as in the paper's code.
- **DRO** (Richemond et al. 2024), pointwise: ``V(x)`` learned jointly, here the policy's value
  head on the instance's first observation; ``L = 1/2 (r - V(x) - beta l(y))^2``. RPO is "DRO
  without the value network": DRO is the pointwise baseline the RPO paper compares against (with
  KTO), so it is the one kept here.

The reference ``pi_ref`` is a frozen copy of the policy when ``learn`` first runs (load the
supervised start into ``model.policy`` first, or call :meth:`AlignmentAlgorithm.set_reference`); its
log-probabilities of every logged trajectory are computed once then. A saved model keeps the
policy, not the reference: a loaded one takes itself as reference unless given another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlsuite.validation import check_choice, check_int, check_real

from .common.config import config_from_arguments
from .common.group_algorithm import frozen_copy
from .common.logged import SCORES, LoggedTrajectories
from .common.observations import split_masks
from .common.offline import OfflineAlgorithm, OfflineConfig
from .common.schedules import Schedule

LOG_PROBS = ("sum", "mean")
"""A trajectory's log-probability: summed over its actions, or averaged per step (RPO's code)."""


# ---------------------------------------------------------------------------------------- losses
def dpo_loss(logp_w: Tensor, logp_l: Tensor, ref_w: Tensor, ref_l: Tensor, beta: float) -> Tensor:
    """Per pair: ``-log sigmoid(beta ((logp_w - ref_w) - (logp_l - ref_l)))``."""
    return F.softplus(-beta * ((logp_w - ref_w) - (logp_l - ref_l)))


def quantile_rewards(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """QRPO's ``R_q``: per row, the share of the reference scores ``[B, n]`` that are ``<=`` the
    score ``[B]`` (ties credited, as in the paper)."""
    scores, reference = np.asarray(scores, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return (reference <= scores[:, None]).mean(axis=1)


def qrpo_transform(quantiles: np.ndarray, transform: str, n_reference: int) -> np.ndarray:
    """``f(R_q)``: ``identity``, or ``log`` with ``R_q`` clamped to ``>= 1/n`` (the paper's code)."""
    if transform == "identity":
        return np.asarray(quantiles, dtype=np.float64)
    return np.log(np.maximum(quantiles, 1.0 / n_reference))


def qrpo_log_partition(beta: float, transform: str = "identity") -> float:
    """``log Z`` of a uniform quantile reward: ``log(beta (e^{1/beta} - 1))`` for ``identity``
    (written ``log beta + 1/beta + log(1 - e^{-1/beta})``: finite for every beta > 0), and
    ``log(beta / (beta + 1))`` for ``log``."""
    if transform == "identity":
        return math.log(beta) + 1.0 / beta + math.log1p(-math.exp(-1.0 / beta))
    return math.log(beta) - math.log1p(beta)


def qrpo_loss(log_ratio: Tensor, rewards: Tensor, beta: float, log_z: Tensor | float) -> Tensor:
    """Per trajectory: ``(f(R_q) - beta log Z - beta (log pi - log pi_ref))^2``."""
    return (rewards - beta * log_z - beta * log_ratio) ** 2


def rpo_values(ref_log_probs: np.ndarray, scores: np.ndarray, groups: np.ndarray, beta: float) -> np.ndarray:
    """RPO's ``V(x) = beta log sum_j pi_ref(y_j|x) e^{r_j / beta}`` per entry, the sum over the
    entries of the same group (instance). Pass each distinct trajectory once: then, once every
    completion of a finite problem has been seen, ``V = beta log Z`` exactly."""
    logits = np.asarray(ref_log_probs, dtype=np.float64) + np.asarray(scores, dtype=np.float64) / beta
    groups = np.asarray(groups)
    out = np.empty(len(logits))
    for g in np.unique(groups):
        sel = groups == g
        m = logits[sel].max()
        out[sel] = beta * (m + np.log(np.exp(logits[sel] - m).sum()))
    return out


def rpo_loss(log_ratio: Tensor, scores: Tensor, values: Tensor, beta: float) -> Tensor:
    """Per trajectory: ``1/2 (log pi - log pi_ref - (r - V(x)) / beta)^2``."""
    return 0.5 * (log_ratio - (scores - values) / beta) ** 2


def dro_loss(log_ratio: Tensor, scores: Tensor, values: Tensor, beta: float) -> Tensor:
    """Per trajectory: ``1/2 (r - V(x) - beta (log pi - log pi_ref))^2`` (``V`` trained too)."""
    return 0.5 * (scores - values - beta * log_ratio) ** 2


def preference_pairs(scores: np.ndarray, groups: np.ndarray, pairs: str) -> np.ndarray:
    """``[P, 2]`` (winner, loser) indices within each group: ``best_worst`` (the first best and the
    first worst, when they differ) or ``all`` (every ordered pair with a strictly higher score)."""
    out: list[tuple[int, int]] = []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        s = scores[idx]
        if pairs == "best_worst":
            if s.max() > s.min():
                out.append((int(idx[np.argmax(s)]), int(idx[np.argmin(s)])))
        else:
            w, lo = np.nonzero(s[:, None] > s[None, :])
            out += list(zip(idx[w].tolist(), idx[lo].tolist(), strict=True))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


# ---------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class AlignmentConfig(OfflineConfig):
    """Hyperparameters every alignment learner shares."""

    learning_rate: float | Schedule = 1e-4
    """Adam's step size (fine-tuning a supervised start), or a schedule of progress_remaining."""
    batch_size: int = 32
    """Trajectories per minibatch (pairs for DPO), drawn uniformly with replacement."""
    beta: float = 0.1
    """KL-regularisation temperature (``tau`` in RPO and DRO), > 0."""
    score: str = "return"
    """A trajectory's reward r(x, y): 'return' (the episode's) or 'success' (0/1)."""
    log_prob: str = "sum"
    """A trajectory's log pi: 'sum' over its actions, or 'mean' per step."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "beta", check_real("beta", self.beta, 0.0, low_open=True))
        check_choice("score", self.score, SCORES)
        check_choice("log_prob", self.log_prob, LOG_PROBS)


@dataclass(frozen=True)
class DPOConfig(AlignmentConfig):
    """DPO's hyperparameters (beta 0.1 as in the paper and TRL)."""

    pairs: str = "best_worst"
    """Pairs per instance: 'best_worst' (its best and worst trajectory) or 'all' (every ordered
    pair with different scores)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("pairs", self.pairs, ("best_worst", "all"))


@dataclass(frozen=True)
class QRPOConfig(AlignmentConfig):
    """QRPO's hyperparameters."""

    n_reference: int | None = None
    """Reference samples per instance used for the quantiles (the first n stored; None: all)."""
    transform: str = "identity"
    """f(R_q): 'identity' (the paper's runs) or 'log' (the code's default)."""
    partition: str = "uniform"
    """log Z: 'uniform' (the closed form of a uniform quantile, the paper's) or 'reference' (exact
    for the reference samples' own quantiles, which ties make non-uniform)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_reference is not None:
            object.__setattr__(self, "n_reference", check_int("n_reference", self.n_reference, 1))
        check_choice("transform", self.transform, ("identity", "log"))
        check_choice("partition", self.partition, ("uniform", "reference"))


@dataclass(frozen=True)
class RPOConfig(AlignmentConfig):
    """RPO's hyperparameters (the paper's code: tau 5 on z-scored rewards, per-step mean log-probs)."""

    beta: float = 5.0
    """Temperature tau (on z-scored scores when normalize_scores)."""
    log_prob: str = "mean"
    """A trajectory's log pi: 'mean' per step (the paper's code) or 'sum'."""
    normalize_scores: bool = True
    """Z-score the scores over the dataset first (the paper's code)."""


@dataclass(frozen=True)
class DROConfig(AlignmentConfig):
    """DRO's hyperparameters (tau 1 and per-step mean log-probs, as the RPO paper's DRO baseline)."""

    beta: float = 1.0
    """Temperature tau."""
    log_prob: str = "mean"
    """A trajectory's log pi: 'mean' per step or 'sum'."""
    normalize_scores: bool = True
    """Z-score the scores over the dataset first (as RPO, for a like-for-like comparison)."""


# ---------------------------------------------------------------------------------------- base
class AlignmentAlgorithm(OfflineAlgorithm):
    """Learners from :class:`LoggedTrajectories` (module docstring). Subclasses write
    :meth:`prepare` (per-trajectory targets, once the reference's log-probs are known) and
    :meth:`compute_loss` on the items :meth:`sample_batch` draws (trajectories, or DPO's pairs)."""

    config_class: ClassVar[type[OfflineConfig]] = AlignmentConfig
    dataset_class: ClassVar[type[Any]] = LoggedTrajectories
    config: AlignmentConfig
    dataset: LoggedTrajectories
    #: Chunk of step rows per forward when scoring the whole dataset with the reference.
    reference_chunk_steps: ClassVar[int] = 1024

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: LoggedTrajectories | None,
        config: AlignmentConfig,
        _init_setup_model: bool = True,
    ) -> None:
        self.reference: nn.Module | None = None
        self.ref_log_probs: np.ndarray | None = None
        self._items = np.zeros(0, dtype=np.int64)
        super().__init__(policy, dataset, config, _init_setup_model)

    def set_dataset(self, dataset: Any) -> None:
        super().set_dataset(dataset)
        self.ref_log_probs = None  # recomputed for the new trajectories at the next learn

    def set_reference(self, policy: nn.Module | None = None) -> None:
        """Make ``pi_ref`` a frozen copy of ``policy`` (default: the model's policy now); the next
        ``learn`` scores every logged trajectory with it (``learn`` makes the reference itself the
        first time it runs, when none was set)."""
        self.reference = frozen_copy(policy if policy is not None else self.policy).to(self.device)
        self.ref_log_probs = None

    def on_learn_start(self) -> None:
        if self.reference is None:
            self.set_reference()
        if self.ref_log_probs is None:
            assert self.reference is not None
            n = self.dataset.n_episodes
            out = np.zeros(n)
            lengths, start = self.dataset.lengths, 0
            with torch.no_grad():  # whole episodes, about reference_chunk_steps steps per forward
                while start < n:
                    stop, total = start + 1, int(lengths[start])
                    while stop < n and total + int(lengths[stop]) <= self.reference_chunk_steps:
                        total, stop = total + int(lengths[stop]), stop + 1
                    lp, _ = self.trajectory_log_probs(self.reference, np.arange(start, stop))
                    out[start:stop] = lp.double().cpu().numpy()
                    start = stop
            self.ref_log_probs = out
            self.prepare()

    def scores(self) -> np.ndarray:
        """``[episodes]`` the dataset's scores as this learner uses them (z-scored when the config
        says ``normalize_scores``)."""
        s = self.dataset.scores(self.config.score)
        if getattr(self.config, "normalize_scores", False):
            s = (s - s.mean()) / (s.std() + 1e-8)
        return s

    def trajectory_log_probs(self, module: nn.Module, episodes: np.ndarray) -> tuple[Tensor, Tensor]:
        """``(log pi(y|x) [E], first-step values [E])`` of logged ``episodes`` under ``module``: the
        action log-probs summed over each trajectory (or averaged per step, ``log_prob="mean"``),
        and the value head at each trajectory's first observation."""
        data = self.dataset
        rows, owner = data.step_rows(episodes)
        obs = self.obs_to_tensor({k: v[rows] for k, v in data.observations.items()})
        obs, masks = split_masks(obs)
        policy: Any = module  # a text policy: action_head and evaluate_actions
        actions = policy.action_head.from_env(torch.as_tensor(data.actions[rows], device=self.device))
        out = policy.evaluate_actions(obs, actions, masks)
        owner_t = torch.as_tensor(owner, device=self.device)
        logp = torch.zeros(len(episodes), device=self.device, dtype=out.log_prob.dtype)
        logp = logp.index_add(0, owner_t, out.log_prob)
        if self.config.log_prob == "mean":
            logp = logp / torch.as_tensor(data.lengths[episodes], device=self.device, dtype=logp.dtype)
        first = np.r_[0, np.cumsum(data.lengths[episodes])[:-1]]
        return logp, out.values[torch.as_tensor(first, device=self.device)]

    def log_ratios(self, episodes: np.ndarray) -> tuple[Tensor, Tensor]:
        """``(log pi(y|x) - log pi_ref(y|x) [E], first-step values [E])`` of ``episodes``."""
        if self.ref_log_probs is None:
            self.on_learn_start()  # the reference's log-probs, as learn computes them
        logp, values = self.trajectory_log_probs(self.policy, episodes)
        assert self.ref_log_probs is not None
        ref = torch.as_tensor(self.ref_log_probs[episodes], device=self.device, dtype=logp.dtype)
        return logp - ref, values

    def _tensor(self, array: np.ndarray) -> Tensor:
        return torch.as_tensor(array, device=self.device, dtype=torch.float32)

    def prepare(self) -> None:
        """Hook: per-trajectory targets once ``ref_log_probs`` is known; sets the items sampled
        (default: every trajectory)."""
        self._items = np.arange(self.dataset.n_episodes)

    def sample_batch(self) -> np.ndarray:
        if len(self._items) == 0:
            raise ValueError(
                f"dataset: no training items for {type(self).__name__} (e.g. no pair with different scores)"
            )
        idx = torch.randint(len(self._items), (self.config.batch_size,), generator=self._generator)
        return self._items[idx.numpy()]


# ---------------------------------------------------------------------------------------- DPO
class DPO(AlignmentAlgorithm):
    """DPO on trajectory pairs of the same instance (module docstring); parameters documented on
    :class:`DPOConfig`.

    >>> model = DPO("TextPolicy", logged, beta=0.1, seed=0)   # logged: LoggedTrajectories
    >>> model.policy.load_state_dict(sft.policy.state_dict()); model.learn(2_000)
    """

    config_class: ClassVar[type[OfflineConfig]] = DPOConfig
    config: DPOConfig

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: LoggedTrajectories | None,
        learning_rate: float | Schedule = 1e-4,
        batch_size: int = 32,
        beta: float = 0.1,
        score: str = "return",
        log_prob: str = "sum",
        pairs: str = "best_worst",
        gamma: float = 0.99,
        max_grad_norm: float = 10.0,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        check_finite: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, dataset, config_from_arguments(DPOConfig, locals()), _init_setup_model)

    def prepare(self) -> None:
        pairs = preference_pairs(
            self.dataset.scores(self.config.score), self.dataset.instances, self.config.pairs
        )
        self._pairs = pairs
        self._items = np.arange(len(pairs))

    def compute_loss(self, batch: np.ndarray) -> tuple[Tensor, dict[str, float]]:
        pairs = self._pairs[batch]
        ratio, _ = self.log_ratios(pairs.reshape(-1))
        ratio = ratio.reshape(-1, 2)
        zero = torch.zeros_like(ratio[:, 0])  # the log-ratios already subtract pi_ref
        losses = dpo_loss(ratio[:, 0], ratio[:, 1], zero, zero, self.config.beta)
        with torch.no_grad():
            margin = self.config.beta * (ratio[:, 0] - ratio[:, 1])
        return losses.mean(), {
            "pair_accuracy": float((margin > 0).float().mean()),
            "reward_margin": float(margin.mean()),
            "chosen_log_ratio": float(ratio[:, 0].detach().mean()),
            "rejected_log_ratio": float(ratio[:, 1].detach().mean()),
        }


# ---------------------------------------------------------------------------------------- QRPO
class QRPO(AlignmentAlgorithm):
    """QRPO: regression onto the quantile-reward optimum (module docstring); parameters documented
    on :class:`QRPOConfig`. Needs reference-policy scores for every instance of the dataset
    (:func:`~rlsuite.agents.common.logged.reference_scores`, ``LoggedTrajectories.with_reference``)."""

    config_class: ClassVar[type[OfflineConfig]] = QRPOConfig
    config: QRPOConfig

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: LoggedTrajectories | None,
        learning_rate: float | Schedule = 1e-4,
        batch_size: int = 32,
        beta: float = 0.1,
        score: str = "return",
        log_prob: str = "sum",
        n_reference: int | None = None,
        transform: str = "identity",
        partition: str = "uniform",
        gamma: float = 0.99,
        max_grad_norm: float = 10.0,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        check_finite: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, dataset, config_from_arguments(QRPOConfig, locals()), _init_setup_model)

    def prepare(self) -> None:
        cfg, data = self.config, self.dataset
        ref = data.reference_scores(cfg.score)
        missing = sorted(set(data.instances.tolist()) - set(ref))
        if missing:
            raise ValueError(
                f"dataset: no reference samples for {len(missing)} instance(s) (first: {missing[:10]}); "
                "QRPO needs them for every instance (reference_scores + LoggedTrajectories.with_reference)"
            )
        stored = data.ref_returns.shape[1]
        n = cfg.n_reference or stored
        if n > stored:
            raise ValueError(f"n_reference: got {n}; the dataset has {stored} reference samples per instance")
        table = np.stack([ref[int(i)][:n] for i in data.instances])  # [episodes, n]
        q = quantile_rewards(data.scores(cfg.score), table)
        self._rewards = qrpo_transform(q, cfg.transform, n)
        if cfg.partition == "uniform":
            self._log_z = np.full(data.n_episodes, qrpo_log_partition(cfg.beta, cfg.transform))
        else:  # exact for the empirical reference distribution: E_j exp(f(R_q(ref_j)) / beta)
            self._log_z = np.empty(data.n_episodes)
            for inst in np.unique(data.instances):
                r = ref[int(inst)][:n]
                own = qrpo_transform(quantile_rewards(r, np.broadcast_to(r, (n, n))), cfg.transform, n)
                z = own / cfg.beta
                self._log_z[data.instances == inst] = z.max() + np.log(np.mean(np.exp(z - z.max())))
        self._items = np.arange(data.n_episodes)

    def compute_loss(self, batch: np.ndarray) -> tuple[Tensor, dict[str, float]]:
        ratio, _ = self.log_ratios(batch)
        rewards, log_z = self._tensor(self._rewards[batch]), self._tensor(self._log_z[batch])
        losses = qrpo_loss(ratio, rewards, self.config.beta, log_z)
        return losses.mean(), {
            "quantile_reward": float(rewards.mean()),
            "log_ratio": float(ratio.detach().mean()),
        }


# ---------------------------------------------------------------------------------------- RPO
class RPO(AlignmentAlgorithm):
    """RPO: regression onto the optimum with a per-instance partition estimate from the logged
    trajectories themselves (module docstring); parameters documented on :class:`RPOConfig`."""

    config_class: ClassVar[type[OfflineConfig]] = RPOConfig
    config: RPOConfig

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: LoggedTrajectories | None,
        learning_rate: float | Schedule = 1e-4,
        batch_size: int = 32,
        beta: float = 5.0,
        score: str = "return",
        log_prob: str = "mean",
        normalize_scores: bool = True,
        gamma: float = 0.99,
        max_grad_norm: float = 10.0,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        check_finite: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, dataset, config_from_arguments(RPOConfig, locals()), _init_setup_model)

    def prepare(self) -> None:
        assert self.ref_log_probs is not None
        data, scores = self.dataset, self.scores()
        # Each distinct trajectory of an instance enters its partition sum once.
        keys = [(int(i), a) for i, a in zip(data.instances, data.action_sequences(), strict=True)]
        first: dict[tuple[int, bytes], int] = {}
        for k, key in enumerate(keys):
            first.setdefault(key, k)
        distinct = np.array(sorted(first.values()))
        v = rpo_values(
            self.ref_log_probs[distinct], scores[distinct], data.instances[distinct], self.config.beta
        )
        by_instance = dict(zip(data.instances[distinct].tolist(), v.tolist(), strict=False))
        self._scores, self._values = scores, np.array([by_instance[int(i)] for i in data.instances])
        self._items = np.arange(data.n_episodes)

    def compute_loss(self, batch: np.ndarray) -> tuple[Tensor, dict[str, float]]:
        ratio, _ = self.log_ratios(batch)
        losses = rpo_loss(
            ratio, self._tensor(self._scores[batch]), self._tensor(self._values[batch]), self.config.beta
        )
        return losses.mean(), {"log_ratio": float(ratio.detach().mean())}


# ---------------------------------------------------------------------------------------- DRO
class DRO(AlignmentAlgorithm):
    """DRO: joint regression of the policy and a value ``V(x)`` (the policy's value head on the
    instance's first observation) onto the optimum (module docstring); parameters documented on
    :class:`DROConfig`."""

    config_class: ClassVar[type[OfflineConfig]] = DROConfig
    config: DROConfig

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: LoggedTrajectories | None,
        learning_rate: float | Schedule = 1e-4,
        batch_size: int = 32,
        beta: float = 1.0,
        score: str = "return",
        log_prob: str = "mean",
        normalize_scores: bool = True,
        gamma: float = 0.99,
        max_grad_norm: float = 10.0,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        check_finite: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, dataset, config_from_arguments(DROConfig, locals()), _init_setup_model)

    def prepare(self) -> None:
        self._scores = self.scores()
        self._items = np.arange(self.dataset.n_episodes)

    def compute_loss(self, batch: np.ndarray) -> tuple[Tensor, dict[str, float]]:
        ratio, values = self.log_ratios(batch)
        losses = dro_loss(ratio, self._tensor(self._scores[batch]), values, self.config.beta)
        return losses.mean(), {
            "log_ratio": float(ratio.detach().mean()),
            "value": float(values.detach().mean()),
        }
