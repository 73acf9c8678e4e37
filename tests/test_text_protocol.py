"""The string protocol for language-model agents: parsing, invalid actions, turns, groups."""

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlsuite  # noqa: F401
from rlsuite.baselines.text_experts import SokobanExpert, run_text_episodes
from rlsuite.envs.text import ExpertSpeaker, TextActionWrapper, group_seeds, parse_actions


def test_parse_actions_formats():
    assert parse_actions("up") == ["up"]
    assert parse_actions("  Up ") == ["up"]
    assert parse_actions("<think>push it</think><action>Left</action>") == ["left"]
    assert parse_actions("<answer>Right || Right || Up</answer>") == ["right", "right", "up"]
    assert parse_actions("down||left") == ["down", "left"]
    assert parse_actions("Search[ Red   Shoes ]") == ["search[red shoes]"]
    assert parse_actions("") == [] and parse_actions(None) == [] and parse_actions(3) == []


def _speak_episodes(env_id: str, seeds: list[int]) -> np.ndarray:
    env = TextActionWrapper(gym.make(env_id))
    speaker = ExpertSpeaker(SokobanExpert())
    wins = []
    for s in seeds:
        obs, info = env.reset(seed=s)
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(speaker(obs, info))
            assert info["is_action_valid"]
            done = term or trunc
        wins.append(info["won"])
    return np.array(wins)


def test_scripted_string_policy_matches_the_index_expert():
    seeds = list(range(40))
    index = run_text_episodes(gym.make("Sokoban-v0"), SokobanExpert(), seeds)["success"]
    assert np.array_equal(_speak_episodes("Sokoban-v0", seeds), index) and index.all()


def test_multi_action_turn_and_invalid_actions():
    env = TextActionWrapper(gym.make("Sokoban-v0"), invalid_penalty=-0.5, max_turns=3)
    env.reset(seed=3)
    plan = env.unwrapped.optimal_plan
    words = ["up", "down", "left", "right"]
    _, r, term, _, info = env.step(" || ".join(words[a] for a in plan))  # the whole solution in one turn
    assert term and info["won"] and info["is_action_valid"] and len(info["executed_actions"]) == len(plan)
    env.reset(seed=3)
    text_before = env.unwrapped.level.text()
    _, r, term, trunc, info = env.step("jump || up")
    assert r == -0.5 and not info["is_action_valid"] and info["invalid_actions"] == ["jump"]
    assert env.unwrapped.level.text() == text_before  # nothing executed after the invalid action
    env.step("<action></action>")
    _, _, term, trunc, _ = env.step("???")
    assert trunc and not term  # max_turns reached


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=50), st.integers(), st.none()))
def test_malformed_strings_never_crash(text):
    env = TextActionWrapper(gym.make("Sokoban-v0"))
    env.reset(seed=0)
    _, r, _, _, info = env.step(text)
    assert isinstance(info["is_action_valid"], bool) and np.isfinite(r)


def test_group_seeded_resets_give_identical_instances():
    seeds = group_seeds(100, n_groups=2, group_size=3)
    assert seeds == [100, 100, 100, 101, 101, 101]
    envs = gym.make_vec("Sokoban-v0", num_envs=6, vectorization_mode="sync")
    obs, _ = envs.reset(seed=seeds)
    tokens = obs["tokens"]
    assert (tokens[0] == tokens[1]).all() and (tokens[1] == tokens[2]).all()
    assert (tokens[3] == tokens[5]).all() and not (tokens[0] == tokens[3]).all()
    with pytest.raises(ValueError):
        group_seeds(0, 0, 2)
