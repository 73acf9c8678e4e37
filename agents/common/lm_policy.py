"""A causal language-model policy for the text environments (extra ``llm``).

The text envs give word ids of their own vocabulary (``tokens``, ``action_tokens``,
``action_mask``). :class:`CausalLMPolicy` turns them back into text with that vocabulary, writes
the prompt ``"{observation}\\naction:"`` and reads the actions through a causal LM:

(a) scoring (what the agents use): action ``i`` of observation ``s`` gets the summed token
    log-probability of its tokens, closed by the end-of-sequence token, after the prompt,

        score_i = sum_t log p_LM(a_i,t | prompt(s), a_i,<t)        (t over the action's tokens + eos)
        pi(a_i | s) = softmax_i(score_i) over the admissible actions,

    so every policy-gradient and preference loss applies unchanged. Each observation's prompt goes
    through the LM once, its admissible actions packed behind it with a tree attention mask (each
    action sees the prompt and itself, at the positions it would have right after the prompt), all
    observations of a batch in one forward (split in chunks only above ``max_tokens_per_forward``
    tokens); the vocabulary head is applied only at the positions that predict action tokens.
(b) generation: :meth:`CausalLMPolicy.generate` writes an action string for a prompt (greedy, or
    sampled from a ``torch.Generator``, at most ``max_action_tokens`` tokens). The string goes to
    the env through :class:`rlsuite.envs.text.TextActionWrapper`, which parses it into an
    admissible action (or marks the turn invalid).

The value is a linear head on the LM's last hidden state at the prompt's last token (the position
that predicts the action; the same in both modes). Group-relative agents ignore it.

The LM comes from a config (``lm_config``: a GPT-2- or Llama-style decoder, no downloaded
weights) with a word-level tokenizer trained locally on the env vocabulary
(:func:`train_text_tokenizer`), or from a local directory (``pretrained_path``: any causal LM and
fast tokenizer saved with ``save_pretrained``, loaded with ``local_files_only=True``). Model files
stay safe: the policy's kwargs are JSON (a tokenizer passed as ``tokenizer_json`` is its JSON
string), its tensors a state dict, and the state dict carries a fingerprint of the tokenizer's
vocabulary, so a file never loads into a policy whose tokenizer numbers words differently.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn

from rlsuite.validation import check_bool, check_choice, check_int, check_real

from .distributions import ActionHead, MultiCategorical
from .networks import VALUE_GAIN, orthogonal_init
from .policies import PolicyOutput
from .registry import register_policy

PROMPT_TEMPLATE = "{observation}\naction:"
"""How an observation's text becomes the LM's prompt (the action follows after a space)."""
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
"""Special tokens of the locally trained tokenizer (ids 0-3)."""
WORD_PATTERN = r"[a-z0-9]+(?:\.[0-9]+)?|[^\sa-z0-9]"
"""The text envs' word pattern (``rlsuite.envs.text.vocab.tokenize``), reused by the tokenizer."""
MODEL_TYPES = ("gpt2", "llama")
DEFAULT_MODEL_TYPE = "llama"
"""Llama-style by default: rotary positions are relative, so a flattened grid's neighbourhoods
(Sokoban) are learned in far fewer steps than with GPT-2's absolute position embeddings."""
DEFAULT_LM_CONFIGS: dict[str, dict[str, Any]] = {
    "gpt2": {
        "n_layer": 2,
        "n_embd": 128,
        "n_head": 4,
        "activation_function": "gelu_pytorch_tanh",  # fused: gelu_new costs as much as the matmuls
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
    },
    "llama": {
        "num_hidden_layers": 2,
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
    },
}
"""Sizes of the config-built LMs per ``model_type`` (``lm_config`` entries override them)."""
_POSITIONS = {"gpt2": "n_positions", "llama": "max_position_embeddings"}
_SET_BY_POLICY = ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id")
MAX_TOKENIZER_JSON_CHARS = 8 * 2**20
"""Longest ``tokenizer_json`` (it is saved in the model file's JSON config)."""
MAX_LENGTH = 32_768
"""Longest ``max_length`` (tokens of prompt + action)."""


