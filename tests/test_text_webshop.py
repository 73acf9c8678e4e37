"""WebShop-lite: catalog, search, pages, WebShop's reward, splits, the expert and the string protocol."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlsuite  # noqa: F401
from rlsuite.baselines.text_experts import RandomTextPolicy, WebShopExpert, run_text_episodes
from rlsuite.envs.text import ExpertSpeaker, TextActionWrapper, WebShopEnv, generate_catalog
from rlsuite.envs.text.webshop import Goal, Product, reward


@pytest.fixture(scope="module")
def env():
    return WebShopEnv(split="test")


def test_check_env_and_determinism():
    check_env(gym.make("WebShop-v0").unwrapped, skip_render_check=True)
    a, b = WebShopEnv(), WebShopEnv()
    oa, ia = a.reset(seed=5)
    ob, ib = b.reset(seed=5)
    assert ia["text"] == ib["text"] and np.array_equal(oa["tokens"], ob["tokens"])
    for act in (0, 3, 2, 7, 1):
        ra, rb = a.step(act), b.step(act)
        assert ra[4]["text"] == rb[4]["text"] and np.array_equal(
            ra[0]["action_tokens"], rb[0]["action_tokens"]
        )


def test_catalog_is_a_function_of_the_seed():
    c1, c2, c3 = (
        generate_catalog(200, 50, seed=1),
        generate_catalog(200, 50, seed=1),
        generate_catalog(200, 50, 2),
    )
    assert [p.title for p in c1.products] == [p.title for p in c2.products]
    assert [g.instruction for g in c1.goals] == [g.instruction for g in c2.goals]
    assert [p.title for p in c1.products] != [p.title for p in c3.products]
    assert c1.vocab.words == c2.vocab.words


def test_default_catalog_size_and_goals_are_satisfiable(env):
    cat = env.catalog
    assert len(cat.products) >= 1000 and len(cat.goals) == 3000
    for g in cat.goals[:300]:
        assert reward(g, cat.products[g.product], dict(g.options))[0] == 1.0
        assert "price lower than" in g.instruction and g.product_type in g.instruction


def test_reward_formula():
    p = Product(
        "b0x",
        "grocery",
        "coffee",
        "t",
        ("organic", "kosher"),
        {"size": ("8 ounce", "16 ounce")},
        12.0,
        4.0,
        (),
        "",
        (),
    )
    g = Goal(0, "coffee", "grocery", ("organic", "gluten free"), {"size": "16 ounce"}, 20.0, "")
    assert reward(g, p, {"size": "16 ounce"})[0] == pytest.approx(3 / 4)  # one attribute missing
    assert reward(g, p, {"size": "8 ounce"})[0] == pytest.approx(2 / 4)  # wrong option
    cheap = Goal(0, "coffee", "grocery", ("organic",), {"size": "16 ounce"}, 10.0, "")
    assert reward(cheap, p, {"size": "16 ounce"})[0] == pytest.approx(2 / 3)  # over the price bound
    tea = Goal(0, "green tea", "grocery", ("organic",), {"size": "16 ounce"}, 20.0, "")
    assert reward(tea, p, {"size": "16 ounce"})[0] == pytest.approx(0.5)  # same category only
    shoes = Goal(0, "sandals", "fashion", ("organic",), {"size": "16 ounce"}, 20.0, "")
    assert reward(shoes, p, {"size": "16 ounce"})[0] == pytest.approx(0.1)


def test_bm25_ranks_the_matching_product_first(env):
    p = env.catalog.products[17]
    assert (
        env.catalog.search(p.title)[0] == 17
        or p.title == env.catalog.products[env.catalog.search(p.title)[0]].title
    )
    assert env.catalog.search("zzzz qqqq") == []


def test_page_state_machine(env):
    obs, info = env.reset(seed=0)
    assert info["page"] == "search" and all(a.startswith("search[") for a in info["admissible_actions"])
    _, _, _, _, info = env.step("search[coffee]")  # free-form search is accepted
    assert info["page"] == "results" and info["is_action_valid"]
    assert "click[next >]" in info["admissible_actions"] and "click[< prev]" not in info["admissible_actions"]
    first = info["admissible_actions"][2:]
    _, _, _, _, info = env.step("click[next >]")
    assert "click[< prev]" in info["admissible_actions"] and info["admissible_actions"][3:] != first
    _, _, _, _, info = env.step("click[< prev]")
    item = next(a for a in info["admissible_actions"] if a.startswith("click[b0"))
    obs, _, _, _, info = env.step(item)
    assert info["page"] == "item" and "click[buy now]" in info["admissible_actions"]
    assert obs["action_mask"].sum() == len(info["admissible_actions"])
    _, _, _, _, info = env.step("click[reviews]")
    assert info["page"] == "reviews"
    _, _, _, _, info = env.step("click[< prev]")
    assert info["page"] == "item"
    _, r, term, _, info = env.step("click[buy now]")
    assert term and 0.0 <= r <= 1.0 and "r_type" in info


def test_invalid_actions_are_no_ops(env):
    env.reset(seed=1)
    text = env.page_text()
    _, r, term, _, info = env.step("click[buy now]")  # not on the search page
    assert not info["is_action_valid"] and r == 0 and not term and env.page_text() == text
    _, _, _, _, info = env.step(env.max_actions - 1)  # a masked (padding) index
    assert not info["is_action_valid"]
    with pytest.raises(ValueError, match="action"):
        env.step(env.max_actions)


def test_truncation_after_max_steps():
    e = WebShopEnv(split="test", max_steps=3)
    e.reset(seed=0)
    e.step(0)
    e.step("click[back to search]")
    _, r, term, trunc, _ = e.step(0)
    assert trunc and not term and r == 0


def test_splits_are_fixed_and_disjoint():
    ids = {s: set(WebShopEnv(split=s).goal_ids.tolist()) for s in WebShopEnv.SPLITS}
    assert len(ids["test"]) == 500 and len(ids["validation"]) == 500 and len(ids["train"]) == 2000
    assert not (ids["test"] & ids["train"]) and not (ids["validation"] & ids["train"])
    e = WebShopEnv(split="test")
    seen = {e.reset(seed=s)[0]["tokens"].tobytes() and e.goal_index for s in range(50)}
    assert seen <= ids["test"]


@pytest.mark.parametrize("split", ["test", "train"])
def test_expert_reaches_reward_one_on_500_seeds(split):
    e = WebShopEnv(split=split)
    res = run_text_episodes(e, WebShopExpert(e), list(range(500)))
    assert res["success"].all() and np.allclose(res["reward"], 1.0)
    rand = run_text_episodes(e, RandomTextPolicy(0), list(range(100)))
    assert rand["success"].mean() < 0.1


def test_string_protocol_with_the_expert_speaker(env):
    wrapped = TextActionWrapper(env)
    speaker = ExpertSpeaker(WebShopExpert(env))
    for seed in range(20):
        obs, info = wrapped.reset(seed=seed)
        done = False
        while not done:
            obs, r, term, trunc, info = wrapped.step(speaker(obs, info))
            done = term or trunc
        assert info["won"] and r == 1.0
    wrapped.reset(seed=0)
    _, _, _, _, info = wrapped.step("<action>search[Organic  Coffee]</action>")
    assert info["is_action_valid"] and info["page"] == "results"


def test_clear_errors():
    with pytest.raises(ValueError, match="split"):
        WebShopEnv(split="dev")
    with pytest.raises(ValueError, match="max_actions"):
        WebShopEnv(max_actions=8)
    with pytest.raises(ValueError, match="goal_index"):
        WebShopEnv().reset(options={"goal_index": 10**6})


def test_price_filter_in_search(env):
    env.reset(seed=2)
    env.step("search[coffee under 15 dollars]")
    prices = [env.catalog.products[i].price for i in env._results]
    assert prices and max(prices) <= 15.0
    env.step("click[back to search]")
    env.step("search[coffee]")
    assert max(env.catalog.products[i].price for i in env._results) > 15.0
    assert env.queries()[0].endswith(f"under {env.goal.price_upper:.0f} dollars]")
