"""CausalLMPolicy: action scores are summed token log-probabilities, the agents' interface,
persistence, the pretrained-path route, SFT on expert demonstrations and generation through
TextActionWrapper."""

from __future__ import annotations

import copy
import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import torch

import rlsuite  # noqa: F401  (registers the envs)
from rlsuite.agents import PPO, behavior_cloning
from rlsuite.agents.common.lm_policy import (
    BOS,
    EOS,
    PAD,
    UNK,
    CausalLMPolicy,
    train_text_tokenizer,
)
from rlsuite.agents.common.observations import obs_to_tensor
from rlsuite.baselines.text_experts import SokobanExpert, WebShopExpert, collect_demonstrations
from rlsuite.envs.text import TextActionWrapper
from rlsuite.envs.text.sokoban import ACTIONS

torch.set_num_threads(1)
TINY = {"model_type": "gpt2", "n_layer": 1, "n_embd": 32, "n_head": 2}
SMALL_LLAMA = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
}


def batch(observations: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    return obs_to_tensor({k: np.stack([o[k] for o in observations]) for k in observations[0]}, "cpu")


def hand_scores(policy: CausalLMPolicy, words: list[str], obs: dict[str, np.ndarray]) -> dict[int, float]:
    """Summed token log-probs of each admissible action, from the LM's full logits on one unpadded
    prompt + action sequence (not through the policy's batching, chunking or gathering)."""
    tok = policy.tokens.tokenizer
    text = " ".join(words[i] for i in obs["tokens"] if i)
    prompt = [tok.token_to_id(BOS), *tok.encode(text + "\naction:", add_special_tokens=False).ids]
    out = {}
    for i in np.flatnonzero(obs["action_mask"]):
        action = " ".join(words[j] for j in obs["action_tokens"][i] if j)
        ids = prompt + tok.encode(action, add_special_tokens=False).ids + [tok.token_to_id(EOS)]
        with torch.no_grad():
            logp = torch.log_softmax(policy.lm(torch.tensor([ids])).logits[0].double(), -1)
        out[int(i)] = sum(float(logp[t - 1, ids[t]]) for t in range(len(prompt), len(ids)))
    return out


@pytest.fixture(scope="module")
def webshop_states() -> tuple[gym.Env, list[dict[str, np.ndarray]]]:
    """Three WebShop observations with different pages, prompt lengths and action lengths."""
    env = gym.make("WebShop-v0")
    obs, _ = env.reset(seed=3)
    states = [obs]
    expert = WebShopExpert(env)
    for _ in range(2):
        obs, *_ = env.step(expert.predict(obs)[0])
        states.append(obs)
    return env, states


@pytest.mark.parametrize("lm_config", [TINY, {**SMALL_LLAMA, "num_hidden_layers": 1}], ids=["gpt2", "llama"])
def test_action_scores_equal_hand_computed_token_log_probs(webshop_states, lm_config):
    """The packed forward (one prompt, its actions behind a tree mask with restarted positions)
    gives each action the log-probs of its own unpadded prompt + action sequence."""
    env, states = webshop_states
    torch.manual_seed(0)
    policy = CausalLMPolicy(env.observation_space, env.action_space, lm_config=lm_config)
    obs = batch(states)
    masks = obs["action_mask"].bool()
    with torch.no_grad():
        scores, _ = policy.score_actions(obs, masks)
        _, _, _ = policy(obs, action_masks=masks)
        out = policy.evaluate_actions(obs, torch.zeros(3, 1, dtype=torch.long), masks)
    words = env.unwrapped.vocab.words
    for b, state in enumerate(states):
        expected = hand_scores(policy, words, state)
        assert len(expected) > 1
        for i, value in expected.items():
            assert scores[b, i].item() == pytest.approx(value, abs=1e-4)
        # log pi(a | s) = score_a - logsumexp over the admissible actions
        norm = np.logaddexp.reduce(list(expected.values()))
        assert out.log_prob[b].item() == pytest.approx(expected[0] - norm, abs=1e-4)
    # Chunked forwards (a tight token budget) give the same scores and values.
    chunked = CausalLMPolicy(
        env.observation_space, env.action_space, lm_config=lm_config, max_tokens_per_forward=256
    )
    chunked.load_state_dict(policy.state_dict())
    with torch.no_grad():
        again, latent = chunked.score_actions(obs, masks)
        assert torch.allclose(again[masks], scores[masks], atol=1e-4)
        assert torch.allclose(chunked.value_head(latent).squeeze(-1), chunked.predict_values(obs), atol=1e-5)


@pytest.fixture(scope="module")
def sokoban_demos() -> dict:
    env = gym.make("Sokoban-v0")
    return collect_demonstrations(env, SokobanExpert(), list(range(60)))


def test_masked_actions_are_never_sampled_and_evaluate_matches_forward(sokoban_demos):
    env = gym.make("Sokoban-v0")
    torch.manual_seed(0)
    policy = CausalLMPolicy(env.observation_space, env.action_space, lm_config=TINY)
    obs = obs_to_tensor({k: v[:48] for k, v in sokoban_demos["observations"].items()}, "cpu")
    obs = {k: v.repeat_interleave(8, 0) for k, v in obs.items()}  # 384 rows, 8 draws per state
    masks = obs["action_mask"].bool()
    assert not masks.all()  # walls mask some moves
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        actions, values, log_prob = policy(obs, action_masks=masks, generator=gen)
        assert masks.gather(1, actions).all()
        assert len(set(actions.flatten().tolist())) > 1
        out = policy.evaluate_actions(obs, actions, masks)
        assert torch.allclose(out.log_prob, log_prob, atol=1e-5)
        assert torch.allclose(out.values, values, atol=1e-5)
        assert torch.allclose(policy.predict_values(obs), values, atol=1e-5)
        assert torch.equal(policy.act(obs, True, masks), policy(obs, True, masks)[0])
        assert (out.entropy >= 0).all() and out.median is None


def test_ppo_save_load_round_trip(tmp_path):
    model = PPO(
        "CausalLMPolicy",
        "Sokoban-v0",
        n_steps=16,
        batch_size=8,
        n_epochs=1,
        seed=0,
        policy_kwargs={"lm_config": TINY},
    ).learn(16)
    path = tmp_path / "lm.zip"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("data.json"))["config"]["policy"] == "CausalLMPolicy"
    loaded = PPO.load(path, env="Sokoban-v0")
    for (k, a), b in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    env = gym.make("Sokoban-v0")
    obs = [env.reset(seed=s)[0] for s in range(8)]
    stacked = {k: np.stack([o[k] for o in obs]) for k in obs[0]}
    assert np.array_equal(
        model.predict(stacked, deterministic=True)[0], loaded.predict(stacked, deterministic=True)[0]
    )
    # A file never loads into a policy whose tokenizer numbers words differently.
    other = train_text_tokenizer(["zebra", *reversed(env.unwrapped.vocab.words), "action :"])
    foreign = CausalLMPolicy(env.observation_space, env.action_space, lm_config=TINY, tokenizer_json=other)
    with pytest.raises(ValueError, match="tokenizer_fingerprint"):
        foreign.load_state_dict(model.policy.state_dict())


