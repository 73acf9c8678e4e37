"""OPPO: Offline Preference-guided Policy Optimization (Kang, Shi, Liu, He, Wang, ICML 2023, "Beyond
Reward: Offline Preference-guided Policy Optimization", arXiv 2305.16217).

OPPO learns from trajectories and preferences between pairs of their segments, without a reward
model: it never turns preferences into rewards. Three pieces, trained together:

- an **encoder** ``I_psi(sigma) -> z in R^d`` of a segment ``sigma = (s_1, a_1, ..., s_K, a_K)``
  (hindsight information extraction);
- a **context-conditioned policy** ``pi_theta(a | s, z)``;
- one learned context vector **z\\*** (the "optimal" context): the policy acts with ``pi(a | s, z*)``.

With ``(sigma+, sigma-)`` a labelled pair (preferred, rejected), ``z+- = I_psi(sigma+-)``, one
minibatch of pairs gives (the paper's objectives as its code computes them, ``pdt_trainer.py::train_step``)::

    L_HIM  = sum_{sigma in pair} mean_t || mu_theta(s_t, I_psi(sigma)) - a_t ||^2    information matching
    L_pref(anchor, z+, z-) = mean max( ||anchor - z+||_2 - ||anchor - z-||_2 + m, 0 )    triplet, m = 1
    L_norm = sum_{sigma in pair} mean (||I_psi(sigma)||_2 - 1)^2                     z near the unit sphere
    (psi, theta) minimise  L_HIM + 0.1 L_pref(sg(z*), z+, z-) + 0.1 L_norm
    z*           minimises L_pref(z*, sg(z+), sg(z-))

(``sg``: stop-gradient). ``L_HIM`` is behaviour cloning of each segment's actions conditioned on
the segment's own embedding, so ``z`` has to carry what distinguishes the segment's behaviour; the
preference term orders the embedding space so that preferred behaviour lies near ``z*``, and
``z*`` moves to be closer to every preferred segment than to its rejected partner by the margin.
Pairs labelled as ties (0.5) enter ``L_HIM`` and ``L_norm`` but not ``L_pref`` (the code skips
pairs with equal returns). :func:`oppo_triplet_loss` is the triplet loss in one place.

Design here (and where it departs from the paper's code):

- **Encoder: a small bidirectional transformer** (the paper's BERT encoder, smaller by default
  only through ``policy_kwargs``): tokens ``s_1, a_1, ..., s_K, a_K``, each a linear embedding
  plus a learned embedding of its position in the segment, LayerNorm, ``n_layers`` post-norm
  self-attention layers without a causal mask, the sum over the tokens, a linear map to ``z``. A
  transformer rather than a GRU: it is the paper's choice, and attention sees the whole segment
  at once, as hindsight extraction wants. The positions are within the segment (the code embeds
  the absolute time step of the episode).
- **Policy: an MLP on (s, z)** instead of the paper's GPT-2 decoder over the last K steps: a
  Markov policy is what ``predict(obs)`` serves, and it keeps training cheap on a CPU. Box
  actions: the mean ``tanh(MLP)`` in units scaled to [-1, 1] by the action bounds, fitted by the
  paper's squared error; a state-independent log-std is fitted alongside by the Gaussian
  likelihood with the mean held fixed (it only serves ``predict(deterministic=False)``). Discrete
  actions: a categorical, ``L_HIM`` its negative log-likelihood (the paper has Box actions only).
- **One loss, one optimizer**: the sum ``L_HIM + nll_std + 0.1 L_pref(sg(z*)) + 0.1 L_norm +
  L_pref(z*, sg(.))`` under one AdamW with three groups (policy, encoder, z*), each term's gradient
  reaching only its own group; z*'s term uses this step's embeddings rather than the ones after
  the encoder's update (the code's second forward pass). The gradient norm of policy and encoder
  together is clipped at 0.25 (the code clips each at 0.25); z* is not clipped (nor in the code).
- **Fixed labelled pairs**: the minibatches are drawn from a :class:`SegmentPreferences` (a fixed
  query budget; the code labels fresh segments in every batch).
- Observations are standardised by the dataset's mean and std (as the code), kept in the policy.

Defaults and sources (``oppo/scripted/gym``: ``args.py``, ``experiment.py``): z dimension 8,
z* initialised ``N(0, 2^2)``, margin 1, weights 0.1 on ``L_pref`` and ``L_norm``, AdamW with
weight decay 1e-4, rate 1e-4 for encoder and policy with a linear warm-up of the policy's over
10,000 steps, rate 1e-3 for z*, batch 64 pairs, gradient clip 0.25, encoder width 128 with 3
layers and 2 heads, dropout 0.1; the policy MLP is 256x256 ReLU (the code's decoder: GPT-2,
width 128, 3 layers). Segments of K = 20 steps in the scripted-teacher runs (labels from the
200-step return from the segment's start), K = 100 with human labels; up to
``max_segment_length`` = 100 here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import Tensor, nn

from rlsuite.validation import check_bool, check_int, check_real

from ..common.config import config_from_arguments
from ..common.datasets import TransitionDataset
from ..common.distributions import ActionHead, DiagGaussian, MultiCategorical
from ..common.networks import HIDDEN_GAIN, MLP, POLICY_GAIN, activation_class, orthogonal_init
from ..common.offline import OfflineAlgorithm, OfflineConfig
from ..common.registry import Registry
from ..common.schedules import Schedule
from .networks import register_action_bounds

#: Bounds on sizes read from model files.
MAX_SEGMENT_LENGTH = 10_000
MAX_WIDTH = 4096
MAX_LAYERS = 64


class LabelledSegments(Protocol):
    """What OPPO reads of its preferences: a :class:`rlsuite.envs.datasets.SegmentPreferences` (the
    scripted teacher's :func:`~rlsuite.envs.datasets.label_segments`) or anything shaped alike."""

    @property
    def starts(self) -> np.ndarray:
        """``[P, 2]`` the first dataset row of each pair's two segments."""

    @property
    def length(self) -> int:
        """Steps per segment."""

    @property
    def labels(self) -> np.ndarray:
        """``[P]`` 1 (first preferred), 0 (second preferred) or 0.5 (tie)."""


def oppo_triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0) -> Tensor:
    """OPPO's preference loss, the triplet margin loss with the L2 distance::

        mean_i max( ||anchor - positive_i||_2 - ||anchor - negative_i||_2 + margin, 0 )

    ``anchor``: ``[d]`` (z*, shared by every pair) or ``[P, d]``; ``positive``, ``negative``:
    ``[P, d]`` the embeddings of the preferred and the rejected segments. Zero when the anchor is
    closer to every preferred embedding than to its rejected partner by at least ``margin``; 0 for
    ``P = 0`` (a minibatch of ties). Unlike ``torch.nn.TripletMarginLoss`` no ``eps`` is added
    inside the norms."""
    d_pos = torch.linalg.vector_norm(anchor - positive, dim=-1)
    d_neg = torch.linalg.vector_norm(anchor - negative, dim=-1)
    per_pair = F.relu(d_pos - d_neg + margin)
    return per_pair.mean() if per_pair.numel() else per_pair.sum()