def _llm() -> tuple[Any, Any]:
    """``(transformers, tokenizers)``, imported on first use; a clear error without the extra."""
    try:
        import tokenizers
        import transformers
    except ImportError as err:
        raise ImportError(
            "CausalLMPolicy needs the 'llm' extra (transformers, tokenizers): pip install 'rlsuite[llm]'"
        ) from err
    return transformers, tokenizers


def words_to_text(words: Iterable[str]) -> str:
    """Env words as text: single spaces, none around the inside of brackets nor before ``[``
    (``["search", "[", "red", "shoes", "]"]`` -> ``"search[red shoes]"``, the form of the envs'
    admissible action strings)."""
    text = " ".join(words)
    return text.replace(" [ ", "[").replace(" [", "[").replace("[ ", "[").replace(" ]", "]")


def train_text_tokenizer(texts: Iterable[str]) -> str:
    """A word-level tokenizer trained on ``texts`` (env observations, instructions, actions),
    returned as its JSON string (pass it as ``policy_kwargs["tokenizer_json"]``). It lower-cases
    and splits words like the text envs (:data:`WORD_PATTERN`); ids 0-3 are :data:`SPECIAL_TOKENS`,
    then the words by decreasing frequency. Deterministic for the same texts."""
    _, tokenizers = _llm()
    from tokenizers import Regex, models, normalizers, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")]
    )
    trainer = trainers.WordLevelTrainer(
        vocab_size=10**7, min_frequency=1, special_tokens=list(SPECIAL_TOKENS)
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok.to_str()


@lru_cache(maxsize=4)
def _webshop_words(n_products: int, n_goals: int, seed: int) -> tuple[str, ...]:
    from rlsuite.envs.text.webshop import generate_catalog

    return tuple(generate_catalog(n_products, n_goals, seed).vocab.words)


def env_vocabulary(observation_space: spaces.Dict) -> list[str]:
    """The word list of a built-in text env recognised from its observation space: Sokoban's
    (a ``grid`` entry) or the default WebShop catalog's (an ``instruction`` entry), each checked
    against the size of the token boxes. Other envs: pass ``vocabulary=env.unwrapped.vocab.words``."""
    from rlsuite.envs.text.sokoban import VOCAB

    size = int(np.max(observation_space["tokens"].high)) + 1  # type: ignore[attr-defined]
    keys = set(observation_space.spaces)
    candidates: list[tuple[str, Sequence[str]]] = []
    if "grid" in keys:
        candidates.append(("Sokoban", VOCAB.words))
    if "instruction" in keys:
        candidates.append(("WebShop (default catalog)", _webshop_words(1000, 3000, 0)))
    for _, words in candidates:
        if len(words) == size:
            return list(words)
    tried = ", ".join(f"{name}: {len(words)} words" for name, words in candidates) or "none matched"
    raise ValueError(
        f"vocabulary: not given, and the observation space's {size}-word vocabulary is not a built-in "
        f"env's ({tried}); pass policy_kwargs={{'vocabulary': env.unwrapped.vocab.words}}"
    )


def _token_ids(value: Any) -> np.ndarray:
    """A tensor or array of word ids as int64 numpy (ids arrive as float32 from rollout buffers)."""
    arr = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
    return arr.astype(np.int64)


class _Tokens:
    """The tokenizer as the policy uses it: a ``tokenizers.Tokenizer`` and its start, end and
    padding ids (the start token opens every sequence, so the first prompt token is predicted too)."""

    def __init__(self, tokenizer: Any, start: int, eos: int, pad: int) -> None:
        self.tokenizer, self.start, self.eos, self.pad = tokenizer, start, eos, pad

    @classmethod
    def from_json(cls, text: str) -> _Tokens:
        _, tokenizers = _llm()
        try:
            tok = tokenizers.Tokenizer.from_str(text)
        except Exception as err:  # the Rust side raises its own exception type
            raise ValueError(f"tokenizer_json: not a tokenizer's JSON ({err})") from err
        ids = {name: tok.token_to_id(name) for name in (BOS, EOS, PAD)}
        missing = [name for name, i in ids.items() if i is None]
        if missing:
            raise ValueError(
                f"tokenizer_json: no special token(s) {missing}; a tokenizer for the policy needs "
                f"{list(SPECIAL_TOKENS)} (train one with train_text_tokenizer)"
            )
        return cls(tok, ids[BOS], ids[EOS], ids[PAD])

    @classmethod
    def from_pretrained(cls, path: str) -> _Tokens:
        transformers, _ = _llm()
        tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is None:
            raise ValueError(
                f"pretrained_path: {path!r} has a slow tokenizer ({type(tok).__name__}); the policy needs "
                "a fast one (a tokenizer.json)"
            )
        if tok.eos_token_id is None:
            raise ValueError(
                f"pretrained_path: the tokenizer in {path!r} has no eos token; "
                "the policy ends each action with it"
            )
        eos = int(tok.eos_token_id)
        start = int(tok.bos_token_id) if tok.bos_token_id is not None else eos
        pad = int(tok.pad_token_id) if tok.pad_token_id is not None else eos
        return cls(backend, start, eos, pad)

    @property
    def size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def fingerprint(self) -> list[int]:
        """``[vocabulary size, 56-bit hash of (token, id) pairs and the special ids]``."""
        vocab = sorted(self.tokenizer.get_vocab(with_added_tokens=True).items())
        blob = json.dumps([vocab, self.start, self.eos, self.pad], ensure_ascii=False).encode()
        return [self.size, int.from_bytes(hashlib.sha256(blob).digest()[:7], "big")]

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


def _build_lm(lm_config: Mapping[str, Any], tokens: _Tokens, max_length: int) -> nn.Module:
    """A randomly initialised causal LM from ``lm_config`` (``model_type`` plus sizes)."""
    transformers, _ = _llm()
    cfg = dict(lm_config)
    model_type = check_choice(
        "lm_config['model_type']", cfg.pop("model_type", DEFAULT_MODEL_TYPE), MODEL_TYPES
    )
    config_class = transformers.AutoConfig.for_model(model_type).__class__
    import inspect

    allowed = set(inspect.signature(config_class.__init__).parameters) - {"self", *_SET_BY_POLICY}
    for key in cfg:
        if key not in allowed:
            raise ValueError(
                f"lm_config[{key!r}]: not a {config_class.__name__} field users set; "
                f"allowed: {sorted(allowed)}"
            )
    sizes = {**DEFAULT_LM_CONFIGS[model_type], _POSITIONS[model_type]: max_length, **cfg}
    config = transformers.AutoConfig.for_model(
        model_type,
        vocab_size=tokens.size,
        bos_token_id=tokens.start,
        eos_token_id=tokens.eos,
        pad_token_id=tokens.pad,
        **sizes,
    )
    if int(getattr(config, _POSITIONS[model_type])) < max_length:
        raise ValueError(
            f"lm_config[{_POSITIONS[model_type]!r}]: got {getattr(config, _POSITIONS[model_type])}; "
            f"must be >= max_length={max_length}"
        )
    return transformers.AutoModelForCausalLM.from_config(config)


def _load_lm(path: str, max_length: int) -> nn.Module:
    """A causal LM from a local directory (on the meta device: its architecture only)."""
    transformers, _ = _llm()
    if torch.empty(0).device.type == "meta":  # a shape check before loading a saved policy
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        model = transformers.AutoModelForCausalLM.from_config(config)
    else:  # safetensors weights only and no code from the folder: loading runs nothing
        model = transformers.AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, use_safetensors=True, trust_remote_code=False
        )
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and int(limit) < max_length:
        raise ValueError(f"max_length: got {max_length}; the model in {path!r} has {limit} positions at most")
    return model