def test_pretrained_path_loads_a_local_model_and_its_tokenizer(tmp_path):
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

    env = gym.make("Sokoban-v0")
    words = env.unwrapped.vocab.words
    tok = Tokenizer.from_str(train_text_tokenizer([*words, "action :"]))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK
    )
    fast.save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tok.token_to_id(BOS),
        eos_token_id=tok.token_to_id(EOS),
        pad_token_id=tok.token_to_id(PAD),
    )
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    reference = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True)

    policy = CausalLMPolicy(env.observation_space, env.action_space, pretrained_path=tmp_path)
    assert type(policy.lm).__name__ == "LlamaForCausalLM"
    for k, v in reference.state_dict().items():
        assert torch.equal(policy.lm.state_dict()[k], v), k
    obs, _ = env.reset(seed=0)
    with torch.no_grad():
        scores, _ = policy.score_actions(batch([obs]), batch([obs])["action_mask"].bool())
    for i, value in hand_scores(policy, words, obs).items():
        assert scores[0, i].item() == pytest.approx(value, abs=1e-4)
    # The same route through an agent's save / load (the weights come from the file).
    model = PPO(
        "CausalLMPolicy",
        env,
        n_steps=8,
        batch_size=8,
        n_epochs=1,
        seed=0,
        policy_kwargs={"pretrained_path": str(tmp_path)},
    ).learn(8)
    model.save(tmp_path / "ppo.zip")
    loaded = PPO.load(tmp_path / "ppo.zip")
    for (k, a), b in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # Pickled weights (pytorch_model.bin) are never loaded: unpickling could run code.
    pickled = tmp_path / "pickled"
    fast.save_pretrained(pickled)
    pickled_model = AutoModelForCausalLM.from_config(config)
    pickled_model.save_pretrained(pickled)  # config.json (and safetensors, replaced by a pickle below)
    for f in pickled.glob("*.safetensors"):
        f.unlink()
    torch.save(pickled_model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(OSError, match="safetensors"):
        CausalLMPolicy(env.observation_space, env.action_space, pretrained_path=pickled)
    with pytest.raises(ValueError, match="pretrained_path"):
        CausalLMPolicy(env.observation_space, env.action_space, pretrained_path=tmp_path, lm_config=TINY)
    with pytest.raises(ValueError, match="pretrained_path"):
        CausalLMPolicy(env.observation_space, env.action_space, pretrained_path=tmp_path / "missing")


def test_arguments_are_checked():
    env = gym.make("Sokoban-v0")
    with pytest.raises(ValueError, match="lm_config\\['n_layers'\\]"):
        CausalLMPolicy(env.observation_space, env.action_space, lm_config={"n_layers": 2})
    with pytest.raises(ValueError, match="lm_config\\['model_type'\\]"):
        CausalLMPolicy(env.observation_space, env.action_space, lm_config={"model_type": "bert"})
    with pytest.raises(ValueError, match="vocabulary"):
        CausalLMPolicy(env.observation_space, env.action_space, vocabulary=["<pad>", "<unk>", "#"])
    with pytest.raises(ValueError, match="max_action_tokens"):
        CausalLMPolicy(env.observation_space, env.action_space, max_length=16, max_action_tokens=16)
    with pytest.raises(ValueError, match="tokenizer_json"):
        CausalLMPolicy(env.observation_space, env.action_space, tokenizer_json="{}")


@pytest.fixture(scope="module")
def sft_model(sokoban_demos) -> tuple[PPO, dict]:
    """A PPO model whose LM policy was behaviour-cloned on the expert's Sokoban steps."""
    model = PPO(
        "CausalLMPolicy",
        "Sokoban-v0",
        seed=0,
        n_steps=64,
        policy_kwargs={"lm_config": SMALL_LLAMA},
    )
    history = behavior_cloning(model, sokoban_demos, epochs=8, batch_size=8, learning_rate=2e-3)
    return model, history


def test_behavior_cloning_raises_expert_accuracy_well_above_chance(sft_model, sokoban_demos):
    _, history = sft_model
    n = len(sokoban_demos["actions"])
    assert n >= 250
    # chance: one of the ~2.5 admissible moves (walls mask the others)
    chance = float(np.mean(1.0 / sokoban_demos["observations"]["action_mask"].sum(1)))
    assert history["accuracy"][-1] >= chance + 0.2, (chance, history["accuracy"])
    assert history["loss"][-1] < history["loss"][0]


def test_generated_action_goes_through_text_action_wrapper(sft_model, sokoban_demos):
    model, _ = sft_model
    policy = copy.deepcopy(model.policy)
    # Token-level SFT (log p_LM(expert action + eos | prompt)) teaches the LM to write an action.
    obs_all = model.obs_to_tensor(sokoban_demos["observations"])
    actions = torch.as_tensor(sokoban_demos["actions"])[:, None]
    opt = torch.optim.Adam(policy.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        for idx in torch.randperm(len(actions), generator=gen).split(16):
            loss = -policy.sequence_log_prob({k: v[idx] for k, v in obs_all.items()}, actions[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    env = TextActionWrapper(gym.make("Sokoban-v0"))
    well_formed = 0
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        text = policy.generate(policy.observation_text(obs["tokens"]))[0]
        _, _, _, _, info = env.step(f"<think>plan</think><action>{text}</action>")
        assert info["is_action_valid"] == (text in ACTIONS)
        if text in ACTIONS:
            well_formed += 1
            assert info["executed_actions"] == [text]
    assert well_formed >= 8
    # Sampling is reproducible from its generator and bounded by max_new_tokens.
    prompts = [policy.observation_text(obs["tokens"])[0]] * 3
    first = policy.generate(prompts, deterministic=False, generator=torch.Generator().manual_seed(0))
    again = policy.generate(prompts, deterministic=False, generator=torch.Generator().manual_seed(0))
    assert first == again
    long = policy.generate(prompts, deterministic=False, generator=gen, max_new_tokens=2, temperature=50.0)
    assert all(len(policy.tokens.encode([t])[0]) <= 2 for t in long)


@pytest.mark.parametrize("method", ["GRPO", "GBPO", "OPRL"])
def test_group_agents_train_the_language_model_policy(method, tmp_path):
    """The LM policy under the group-relative agents: a short run changes its weights, logs, and
    round-trips through save / load with the same scores."""
    import rlsuite.agents as agents

    cls = getattr(agents, method)
    model = cls(
        "CausalLMPolicy",
        "Sokoban-v0",
        n_groups=2,
        group_size=2,
        max_episode_steps=6,
        batch_size=16,
        ent_coef=0.01,  # a gradient even when every return of a group is equal
        policy_kwargs={"lm_config": TINY},
        seed=0,
    )
    before = copy.deepcopy(model.policy.state_dict())
    model.learn(20)
    assert model.num_timesteps >= 20
    assert any(not torch.equal(before[k], v) for k, v in model.policy.state_dict().items())
    model.save(tmp_path / "m.zip")
    back = cls.load(tmp_path / "m.zip")
    obs = batch([gym.make("Sokoban-v0").reset(seed=s)[0] for s in range(3)])
    with torch.no_grad():
        a, _ = model.policy.score_actions(obs, obs["action_mask"].bool())
        b, _ = back.policy.score_actions(obs, obs["action_mask"].bool())
    torch.testing.assert_close(a, b)
