"""Small text policies for the CPU: score each admissible action against the observation.

``TextPolicy`` (alias for :class:`TextChoicePolicy`) reads the text envs' observation contract
(``tokens``, ``action_tokens``, ``action_mask``): an encoder turns the observation's word ids into
a vector, a bag of words turns each candidate action into another, and the logit of an action
is their bilinear score (the "choice" models of WebShop's baselines and GLAM). The value is an
MLP on the observation's vector. Masked actions get a very negative logit and are never chosen.

Encoders (``policy_kwargs={"encoder": ...}``): ``bow`` (mean of word embeddings; order-free),
``position`` (word plus position embeddings, flattened: right for fixed layouts such as a Sokoban
grid) and ``gru`` (a one-layer GRU over the words).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn

from rlsuite.validation import check_bool, check_choice, check_int

from .distributions import ActionHead, MultiCategorical
from .networks import HIDDEN_GAIN, MLP, POLICY_GAIN, VALUE_GAIN, orthogonal_init
from .observations import split_masks
from .policies import PolicyOutput
from .registry import register_features_extractor, register_policy

ENCODERS = ("bow", "position", "gru")


def _mean_embed(embed: nn.Embedding, ids: Tensor) -> Tensor:
    """Mean of the embeddings of the non-padding ids over the last dimension."""
    # embedding_bag sums without materialising [..., L, D]; padding is left out of the count too.
    flat = ids.reshape(-1, ids.shape[-1])
    bag = nn.functional.embedding_bag(flat, embed.weight, mode="mean", padding_idx=0)
    return bag.view(*ids.shape[:-1], -1)


def _token_box(space: spaces.Dict, key: str) -> spaces.Box:
    """``space[key]`` as the Box of token ids it must be (a clear error otherwise)."""
    box = space[key]
    if not isinstance(box, spaces.Box) or not box.shape:
        raise ValueError(f"observation_space[{key!r}]: got {box!r}; must be a Box of token ids")
    return box


class TextEncoder(nn.Module):
    """Word ids ``[B, L]`` -> ``[B, hidden]`` with its own embedding (``bow``, ``position`` or ``gru``)."""

    def __init__(self, vocab: int, length: int, kind: str, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.kind = kind
        self.embed = nn.Embedding(vocab, embed_dim, padding_idx=0)
        if kind == "position":
            self.pos = nn.Parameter(torch.zeros(length, embed_dim))
            self.net: nn.Module = MLP(length * embed_dim, [hidden], nn.Tanh)
        elif kind == "gru":
            self.gru = nn.GRU(embed_dim, hidden, batch_first=True)
            self.net = nn.Tanh()
        else:
            self.net = MLP(embed_dim, [hidden], nn.Tanh)

    def forward(self, ids: Tensor) -> Tensor:
        ids = ids.long()
        if self.kind == "position":
            return self.net((self.embed(ids) + self.pos).flatten(1))
        if self.kind == "gru":
            lengths = (ids != 0).sum(1).clamp_min(1)
            out, _ = self.gru(self.embed(ids))
            return self.net(out[torch.arange(ids.shape[0], device=ids.device), lengths - 1])
        return self.net(_mean_embed(self.embed, ids))


class TextChoicePolicy(nn.Module):
    """Actor-critic over admissible actions for ``Dict(tokens, action_tokens, action_mask, ...)``.

    Args:
        observation_space, action_space: the env's (``Discrete(n)`` actions, one per row of
            ``action_tokens``).
        encoder: ``bow``, ``position`` or ``gru``.
        embed_dim, hidden: sizes of the word embeddings and of the encodings.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        encoder: str = "bow",
        embed_dim: int = 64,
        hidden: int = 64,
        median_head: bool = False,
        ortho_init: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Dict) or not {"tokens", "action_tokens"} <= set(
            observation_space.spaces
        ):
            raise ValueError(
                "observation_space: TextPolicy needs a Dict with 'tokens' and 'action_tokens' "
                "(the text envs' contract)"
            )
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(
                f"action_space: TextPolicy needs Discrete actions, got {type(action_space).__name__}"
            )
        check_choice("encoder", encoder, ENCODERS)
        embed_dim, hidden = check_int("embed_dim", embed_dim, 1), check_int("hidden", hidden, 1)
        median_head, ortho_init = check_bool("median_head", median_head), check_bool("ortho_init", ortho_init)
        tokens, act_tokens = (
            _token_box(observation_space, "tokens"),
            _token_box(observation_space, "action_tokens"),
        )
        n_actions = int(action_space.n)
        if act_tokens.shape[0] != n_actions:
            raise ValueError(
                f"action_tokens: {act_tokens.shape[0]} rows for {n_actions} actions; "
                "expected one row per action"
            )
        self.observation_space, self.action_space = observation_space, action_space
        vocab = int(max(np.max(tokens.high), np.max(act_tokens.high))) + 1
        self.encoder_name = encoder
        length = int(tokens.shape[0])
        # Separate actor and critic encoders (as SB3's MlpPolicy): the critic's large early
        # errors must not reshape the features a behaviour-cloned actor relies on.
        self.pi_encoder = TextEncoder(vocab, length, encoder, embed_dim, hidden)
        self.vf_encoder = TextEncoder(vocab, length, encoder, embed_dim, hidden)
        self.act_net = MLP(embed_dim, [hidden], nn.Tanh)
        self.bilinear = nn.Linear(hidden, hidden, bias=False)
        # Word-matching features of each action against the observation, or its ``instruction``
        # entry when there is one (a cheap bi-attention, see match_features).
        self.match = nn.Linear(3, 1)
        self.slot_bias = nn.Parameter(torch.zeros(n_actions))  # a per-position prior (e.g. "query 0")
        self.value_net = MLP(hidden, [hidden], nn.Tanh, 1)
        self.action_head = ActionHead(action_space, 1)  # conversions and mask size only
        # The logits are the scores below: the head only converts actions and sizes masks.
        self.action_head.net = nn.Identity()  # type: ignore[assignment]
        self.median_net = MLP(hidden, [hidden], nn.Tanh, 1) if median_head else None
        if ortho_init:  # every layer sqrt(2), then the value head 1 and the policy's scores 0.01
            orthogonal_init(self, HIDDEN_GAIN)
            orthogonal_init(self.value_net[-1], VALUE_GAIN)
            orthogonal_init(self.bilinear, POLICY_GAIN)  # near-uniform initial policy (PPO detail)
        with torch.no_grad():  # start by preferring actions whose words the goal mentions
            self.match.weight.copy_(torch.tensor([[4.0, 0.0, 4.0]]))
            self.match.bias.zero_()

    # ------------------------------------------------------------------ encoders
    def encode(self, obs: dict[str, Tensor]) -> Tensor:
        """The actor's encoding of the observation ``[B, hidden]``."""
        return self.pi_encoder(obs["tokens"])

    def logits(self, obs: dict[str, Tensor], h: Tensor) -> Tensor:
        act_ids = obs["action_tokens"].long()  # [B, n, La]
        # Match the actions against the goal when the env states it apart (WebShop's instruction).
        obs_ids = obs["instruction"].long() if "instruction" in obs else obs["tokens"].long()
        a = self.act_net(_mean_embed(self.pi_encoder.embed, act_ids))  # [B, n, H]
        q = self.bilinear(h).unsqueeze(1)  # [B, 1, H]
        match = self.match(self.match_features(obs_ids, act_ids)).squeeze(-1)
        return (a * q).sum(-1) + match + self.slot_bias

    def match_features(self, obs_ids: Tensor, act_ids: Tensor) -> Tensor:
        """``[B, n, 3]`` per action: the share of its words found in the observation (precision),
        their mean best embedding similarity (soft precision), and the share of the observation's
        distinct words it contains (recall: a product title that names every requested attribute)."""
        a_valid = (act_ids != 0).to(torch.float32)  # [B, n, La]
        n_words = a_valid.sum(-1).clamp_min(1.0)
        present = torch.zeros(obs_ids.shape[0], self.pi_encoder.embed.num_embeddings, device=obs_ids.device)
        present.scatter_(1, obs_ids, 1.0)
        present[:, 0] = 0.0
        exact = (torch.gather(present, 1, act_ids.flatten(1)).view_as(a_valid) * a_valid).sum(-1) / n_words
        # Cosine similarities between words are one ``V x V`` table; each action word keeps its closest
        # observation word, found without a graph, and the gradient flows only through that entry.
        unit = nn.functional.normalize(self.pi_encoder.embed.weight, dim=-1)
        vocab = unit.shape[0]
        with torch.no_grad():
            sim = torch.bmm(unit[act_ids].flatten(1, 2), unit[obs_ids].transpose(1, 2))  # [B, n * La, Lo]
            best = sim.masked_fill_((obs_ids == 0)[:, None, :], -2.0).argmax(-1)  # [B, n * La]
            pair = act_ids.flatten(1) * vocab + torch.gather(obs_ids, 1, best)
        sim = (unit @ unit.T).flatten()[pair].view_as(a_valid)
        sim = torch.where((obs_ids != 0).any(-1)[:, None, None], sim, torch.full_like(sim, -1.0))
        soft = (sim * a_valid).sum(-1) / n_words
        # Recall counts each distinct action word once: sort the words, keep the first of each run.
        words = act_ids.sort(-1).values
        first = torch.ones_like(words, dtype=torch.bool)
        first[..., 1:] = words[..., 1:] != words[..., :-1]
        distinct = (first & (words != 0)).to(torch.float32)
        found = (torch.gather(present, 1, words.flatten(1)).view_as(distinct) * distinct).sum(-1)
        recall = found / present.sum(-1, keepdim=True).clamp_min(1.0)
        return torch.stack([exact, soft, recall], -1)

    def _dist(self, obs: dict[str, Tensor], masks: Tensor | None) -> MultiCategorical:
        return MultiCategorical(self.logits(obs, self.encode(obs)), self.action_head.nvec, masks)

    def distribution(self, obs: dict[str, Tensor], action_masks: Tensor | None = None) -> MultiCategorical:
        """The action distribution over the admissible actions (``.logits``: masked logits)."""
        return self._dist(obs, action_masks)

    def _value_latent(self, obs: dict[str, Tensor]) -> Tensor:
        return self.vf_encoder(obs["tokens"])

    # ------------------------------------------------------------------ the ActorCriticPolicy interface
    def forward(
        self,
        obs: dict[str, Tensor],
        deterministic: bool = False,
        action_masks: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        dist = self._dist(obs, action_masks)
        actions = dist.mode() if deterministic else dist.sample(generator)
        return actions, self.predict_values(obs), dist.log_prob(actions)

    def evaluate_actions(
        self, obs: dict[str, Tensor], actions: Tensor, action_masks: Tensor | None = None
    ) -> PolicyOutput:
        dist = self._dist(obs, action_masks)
        hv = self._value_latent(obs)
        median = self.median_net(hv).squeeze(-1) if self.median_net is not None else None
        return PolicyOutput(self.value_net(hv).squeeze(-1), dist.log_prob(actions), dist.entropy(), median)

    def predict_values(self, obs: dict[str, Tensor]) -> Tensor:
        return self.value_net(self._value_latent(obs)).squeeze(-1)

    def act(
        self,
        obs: dict[str, Tensor],
        deterministic: bool = True,
        action_masks: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        dist = self._dist(obs, action_masks)
        return dist.mode() if deterministic else dist.sample(generator)


register_policy("TextPolicy", TextChoicePolicy)
register_policy("TextChoicePolicy", TextChoicePolicy)


class TextFeaturesExtractor(nn.Module):
    """A features extractor for ``MultiInputPolicy`` on the text envs: the observation's words
    (``bow``, ``position`` or ``gru``) concatenated with a bag-of-words vector per action slot,
    so the standard MLP heads (and masks) apply. :class:`TextChoicePolicy` scores actions
    directly and generalizes better across action orders; this is the drop-in alternative.

    ``PPO("MultiInputPolicy", env, policy_kwargs={"features_extractor_class": TextFeaturesExtractor,
    "features_extractor_kwargs": {"encoder": "gru"}})``
    """

    def __init__(
        self, observation_space: spaces.Dict, encoder: str = "bow", embed_dim: int = 32, hidden: int = 64
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Dict) or "tokens" not in observation_space.spaces:
            raise ValueError("observation_space: TextFeaturesExtractor needs a Dict with 'tokens'")
        check_choice("encoder", encoder, ENCODERS)
        embed_dim, hidden = check_int("embed_dim", embed_dim, 1), check_int("hidden", hidden, 1)
        tokens = _token_box(observation_space, "tokens")
        highs = [np.max(tokens.high)]
        act = (
            _token_box(observation_space, "action_tokens")
            if "action_tokens" in observation_space.spaces
            else None
        )
        if act is not None:
            highs.append(np.max(act.high))
        vocab = int(max(highs)) + 1
        self.encoder = TextEncoder(vocab, int(tokens.shape[0]), encoder, embed_dim, hidden)
        self.n_slots = int(act.shape[0]) if act is not None else 0
        self.features_dim = hidden + self.n_slots * embed_dim

    def forward(self, obs: dict[str, Tensor]) -> Tensor:
        parts = [self.encoder(obs["tokens"])]
        if self.n_slots:
            parts.append(_mean_embed(self.encoder.embed, obs["action_tokens"].long()).flatten(1))
        return torch.cat(parts, 1)


register_features_extractor("TextFeaturesExtractor", TextFeaturesExtractor)


def behavior_cloning(
    model: Any,
    demonstrations: dict[str, Any],
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Warm-start ``model``'s policy (any on-policy agent) on expert transitions (from
    :func:`rlsuite.baselines.collect_demonstrations`): minimise the cross-entropy of the expert's
    actions under the policy, with the invalid-action masks. Observations go through the model's
    normalizer, if it has one (its statistics unchanged). Returns the per-epoch ``loss`` and
    ``accuracy`` (deterministic action = expert action)."""
    obs_np = demonstrations["observations"]
    actions = np.array(demonstrations["actions"])  # a copy: torch shares (and warns on) read-only arrays
    n = len(actions)
    if n == 0:
        raise ValueError("demonstrations: empty")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs, batch_size: got {epochs}, {batch_size}; both must be >= 1")
    policy = model.policy
    opt = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    obs_all = model.obs_to_tensor(obs_np)
    act_all = policy.action_head.from_env(torch.as_tensor(actions, device=model.device))
    gen = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    policy.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        losses, hits = [], 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size].to(model.device)
            batch = {k: v[idx] for k, v in obs_all.items()} if isinstance(obs_all, dict) else obs_all[idx]
            batch, masks = split_masks(batch)
            batch = model.normalize_obs(batch)  # statistics unchanged
            out = policy.evaluate_actions(batch, act_all[idx], masks)
            loss = -out.log_prob.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            with torch.no_grad():
                pred = policy.act(batch, True, masks)
                hits += int((pred == act_all[idx]).all(-1).sum())
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(hits / n)
    return history