class CausalLMPolicy(nn.Module):
    """Actor-critic over admissible actions with a causal LM (see the module docstring).

    Built by the agents as ``CausalLMPolicy(observation_space, action_space, **policy_kwargs)``
    (``PPO("CausalLMPolicy", "Sokoban-v0")``), with :class:`~.text_policies.TextChoicePolicy`'s
    interface: ``forward``, ``evaluate_actions``, ``act``, ``predict_values``, ``action_head``.

    Args:
        observation_space, action_space: the text env's (``Dict`` with ``tokens`` and
            ``action_tokens``; ``Discrete(n)`` actions, one per row of ``action_tokens``).
        vocabulary: the env's word list (id -> word; ``env.unwrapped.vocab.words``). Default: the
            built-in env's, recognised from the space (:func:`env_vocabulary`).
        lm_config: ``model_type`` (``"llama"``, the default, or ``"gpt2"``) and sizes of the
            config-built LM, over :data:`DEFAULT_LM_CONFIGS` (e.g. ``{"num_hidden_layers": 4,
            "hidden_size": 256}``, or ``{"model_type": "gpt2", "n_layer": 4}``).
        tokenizer_json: a tokenizer's JSON (:func:`train_text_tokenizer`); default: one trained
            on ``vocabulary`` and the prompt's words.
        pretrained_path: a local directory with a causal LM and its fast tokenizer
            (``save_pretrained``); excludes ``lm_config`` and ``tokenizer_json``. A saved policy
            loads its weights from the model file and the architecture from this path again.
        max_length: most tokens of one sequence (start token, prompt, action, eos).
        max_action_tokens: most tokens of an action (longer ones are cut; the bound of
            :meth:`generate`); the prompt keeps its first ``max_length - max_action_tokens - 2``.
        max_tokens_per_forward: the batch's sequences go through the LM in chunks of at most this
            many (padded) tokens, which bounds memory.
        value_trunk_grad: let the value loss train the LM too (default: the value head reads the
            LM's features detached, so the critic's early errors do not reshape a fine-tuned actor).
        median_head: add BPO's median head (a second linear head beside the value head).
    """

    #: The causal LM (a ``transformers`` ``*ForCausalLM``; typed loosely: the extra is optional).
    lm: Any
    #: ``[vocabulary size, hash]`` of the tokenizer (see :meth:`_load_from_state_dict`).
    tokenizer_fingerprint: Tensor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        vocabulary: Sequence[str] | None = None,
        lm_config: Mapping[str, Any] | None = None,
        tokenizer_json: str | None = None,
        pretrained_path: str | os.PathLike[str] | None = None,
        max_length: int = 256,
        max_action_tokens: int = 48,
        max_tokens_per_forward: int = 32_768,
        value_trunk_grad: bool = False,
        median_head: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Dict) or not {"tokens", "action_tokens"} <= set(
            observation_space.spaces
        ):
            raise ValueError(
                "observation_space: CausalLMPolicy needs a Dict with 'tokens' and 'action_tokens' "
                "(the text envs' contract)"
            )
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(
                f"action_space: CausalLMPolicy needs Discrete actions, got {type(action_space).__name__}"
            )
        n_actions = int(action_space.n)
        act_box = observation_space["action_tokens"]
        if not isinstance(act_box, spaces.Box) or len(act_box.shape) != 2 or act_box.shape[0] != n_actions:
            raise ValueError(
                f"observation_space['action_tokens']: got {act_box!r}; must be a Box [{n_actions}, length] "
                "(one row of word ids per action)"
            )
        self.max_length = check_int("max_length", max_length, 8, MAX_LENGTH)
        self.max_action_tokens = check_int("max_action_tokens", max_action_tokens, 1, self.max_length - 4)
        self.max_tokens_per_forward = check_int(
            "max_tokens_per_forward", max_tokens_per_forward, self.max_length
        )
        self.value_trunk_grad = check_bool("value_trunk_grad", value_trunk_grad)
        median_head = check_bool("median_head", median_head)
        self.words = self._check_vocabulary(observation_space, vocabulary)
        if pretrained_path is not None:
            if lm_config is not None or tokenizer_json is not None:
                raise ValueError(
                    "pretrained_path: given together with lm_config or tokenizer_json; a pretrained LM "
                    "brings its own config and tokenizer"
                )
            path = os.fspath(pretrained_path)
            if not Path(path).is_dir():
                raise ValueError(f"pretrained_path: {path!r} is not a directory (a save_pretrained folder)")
            self.tokens = _Tokens.from_pretrained(path)
            self.lm = _load_lm(path, self.max_length)
        else:
            if lm_config is not None and not (
                isinstance(lm_config, Mapping) and all(isinstance(k, str) for k in lm_config)
            ):
                raise ValueError(f"lm_config: got {lm_config!r}; must be a dict of config fields")
            if tokenizer_json is None:
                corpus = [*self.words, PROMPT_TEMPLATE.format(observation="")]
                tokenizer_json = train_text_tokenizer(corpus)
            elif not isinstance(tokenizer_json, str) or len(tokenizer_json) > MAX_TOKENIZER_JSON_CHARS:
                raise ValueError(
                    "tokenizer_json: must be a tokenizer's JSON string of at most "
                    f"{MAX_TOKENIZER_JSON_CHARS} characters; got {type(tokenizer_json).__name__}"
                )
            self.tokens = _Tokens.from_json(tokenizer_json)
            self.lm = _build_lm(lm_config or {}, self.tokens, self.max_length)
        for m in self.lm.modules():  # on-policy ratios need the same log-probs in train and eval mode
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        self.observation_space, self.action_space = observation_space, action_space
        hidden = int(self.lm.get_output_embeddings().in_features)
        self.value_head = nn.Linear(hidden, 1)
        self.median_head = nn.Linear(hidden, 1) if median_head else None
        orthogonal_init(self.value_head, VALUE_GAIN)
        self.action_head = ActionHead(action_space, 1)  # conversions and mask size only
        self.action_head.net = nn.Identity()  # type: ignore[assignment]
        self.register_buffer(
            "tokenizer_fingerprint", torch.tensor(self.tokens.fingerprint(), dtype=torch.int64)
        )

    @staticmethod
    def _check_vocabulary(observation_space: spaces.Dict, vocabulary: Sequence[str] | None) -> np.ndarray:
        if vocabulary is None:
            words = env_vocabulary(observation_space)
        elif isinstance(vocabulary, str) or not all(isinstance(w, str) for w in vocabulary):
            raise ValueError(
                "vocabulary: must be a list of words (id -> word, e.g. env.unwrapped.vocab.words)"
            )
        else:
            words = list(vocabulary)
        for key in ("tokens", "action_tokens"):
            high = int(np.max(observation_space[key].high))  # type: ignore[attr-defined]
            if high >= len(words):
                raise ValueError(
                    f"vocabulary: {len(words)} words, but observation_space[{key!r}] has ids up to {high}"
                )
        return np.array(words, dtype=object)

    # ------------------------------------------------------------------ text
    @property
    def device(self) -> torch.device:
        return self.value_head.weight.device

    def observation_text(self, tokens: Any) -> list[str]:
        """The text of observations' word ids ``[B, L]`` (or one ``[L]``), padding dropped."""
        ids = _token_ids(tokens)
        ids = ids[None] if ids.ndim == 1 else ids
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.words)):
            raise ValueError(f"tokens: ids must be in [0, {len(self.words)}); got [{ids.min()}, {ids.max()}]")
        return [words_to_text(self.words[row[row != 0]]) for row in ids]

    def prompt(self, observation_text: str) -> str:
        """The LM's prompt for an observation's text (:data:`PROMPT_TEMPLATE`)."""
        return PROMPT_TEMPLATE.format(observation=observation_text)

    def _prompt_ids(self, texts: list[str]) -> list[list[int]]:
        keep = self.max_length - self.max_action_tokens - 2
        return [
            [self.tokens.start, *ids[:keep]] for ids in self.tokens.encode([self.prompt(t) for t in texts])
        ]

    # ------------------------------------------------------------------ scoring
    def _tensor(self, array: np.ndarray) -> Tensor:
        return torch.from_numpy(array).to(self.device)

    def _run(self, seqs: list[list[int]]) -> Tensor:
        """Last hidden states ``[N, L, H]`` of right-padded sequences."""
        n, length = len(seqs), max(len(s) for s in seqs)
        ids = np.full((n, length), self.tokens.pad, dtype=np.int64)
        attn = np.zeros((n, length), dtype=np.int64)
        for k, s in enumerate(seqs):
            ids[k, : len(s)], attn[k, : len(s)] = s, 1
        out = self.lm.base_model(input_ids=self._tensor(ids), attention_mask=self._tensor(attn))
        return out.last_hidden_state

    def _run_packed(self, prompts: list[list[int]], blocks: list[list[list[int]]]) -> Tensor:
        """Last hidden states ``[N, L, H]`` of packed sequences ``prompt + action_1 + action_2 + ...``
        where each action sees the prompt and its own earlier tokens only, at the positions it
        would have right after the prompt: the same states as one ``prompt + action_k`` sequence
        per action, with the prompt computed once (a tree attention mask and position ids)."""
        lengths = [len(p) + sum(len(a) for a in bl) for p, bl in zip(prompts, blocks, strict=True)]
        n, length = len(prompts), max(lengths)
        ids = np.full((n, length), self.tokens.pad, dtype=np.int64)
        pos = np.zeros((n, length), dtype=np.int64)
        group = np.full((n, length), -1, dtype=np.int64)  # -1: prompt; k: action k; -2: padding
        for r, (p, bl) in enumerate(zip(prompts, blocks, strict=True)):
            ids[r, : len(p)], pos[r, : len(p)] = p, np.arange(len(p))
            at = len(p)
            for k, a in enumerate(bl):
                ids[r, at : at + len(a)] = a
                pos[r, at : at + len(a)] = len(p) + np.arange(len(a))
                group[r, at : at + len(a)] = k
                at += len(a)
            group[r, at:] = -2
        g = self._tensor(group)
        causal = torch.ones(length, length, dtype=torch.bool, device=self.device).tril()
        same = (g[:, :, None] == g[:, None, :]) | (g[:, None, :] == -1)  # [N, query, key]
        allowed = (same & causal) | torch.eye(length, dtype=torch.bool, device=self.device)  # pads see self
        dtype = self.value_head.weight.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype, device=self.device)
        mask = mask.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]  # additive, any attention kernel
        out = self.lm.base_model(
            input_ids=self._tensor(ids), attention_mask=mask, position_ids=self._tensor(pos)
        )
        return out.last_hidden_state

    def _chunks(self, lengths: list[int]) -> list[slice]:
        """Consecutive ranges whose padded size stays within ``max_tokens_per_forward``."""
        out, start, longest = [], 0, 0
        for k, n in enumerate(lengths):
            if k > start and (k - start + 1) * max(longest, n) > self.max_tokens_per_forward:
                out.append(slice(start, k))
                start, longest = k, 0
            longest = max(longest, n)
        out.append(slice(start, len(lengths)))
        return out

    def score_actions(self, obs: dict[str, Tensor], allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(scores [B, n], latent [B, H])``: the summed token log-probability of each allowed
        action (``allowed [B, n]`` bool, default all; others 0) and the LM's hidden state at each
        prompt's last token. Each observation's prompt goes through the LM once, its allowed
        actions packed after it (:meth:`_run_packed`)."""
        tokens = _token_ids(obs["tokens"])
        act = _token_ids(obs["action_tokens"])
        b, n = act.shape[0], act.shape[1]
        ok = np.ones((b, n), bool) if allowed is None else allowed.detach().cpu().numpy().astype(bool)
        if ok.shape != (b, n):
            raise ValueError(f"action_masks: shape {ok.shape}; expected {(b, n)}")
        empty = np.flatnonzero(~ok.any(1))
        if empty.size:
            raise ValueError(f"action_masks: observation(s) {empty.tolist()} have no admissible action")
        pair_b, pair_i = np.nonzero(ok)  # ordered by observation
        prompts = self._prompt_ids(self.observation_text(tokens))
        texts = self.observation_text(act[pair_b, pair_i])
        unique = sorted(set(texts))
        encoded = dict(zip(unique, self.tokens.encode([" " + t for t in unique]), strict=True))
        actions = [[*encoded[t][: self.max_action_tokens], self.tokens.eos] for t in texts]
        # Observation r owns the pairs bounds[r]:bounds[r + 1].
        bounds = np.r_[0, np.cumsum(np.bincount(pair_b, minlength=b))]
        blocks = [actions[bounds[r] : bounds[r + 1]] for r in range(b)]
        head = self.lm.get_output_embeddings()
        scores, latents = [], []
        lengths = [len(p) + sum(len(a) for a in bl) for p, bl in zip(prompts, blocks, strict=True)]
        for chunk in self._chunks(lengths):
            hidden = self._run_packed(prompts[chunk], blocks[chunk])
            rows, pos, targets, owner = [], [], [], []
            for r in range(chunk.start, chunk.stop):
                at = len(prompts[r])
                for a in blocks[r]:
                    # Token t of an action is predicted at the previous token; the first at the prompt's end.
                    rows.append(np.full(len(a), r - chunk.start))
                    pos.append(np.r_[len(prompts[r]) - 1, at + np.arange(len(a) - 1)])
                    targets.append(a)
                    owner.append(len(a))
                    at += len(a)
            sizes = np.array(owner)
            pair = np.repeat(np.arange(len(sizes)), sizes)
            h = hidden[self._tensor(np.concatenate(rows)), self._tensor(np.concatenate(pos))]
            # The vocabulary head only where a position predicts an action token.
            logp = torch.log_softmax(head(h).float(), -1)
            token_lp = logp.gather(1, self._tensor(np.concatenate(targets))[:, None]).squeeze(1)
            scores.append(
                torch.zeros(len(sizes), device=self.device).index_add(0, self._tensor(pair), token_lp)
            )
            last = np.array([len(prompts[r]) - 1 for r in range(chunk.start, chunk.stop)])
            latents.append(hidden[torch.arange(len(last), device=self.device), self._tensor(last)])
        out = torch.zeros(b, n, device=self.device).index_put(
            (self._tensor(pair_b), self._tensor(pair_i)), torch.cat(scores)
        )
        return out, torch.cat(latents).float()

    def sequence_log_prob(self, obs: dict[str, Tensor], actions: Tensor) -> Tensor:
        """``[B]``: ``log p_LM(action text + eos | prompt)`` of the given actions ``[B, 1]`` (not
        normalised over the admissible actions): the token-level SFT objective that trains
        :meth:`generate`."""
        chosen = torch.zeros(actions.shape[0], self.action_head.mask_dim, dtype=torch.bool)
        chosen[torch.arange(actions.shape[0]), actions.reshape(-1).long().cpu()] = True
        scores, _ = self.score_actions(obs, chosen)
        return scores.gather(1, actions.reshape(-1, 1).long().to(self.device)).squeeze(1)

    def _dist(self, obs: dict[str, Tensor], masks: Tensor | None) -> tuple[MultiCategorical, Tensor]:
        scores, latent = self.score_actions(obs, masks)
        return MultiCategorical(scores, self.action_head.nvec, masks), latent

    def distribution(self, obs: dict[str, Tensor], action_masks: Tensor | None = None) -> MultiCategorical:
        """The action distribution over the admissible actions (``.logits``: masked scores)."""
        return self._dist(obs, action_masks)[0]

    def _value(self, latent: Tensor, head: nn.Module) -> Tensor:
        return head(latent if self.value_trunk_grad else latent.detach()).squeeze(-1)

    # ------------------------------------------------------------------ the ActorCriticPolicy interface
    def forward(
        self,
        obs: dict[str, Tensor],
        deterministic: bool = False,
        action_masks: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        dist, latent = self._dist(obs, action_masks)
        actions = dist.mode() if deterministic else dist.sample(generator)
        return actions, self._value(latent, self.value_head), dist.log_prob(actions)

    def evaluate_actions(
        self, obs: dict[str, Tensor], actions: Tensor, action_masks: Tensor | None = None
    ) -> PolicyOutput:
        dist, latent = self._dist(obs, action_masks)
        median = self._value(latent, self.median_head) if self.median_head is not None else None
        return PolicyOutput(
            self._value(latent, self.value_head), dist.log_prob(actions), dist.entropy(), median
        )

    def predict_values(self, obs: dict[str, Tensor]) -> Tensor:
        prompts = self._prompt_ids(self.observation_text(obs["tokens"]))
        latents = []
        for chunk in self._chunks([len(p) for p in prompts]):
            part = prompts[chunk.start : chunk.stop]
            hidden = self._run(part)
            last = torch.tensor([len(p) - 1 for p in part], device=self.device)
            latents.append(hidden[torch.arange(len(part), device=self.device), last])
        return self._value(torch.cat(latents).float(), self.value_head)

    def act(
        self,
        obs: dict[str, Tensor],
        deterministic: bool = True,
        action_masks: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        dist, _ = self._dist(obs, action_masks)
        return dist.mode() if deterministic else dist.sample(generator)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        observation_texts: str | Sequence[str],
        deterministic: bool = True,
        generator: torch.Generator | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 1.0,
    ) -> list[str]:
        """An action string per observation text (:meth:`observation_text`, or an env's
        ``info["text"]``), written by the LM after the same prompt as in scoring: greedy, or
        sampled with ``generator`` at ``temperature``; it stops at the end token or after
        ``max_new_tokens`` (default ``max_action_tokens``). Step an env with it through
        :class:`rlsuite.envs.text.TextActionWrapper`, which maps it to an admissible action."""
        texts = [observation_texts] if isinstance(observation_texts, str) else list(observation_texts)
        limit = check_int(
            "max_new_tokens",
            self.max_action_tokens if max_new_tokens is None else max_new_tokens,
            1,
            self.max_action_tokens,
        )
        temperature = check_real("temperature", temperature, low=0.0, low_open=True)
        out = []
        for prompt in self._prompt_ids(texts):
            ids = list(prompt)
            for _ in range(limit):  # no key-value cache: actions are short, and it keeps to the stable API
                logits = self.lm(input_ids=torch.tensor([ids], device=self.device)).logits[0, -1].float()
                if deterministic:
                    nxt = int(logits.argmax())
                else:
                    probs = torch.softmax(logits / temperature, -1)
                    if generator is not None:  # sample where the generator lives
                        probs = probs.to(generator.device)
                    nxt = int(torch.multinomial(probs, 1, generator=generator))
                if nxt == self.tokens.eos:
                    break
                ids.append(nxt)
            new = ids[len(prompt) :]
            out.append(words_to_text(self.tokens.decode(new).split()))
        return out

    # ------------------------------------------------------------------ persistence
    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        saved = state_dict.get(prefix + "tokenizer_fingerprint")
        mine = self.tokenizer_fingerprint
        if (
            isinstance(saved, Tensor)
            and mine.device.type != "meta"
            and not torch.equal(saved.cpu(), mine.cpu())
        ):
            raise ValueError(
                f"tokenizer_fingerprint: the saved policy's tokenizer {saved.tolist()} differs from this "
                f"one's {mine.tolist()}; build the policy with the tokenizer it was trained with "
                "(tokenizer_json / pretrained_path)"
            )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


register_policy("CausalLMPolicy", CausalLMPolicy)