class SegmentEncoder(nn.Module):
    """``I_psi``: ``(obs [B, K, obs_dim], actions [B, K, act_dim]) -> z [B, z_dim]`` (module
    docstring: interleaved state and action tokens, position embeddings, a bidirectional
    transformer, sum over the tokens, linear)."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        z_dim: int,
        embed_dim: int,
        n_layers: int,
        n_heads: int,
        dropout: float,
        max_length: int,
    ) -> None:
        super().__init__()
        self.embed_obs = nn.Linear(obs_dim, embed_dim)
        self.embed_action = nn.Linear(act_dim, embed_dim)
        self.embed_position = nn.Embedding(max_length, embed_dim)
        self.embed_norm = nn.LayerNorm(embed_dim)
        layer = nn.TransformerEncoderLayer(
            embed_dim, n_heads, 4 * embed_dim, dropout, activation="relu", batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.to_z = nn.Linear(embed_dim, z_dim)

    def forward(self, obs: Tensor, actions: Tensor) -> Tensor:
        batch, length = obs.shape[0], obs.shape[1]
        position = self.embed_position(torch.arange(length, device=obs.device))
        tokens = torch.stack([self.embed_obs(obs) + position, self.embed_action(actions) + position], dim=2)
        hidden = self.transformer(self.embed_norm(tokens.reshape(batch, 2 * length, -1)))
        return self.to_z(hidden.sum(1))


class OPPOPolicy(nn.Module):
    """The segment encoder, the policy ``pi(a | s, z)`` and ``z*`` in one module (module docstring).

    Args:
        observation_space: a Box.
        action_space: a Box or a Discrete.
        net_arch: hidden sizes of the policy MLP on ``(s, z)`` (default ``[256, 256]``).
        activation_fn: the policy MLP's activation (default ReLU).
        z_dim: size of the context ``z`` (OPPO: 8).
        embed_dim, n_layers, n_heads, dropout: the encoder transformer's width, depth, attention
            heads (dividing ``embed_dim``) and dropout (OPPO: 128, 3, 2, 0.1).
        max_segment_length: longest segment the encoder takes (its position embeddings).
        z_init_std: std of z*'s Gaussian initialisation (OPPO: 2).
        log_std_init, log_std_min, log_std_max: the Gaussian's state-independent log-std (Box).
        ortho_init: orthogonal initialisation of the policy MLP (gain sqrt(2), head 0.01).
    """

    #: The dataset's observation mean and std (saved with the model).
    obs_mean: Tensor
    obs_std: Tensor
    action_center: Tensor
    action_half_range: Tensor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] | str = nn.ReLU,
        z_dim: int = 8,
        embed_dim: int = 128,
        n_layers: int = 3,
        n_heads: int = 2,
        dropout: float = 0.1,
        max_segment_length: int = 100,
        z_init_std: float = 2.0,
        log_std_init: float = 0.0,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        ortho_init: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Box):
            raise ValueError(f"observation_space: got {observation_space!r}; OPPO takes Box observations")
        if not isinstance(action_space, (spaces.Box, spaces.Discrete)):
            raise ValueError(f"action_space: got {action_space!r}; allowed: Box, Discrete")
        z_dim = check_int("z_dim", z_dim, 1, MAX_WIDTH)
        embed_dim = check_int("embed_dim", embed_dim, 1, MAX_WIDTH)
        n_layers = check_int("n_layers", n_layers, 1, MAX_LAYERS)
        n_heads = check_int("n_heads", n_heads, 1, embed_dim)
        if embed_dim % n_heads:
            raise ValueError(f"n_heads: got {n_heads}; must divide embed_dim ({embed_dim})")
        dropout = check_real("dropout", dropout, 0.0, 1.0, high_open=True)
        self.max_segment_length = check_int("max_segment_length", max_segment_length, 1, MAX_SEGMENT_LENGTH)
        self.log_std_min = check_real("log_std_min", log_std_min)
        self.log_std_max = check_real("log_std_max", log_std_max)
        if self.log_std_min > self.log_std_max:
            raise ValueError(f"log_std_min: got {log_std_min}; must be <= log_std_max ({log_std_max})")
        self.observation_space, self.action_space = observation_space, action_space
        self.obs_dim = math.prod(observation_space.shape)
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.z_dim = z_dim
        self.register_buffer("obs_mean", torch.zeros(self.obs_dim))
        self.register_buffer("obs_std", torch.ones(self.obs_dim))
        if isinstance(action_space, spaces.Box):
            self.bounded = register_action_bounds(self, action_space)
            act_features = int(np.prod(action_space.shape))
        else:
            self.bounded = True
            act_features = int(action_space.n)
        self.act_features = act_features
        self.encoder = SegmentEncoder(
            self.obs_dim, act_features, z_dim, embed_dim, n_layers, n_heads, dropout, self.max_segment_length
        )
        hidden = [256, 256] if net_arch is None else net_arch
        self.pi_net = MLP(self.obs_dim + z_dim, hidden, activation_class(activation_fn), field="net_arch")
        self.action_head = ActionHead(
            action_space, self.pi_net.out_dim, check_real("log_std_init", log_std_init)
        )
        if check_bool("ortho_init", ortho_init):
            orthogonal_init(self.pi_net, HIDDEN_GAIN)
            orthogonal_init(self.action_head.net, POLICY_GAIN)
        z_init_std = check_real("z_init_std", z_init_std, 0.0)
        self.z_star = nn.Parameter(torch.randn(z_dim) * z_init_std)

    # ------------------------------------------------------------------ parameter groups
    def policy_parameters(self) -> list[nn.Parameter]:
        """``theta``: the policy MLP and its action head."""
        return [*self.pi_net.parameters(), *self.action_head.parameters()]

    def encoder_parameters(self) -> list[nn.Parameter]:
        """``psi``: the segment encoder."""
        return list(self.encoder.parameters())

    @torch.no_grad()
    def set_observation_statistics(self, observations: np.ndarray) -> None:
        """Standardise observations by the mean and std of ``observations [n, *obs_shape]``."""
        flat = torch.as_tensor(np.array(observations, dtype=np.float64).reshape(len(observations), -1))
        self.obs_mean.copy_(flat.mean(0).float())
        self.obs_std.copy_((flat.std(0, correction=0) + 1e-6).float())

    # ------------------------------------------------------------------ inputs
    def normalize(self, obs: Tensor) -> Tensor:
        """``[..., *obs_shape] -> [..., obs_dim]`` standardised."""
        flat = obs.reshape(*obs.shape[: obs.dim() - len(self.observation_space.shape)], self.obs_dim)
        return (flat.float() - self.obs_mean) / self.obs_std

    def scale_actions(self, actions: Tensor) -> Tensor:
        """Env actions ``[B, ...]`` -> the policy's format: Box ``[B, d]`` in [-1, 1] units,
        Discrete ``[B, 1]`` indices from 0."""
        a = self.action_head.from_env(actions)
        return a if self.discrete else (a - self.action_center) / self.action_half_range

    def action_features(self, u: Tensor) -> Tensor:
        """The encoder's action input: scaled Box actions, one-hot Discrete ones (``[B, act_features]``)."""
        return F.one_hot(u.reshape(-1).long(), self.act_features).float() if self.discrete else u

    def encode(self, obs: Tensor, actions: Tensor) -> Tensor:
        """``z [B, z_dim]`` of segments: ``obs [B, K, *obs_shape]``, env ``actions [B, K, ...]``."""
        batch, length = obs.shape[0], obs.shape[1]
        u = self.scale_actions(actions.reshape(batch * length, *actions.shape[2:]))
        return self.encoder(self.normalize(obs), self.action_features(u).reshape(batch, length, -1))

    # ------------------------------------------------------------------ policy
    def distribution(
        self, obs: Tensor, z: Tensor, masks: Tensor | None = None
    ) -> DiagGaussian | MultiCategorical:
        """``pi(. | s, z)`` over scaled actions; ``obs [B, *obs_shape]``, ``z [B, z_dim]``."""
        latent = self.pi_net(torch.cat([self.normalize(obs), z], dim=-1))
        head = self.action_head
        if self.discrete:
            return head.distribution(latent, masks)
        if masks is not None:
            raise ValueError("action_masks: Box actions cannot be masked")
        out = F.linear(latent, head.net.weight, head.net.bias)
        mean = torch.tanh(out) if self.bounded else out
        return DiagGaussian(mean, head.log_std.clamp(self.log_std_min, self.log_std_max))

    def act(
        self,
        obs: Tensor,
        deterministic: bool = True,
        action_masks: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``pi(. | s, z*)``: its mean or most likely action when ``deterministic``, else a sample
        (Box actions in env units, before the head's reshape and the clip)."""
        dist = self.distribution(obs, self.z_star.expand(obs.shape[0], -1), action_masks)
        u = dist.mode() if deterministic else dist.sample(generator)
        return u if self.discrete else self.action_center + self.action_half_range * u


class SegmentPairBatch(NamedTuple):
    """A minibatch of labelled segment pairs (env format, on the model's device)."""

    observations: Tensor
    """``[B, 2, K, *obs_shape]``."""
    actions: Tensor
    """``[B, 2, K, *action_shape]``."""
    labels: Tensor
    """``[B]``: 1 (first preferred), 0 (second preferred) or 0.5 (tie)."""


@dataclass(frozen=True)
class OPPOConfig(OfflineConfig):
    """OPPO's hyperparameters (defaults and their sources: module docstring)."""

    learning_rate: float | Schedule = 1e-4
    """AdamW's rate for the encoder and the policy (the policy's warmed up), or a schedule."""
    batch_size: int = 64
    """Labelled segment pairs per minibatch (drawn uniformly with replacement)."""
    z_learning_rate: float = 1e-3
    """AdamW's rate for z*, > 0."""
    weight_decay: float = 1e-4
    """AdamW's decoupled weight decay of every group, >= 0."""
    margin: float = 1.0
    """Margin m of the triplet loss, >= 0."""
    pref_coef: float = 0.1
    """Weight of the triplet loss in the encoder's objective, >= 0."""
    norm_coef: float = 0.1
    """Weight of the unit-norm regulariser of the embeddings, >= 0."""
    warmup_steps: int = 10_000
    """Gradient steps of the policy's linear learning-rate warm-up (0: none)."""
    max_grad_norm: float = 0.25
    """Largest global L2 norm of the encoder's and policy's gradient together."""

    def __post_init__(self) -> None:
        super().__post_init__()
        set_ = object.__setattr__
        set_(self, "z_learning_rate", check_real("z_learning_rate", self.z_learning_rate, 0.0, low_open=True))
        set_(self, "weight_decay", check_real("weight_decay", self.weight_decay, 0.0))
        set_(self, "margin", check_real("margin", self.margin, 0.0))
        set_(self, "pref_coef", check_real("pref_coef", self.pref_coef, 0.0))
        set_(self, "norm_coef", check_real("norm_coef", self.norm_coef, 0.0))
        set_(self, "warmup_steps", check_int("warmup_steps", self.warmup_steps, 0))


class OPPO(OfflineAlgorithm):
    """OPPO from a :class:`TransitionDataset` and labelled segment pairs of it (module docstring);
    parameters documented on :class:`OPPOConfig` and :class:`~..common.offline.OfflineConfig`.

    >>> prefs = label_segments(dataset, n_pairs=2000, segment_length=20, seed=0)   # scripted teacher
    >>> model = OPPO("MlpPolicy", dataset, prefs, seed=0).learn(100_000)          # gradient steps
    >>> action, _ = model.predict(obs, deterministic=True)                         # pi(a | s, z*)

    ``preferences`` is a :class:`rlsuite.envs.datasets.SegmentPreferences` of ``dataset`` (its
    ``starts [P, 2]`` rows, ``length`` K and ``labels [P]``). The dataset's rewards are never read
    (nor is ``gamma``, kept for the offline seam's shared config).
    Neither is saved: ``OPPO.load(path, dataset=..., preferences=...)`` to train on.
    """

    config_class: ClassVar[type[OfflineConfig]] = OPPOConfig
    config: OPPOConfig
    policy: OPPOPolicy
    policy_aliases: ClassVar[Any] = Registry("policy", {"MlpPolicy": OPPOPolicy, "OPPOPolicy": OPPOPolicy})

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: TransitionDataset | None,
        preferences: LabelledSegments | None = None,
        learning_rate: float | Schedule = 1e-4,
        batch_size: int = 64,
        z_learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        margin: float = 1.0,
        pref_coef: float = 0.1,
        norm_coef: float = 0.1,
        warmup_steps: int = 10_000,
        gamma: float = 0.99,
        max_grad_norm: float = 0.25,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        check_finite: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        self.preferences: LabelledSegments | None = None
        self._pair_starts = np.zeros((0, 2), np.int64)
        self._pair_labels = np.zeros(0, np.float32)
        super().__init__(policy, dataset, config_from_arguments(OPPOConfig, locals()), False)
        if preferences is not None:
            self.set_preferences(preferences)
        if _init_setup_model:
            if self.observation_space is None:
                raise ValueError("dataset: needed to build the model (or load a saved one with load)")
            self._setup_model()

    # ------------------------------------------------------------------ data
    def set_dataset(self, dataset: Any) -> None:
        super().set_dataset(dataset)
        if self.preferences is not None:
            self.set_preferences(self.preferences)  # the pairs must fit the new dataset

    def set_preferences(self, preferences: LabelledSegments) -> None:
        """Train on these labelled pairs of the dataset's segments (each inside one episode, at
        least one pair not a tie)."""
        starts = getattr(preferences, "starts", None)
        labels = getattr(preferences, "labels", None)
        length = getattr(preferences, "length", None)
        if starts is None or labels is None or length is None:
            raise TypeError(
                f"preferences: got {type(preferences).__name__}; expected a SegmentPreferences "
                "(starts [P, 2], length, labels [P])"
            )
        starts, labels = np.asarray(starts, dtype=np.int64), np.asarray(labels, dtype=np.float32)
        length = check_int("preferences.length", length, 1, MAX_SEGMENT_LENGTH)
        if starts.ndim != 2 or starts.shape[1] != 2 or labels.shape != (len(starts),) or len(starts) == 0:
            raise ValueError(
                f"preferences: starts {starts.shape}, labels {labels.shape}; need [P, 2] and [P], P >= 1"
            )
        if not np.isin(labels, (0.0, 0.5, 1.0)).all():
            raise ValueError("preferences.labels: must be 1 (first preferred), 0 (second) or 0.5 (tie)")
        if not (labels != 0.5).any():
            raise ValueError("preferences.labels: every pair is a tie; the triplet loss needs decided pairs")
        if self.dataset is not None:
            episode = np.cumsum(np.r_[0, (self.dataset.terminations | self.dataset.truncations)[:-1]])
            if starts.min() < 0 or starts.max() + length > len(self.dataset):
                raise ValueError(
                    f"preferences.starts: segments of {length} steps must lie in the dataset's "
                    f"{len(self.dataset)} rows; got starts in [{starts.min()}, {starts.max()}]"
                )
            if (episode[starts] != episode[starts + length - 1]).any():
                raise ValueError("preferences.starts: a segment crosses an episode's end")
        self.preferences = preferences
        self._pair_starts, self._pair_labels = starts, labels

    def on_learn_start(self) -> None:
        if self.preferences is None:
            raise ValueError("preferences: none; pass them to the constructor, set_preferences() or load()")
        length = int(self.preferences.length)
        if length > self.policy.max_segment_length:
            raise ValueError(
                f"preferences.length: got {length}; the encoder takes segments of at most "
                f"{self.policy.max_segment_length} steps (policy_kwargs max_segment_length)"
            )

    def sample_batch(self) -> SegmentPairBatch:
        """``batch_size`` labelled pairs drawn uniformly with replacement with the model's generator."""
        assert self.preferences is not None and self.dataset is not None
        idx = torch.randint(
            len(self._pair_labels), (self.config.batch_size,), generator=self._generator
        ).numpy()
        rows = self._pair_starts[idx][:, :, None] + np.arange(int(self.preferences.length))  # [B, 2, K]

        def t(arr: np.ndarray) -> Tensor:
            x = torch.as_tensor(arr[rows], device=self.device)
            return x.float() if x.is_floating_point() else x

        labels = torch.as_tensor(self._pair_labels[idx], device=self.device)
        return SegmentPairBatch(t(self.dataset.observations), t(self.dataset.actions), labels)

    # ------------------------------------------------------------------ model
    def _setup_model(self) -> None:
        super()._setup_model()  # seeds, builds the policy on the device
        cfg, pol = self.config, self.policy
        if self.dataset is not None:
            pol.set_observation_statistics(self.dataset.observations)
        groups = [
            {"params": pol.policy_parameters()},
            {"params": pol.encoder_parameters()},
            {"params": [pol.z_star]},
        ]
        self.optimizer = torch.optim.AdamW(groups, lr=self.lr_schedule(1.0), weight_decay=cfg.weight_decay)
        self.optimizer.register_step_pre_hook(self._set_group_rates)
        self._params = [*pol.policy_parameters(), *pol.encoder_parameters()]  # clipped; z* is not

    def warmup_factor(self) -> float:
        """The policy's learning-rate factor at the current gradient step: ``min((t + 1) / W, 1)``."""
        steps = self.config.warmup_steps
        return 1.0 if steps == 0 else min((self.num_timesteps + 1) / steps, 1.0)

    def _set_group_rates(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        policy, encoder, z_star = optimizer.param_groups
        policy["lr"] = encoder["lr"] * self.warmup_factor()
        z_star["lr"] = self.config.z_learning_rate

    # ------------------------------------------------------------------ loss
    def compute_loss(self, batch: SegmentPairBatch) -> tuple[Tensor, dict[str, float]]:
        cfg, pol = self.config, self.policy
        n_pairs, length = batch.labels.shape[0], batch.observations.shape[2]
        obs = batch.observations.reshape(2 * n_pairs, length, *batch.observations.shape[3:])
        actions = batch.actions.reshape(2 * n_pairs, length, *batch.actions.shape[3:])
        z = pol.encode(obs, actions)  # [2B, d], pair i's segments at rows 2i and 2i + 1

        # L_HIM: each segment's actions from its states and its own embedding (summed over the pair).
        steps = 2 * n_pairs * length
        u = pol.scale_actions(actions.reshape(steps, *actions.shape[2:]))
        dist = pol.distribution(obs.reshape(steps, *obs.shape[2:]), z.repeat_interleave(length, dim=0))
        if isinstance(dist, DiagGaussian):
            him_loss = 2.0 * (dist.mean - u).pow(2).mean()  # the paper's squared error on the mean
            std_loss = -DiagGaussian(dist.mean.detach(), dist.log_std).log_prob(u).mean()  # log-std only
        else:
            him_loss = -2.0 * dist.log_prob(u).mean()
            std_loss = torch.zeros((), device=u.device)

        norm_loss = 2.0 * (torch.linalg.vector_norm(z, dim=1) - 1.0).pow(2).mean()  # L_norm

        pairs = z.reshape(n_pairs, 2, -1)
        decided = batch.labels != 0.5
        first = (batch.labels == 1.0)[:, None]
        positive = torch.where(first, pairs[:, 0], pairs[:, 1])[decided]
        negative = torch.where(first, pairs[:, 1], pairs[:, 0])[decided]
        pref_loss = oppo_triplet_loss(pol.z_star.detach(), positive, negative, cfg.margin)  # trains psi
        z_star_loss = oppo_triplet_loss(pol.z_star, positive.detach(), negative.detach(), cfg.margin)  # z*

        loss = him_loss + std_loss + cfg.pref_coef * pref_loss + cfg.norm_coef * norm_loss + z_star_loss
        with torch.no_grad():
            gap = torch.linalg.vector_norm(pol.z_star - negative, dim=-1) - torch.linalg.vector_norm(
                pol.z_star - positive, dim=-1
            )
        return loss, {
            "him_loss": float(him_loss.detach()),
            "pref_loss": float(pref_loss.detach()),
            "z_star_loss": float(z_star_loss.detach()),
            "norm_loss": float(norm_loss.detach()),
            "std_loss": float(std_loss.detach()),
            "pref_accuracy": float((gap > 0).float().mean()) if gap.numel() else float("nan"),
            "z_norm_mean": float(torch.linalg.vector_norm(z.detach(), dim=1).mean()),
            "warmup_factor": self.warmup_factor(),
        }
