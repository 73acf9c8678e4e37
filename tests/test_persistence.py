"""Model files are data: loading never imports or runs anything named in a file, sizes are
bounded, tensors are checked, spaces round-trip exactly, saves are atomic, and a run killed
with SIGKILL resumes from its last checkpoint."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

import rlsuite  # noqa: F401  (registers the ids)
from rlsuite.agents import BPO, HDPO, PDPPO, PPO, linear_schedule
from rlsuite.agents.common import persistence
from rlsuite.agents.common.policies import ActorCriticPolicy
from rlsuite.agents.common.registry import POLICIES, register_policy
from rlsuite.agents.common.spaces import space_from_json, space_to_json, spaces_equal

torch.set_num_threads(1)
MARKER_MODULE = "rlsuite_test_marker_module"


@pytest.fixture(scope="module")
def ppo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "ppo.zip"
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, n_epochs=1, seed=0)
    model.learn(32)
    model.save(path)
    return path


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module that, if ever imported, writes a marker file: proof that a load ran code."""
    flag = tmp_path / "imported.flag"
    (tmp_path / f"{MARKER_MODULE}.py").write_text(
        f"open({str(flag)!r}, 'w').write('ran')\nclass Evil:\n    pass\ndef evil(*a, **k):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(MARKER_MODULE, None)
    return flag


def _rewrite(src: Path, dst: Path, edit_data=None, members: dict[str, bytes] | None = None) -> Path:
    """Copy a model zip, editing its data.json and replacing members."""
    with zipfile.ZipFile(src) as zf:
        contents = {n: zf.read(n) for n in zf.namelist()}
    if edit_data is not None:
        data = json.loads(contents["data.json"])
        edit_data(data)
        contents["data.json"] = json.dumps(data).encode()
    contents.update(members or {})
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, b in contents.items():
            zf.writestr(n, b)
    return dst


def _assert_nothing_ran(marker: Path) -> None:
    assert not marker.exists(), "loading the file imported a module named in it"
    assert MARKER_MODULE not in sys.modules


# ----------------------------------------------------------------------------- crafted names
CRAFTED_NAMES = [
    f"{MARKER_MODULE}:Evil",
    f"{MARKER_MODULE}:evil",
    "os:system",
    "subprocess:Popen",
    "builtins:eval",
    f"{MARKER_MODULE}.Evil",
]


def _set_policy(name):
    return lambda d: d["config"].__setitem__("policy", name)


def _set_pk(key, name):
    return lambda d: d["config"].setdefault("policy_kwargs", {}).__setitem__(key, name)


@pytest.mark.parametrize("name", CRAFTED_NAMES)
@pytest.mark.parametrize(
    "field,edit",
    [
        ("policy", _set_policy),
        ("activation_fn", lambda n: _set_pk("activation_fn", n)),
        ("features_extractor_class", lambda n: _set_pk("features_extractor_class", n)),
    ],
)
def test_a_crafted_name_is_never_imported(ppo_file, tmp_path, marker, name, field, edit):
    path = _rewrite(ppo_file, tmp_path / "crafted.zip", edit(name))
    with pytest.raises(ValueError, match=field) as info:
        PPO.load(path)
    assert "allowed" in str(info.value)
    _assert_nothing_ran(marker)


@pytest.mark.parametrize("env_id", [f"{MARKER_MODULE}:Evil-v0", "os:CartPole-v1", "NotRegistered-v9"])
def test_a_crafted_env_id_is_never_made(tmp_path, marker, env_id):
    model = HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", batch_size=8, n_train=8, n_dev=8, seed=0)
    src = tmp_path / "hdpo.zip"
    model.save(src)
    path = _rewrite(src, tmp_path / "crafted.zip", lambda d: d["env"].__setitem__("env_id", env_id))
    with pytest.raises(ValueError, match="env_id"):
        HDPO.load(path)
    _assert_nothing_ran(marker)


@pytest.mark.parametrize("name", CRAFTED_NAMES)
def test_a_crafted_hdpo_policy_or_activation_is_never_imported(tmp_path, marker, name):
    model = HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", batch_size=8, n_train=8, n_dev=8, seed=0)
    src = tmp_path / "hdpo.zip"
    model.save(src)
    for field, edit in (("policy", _set_policy(name)), ("activation_fn", _set_pk("activation_fn", name))):
        path = _rewrite(src, tmp_path / f"crafted_{field}.zip", edit)
        with pytest.raises(ValueError, match=field):
            HDPO.load(path)
    _assert_nothing_ran(marker)


class _RunsCode:
    """A pickle that would create a file when unpickled by a permissive loader."""

    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_with_code_in_a_tensor_file_is_refused(ppo_file, tmp_path):
    flag = tmp_path / "pickle_ran.flag"
    path = _rewrite(ppo_file, tmp_path / "crafted.zip", members={"policy.pth": pickle.dumps(_RunsCode(flag))})
    with pytest.raises(ValueError, match=r"policy\.pth"):
        PPO.load(path)
    assert not flag.exists()


# ----------------------------------------------------------------------------- sizes and structure
def test_a_zip_bomb_is_refused_before_it_is_inflated(ppo_file, tmp_path):
    big = b" " * (persistence.MAX_JSON_BYTES + 1)  # compresses to about 16 KiB
    path = _rewrite(ppo_file, tmp_path / "bomb.zip", members={"data.json": big})
    assert path.stat().st_size < 200_000
    with pytest.raises(ValueError, match=r"data.json is \d+ bytes uncompressed; the limit is"):
        PPO.load(path)


def test_a_lying_size_header_is_still_bounded(ppo_file, tmp_path, monkeypatch):
    monkeypatch.setattr(persistence, "MAX_MEMBER_BYTES", 1000)
    with zipfile.ZipFile(ppo_file) as zf:
        info = zf.getinfo("policy.pth")
        info.file_size = 10  # a forged small declared size
        with zf.open(info) as f, pytest.raises(zipfile.BadZipFile):
            f.read(2000)  # zipfile stops at the declared size and fails its CRC: never more
    with pytest.raises(ValueError, match=r"policy\.pth is \d+ bytes uncompressed; the limit is 1000"):
        PPO.load(ppo_file)


@pytest.mark.parametrize(
    "members,match",
    [
        ({"data.json": b"{not json"}, "not valid JSON"),
        ({"data.json": b"[1, 2]"}, "'class'"),
        ({"data.json": b"[" * 100_000 + b"]" * 100_000}, "not valid JSON"),
        ({"policy.pth": b"garbage"}, "policy.pth is not a valid tensor file"),
        ({"normalizers.pth": b""}, "normalizers.pth"),
    ],
)
def test_corrupted_members_raise_value_errors_naming_them(ppo_file, tmp_path, members, match):
    path = _rewrite(ppo_file, tmp_path / "bad.zip", members=members)
    with pytest.raises(ValueError, match=match):
        PPO.load(path)


def test_not_a_zip_and_missing_members(ppo_file, tmp_path):
    (tmp_path / "plain.zip").write_text("hello")
    with pytest.raises(ValueError, match="not a zip archive"):
        PPO.load(tmp_path / "plain.zip")
    with zipfile.ZipFile(ppo_file) as zf, zipfile.ZipFile(tmp_path / "partial.zip", "w") as out:
        out.writestr("data.json", zf.read("data.json"))
    with pytest.raises(ValueError, match=r"policy\.pth is missing"):
        PPO.load(tmp_path / "partial.zip")


def test_a_file_of_another_agent_names_the_class_to_use(ppo_file):
    with pytest.raises(
        ValueError, match=r"holds a 'PPO' model, not a BPO; load it with rlsuite.agents.PPO.load"
    ):
        BPO.load(ppo_file)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda d: d["config"].__setitem__("_init_setup_model", True), "unknown hyperparameters"),
        (lambda d: d["config"].__setitem__("exec", "print(1)"), "unknown hyperparameters"),
        (lambda d: d.__setitem__("format_version", 99), "format_version"),
        (lambda d: d.__setitem__("num_timesteps", -5), "num_timesteps"),
        (lambda d: d.__setitem__("observation_space", {"type": "Evil"}), "observation_space"),
        (lambda d: d["observation_space"].__setitem__("dtype", "object"), "observation_space.dtype"),
        (lambda d: d["config"].__setitem__("learning_rate", {"linear_schedule": [1]}), "linear_schedule"),
        (lambda d: d["config"].__setitem__("policy_kwargs", [1]), "policy_kwargs"),
    ],
)
def test_malformed_data_json_fields_are_named(ppo_file, tmp_path, edit, match):
    path = _rewrite(ppo_file, tmp_path / "bad.zip", edit)
    with pytest.raises(ValueError, match=match):
        PPO.load(path)


def test_tensors_are_checked_against_the_model_shapes_and_dtypes(ppo_file, tmp_path):
    _, states = persistence.read_model_zip(ppo_file, ("policy.pth",))
    sd = dict(states["policy.pth"])
    key = next(k for k, v in sd.items() if v.dim() == 2)
    for bad, match in (
        ({**sd, key: torch.zeros(3, 3)}, "the model expects"),
        ({**sd, key: sd[key].double()}, "torch.float64"),
        ({k: v for k, v in sd.items() if k != key}, "missing"),
        ({**sd, "extra.weight": torch.zeros(1)}, "unexpected"),
    ):
        buf = io.BytesIO()
        torch.save(bad, buf)
        path = _rewrite(ppo_file, tmp_path / "bad.zip", members={"policy.pth": buf.getvalue()})
        with pytest.raises(ValueError, match=match):
            PPO.load(path)


def test_a_crafted_huge_network_is_refused_without_allocating_it(ppo_file, tmp_path):
    # 10^7 x 10^7 float32 weights would be 400 TB: the meta-device check refuses it first.
    path = _rewrite(ppo_file, tmp_path / "huge.zip", _set_pk("net_arch", [10_000_000, 10_000_000]))
    with pytest.raises(ValueError, match=r"policy\.pth"):
        PPO.load(path)


def test_optimizer_state_that_does_not_fit_is_refused(ppo_file, tmp_path):
    _, states = persistence.read_model_zip(ppo_file, ("policy.optimizer.pth",))
    opt = states["policy.optimizer.pth"]
    first = next(iter(opt["state"]))
    opt["state"][first]["exp_avg"] = torch.zeros(7, 7, 7)
    buf = io.BytesIO()
    torch.save(opt, buf)
    path = _rewrite(ppo_file, tmp_path / "bad.zip", members={"policy.optimizer.pth": buf.getvalue()})
    with pytest.raises(ValueError, match=r"policy\.optimizer\.pth"):
        PPO.load(path)


# ----------------------------------------------------------------------------- user classes
class MyPolicy(ActorCriticPolicy):
    """A user's own policy class (not registered)."""


def test_a_user_policy_loads_with_custom_objects_or_registration(tmp_path):
    model = PPO(MyPolicy, "CartPole-v1", n_steps=16, batch_size=16, seed=0)
    model.save(tmp_path / "mine.zip")
    with pytest.raises(ValueError, match="custom_objects"):
        PPO.load(tmp_path / "mine.zip")
    loaded = PPO.load(tmp_path / "mine.zip", custom_objects={"policy": MyPolicy})
    assert type(loaded.policy) is MyPolicy
    try:
        register_policy("MyTestPolicy", MyPolicy)
        model = PPO("MyTestPolicy", "CartPole-v1", n_steps=16, batch_size=16, seed=0)
        model.save(tmp_path / "registered.zip")
        assert type(PPO.load(tmp_path / "registered.zip").policy) is MyPolicy
    finally:
        del POLICIES["MyTestPolicy"]


def test_files_of_older_versions_name_builtins_by_import_path(ppo_file, tmp_path):
    """rlsuite < 0.3 stored "module:qualname" strings; those of registered objects still resolve,
    by comparison with the registered objects, without importing anything."""
    edit = _set_pk("activation_fn", "torch.nn.modules.activation:ReLU")
    model = PPO.load(_rewrite(ppo_file, tmp_path / "old.zip", edit))
    assert model.policy_kwargs["activation_fn"] is torch.nn.ReLU


def test_custom_objects_override_saved_values(ppo_file):
    model = PPO.load(ppo_file, custom_objects={"learning_rate": 1e-4, "activation_fn": torch.nn.ReLU})
    assert model.learning_rate == 1e-4
    assert model.policy_kwargs["activation_fn"] is torch.nn.ReLU


# ----------------------------------------------------------------------------- configs
SHARED_NON_DEFAULTS = {
    "learning_rate": linear_schedule(1e-3, 1e-4),
    "n_steps": 16,
    "batch_size": 8,
    "n_epochs": 2,
    "gamma": 0.9,
    "gae_lambda": 0.8,
    "ent_coef": 0.01,
    "vf_coef": 0.7,
    "max_grad_norm": 0.3,
    "target_kl": 0.05,
    "stats_window_size": 7,
    "policy_kwargs": {"net_arch": [8], "activation_fn": torch.nn.ReLU},
    "verbose": 1,
    "seed": 5,
    "device": "cpu",
    "n_envs": 2,
    "normalize_observation": True,
    "normalize_reward": True,
    "clip_obs": 5.0,
    "clip_reward": 4.0,
    "check_finite": False,
}
NON_DEFAULTS = {
    PPO: (
        "CartPole-v1",
        {"normalize_advantage": False, "clip_range": 0.1, "clip_range_vf": linear_schedule(0.3)},
    ),
    BPO: (
        "CartPole-v1",
        {"normalize_advantage": True, "clip_range": 0.2, "lam": 0.5, "u_coef": 0.1, "use_median": False},
    ),
    PDPPO: (
        "LotSizing-v0",
        {
            "normalize_advantage": False,
            "clip_range": linear_schedule(0.25, 0.05),
            "clip_range_vf": 0.4,
            "advantage": "mc",
            "post_vf_coef": 2.0,
        },
    ),
}


@pytest.mark.parametrize("cls", [PPO, BPO, PDPPO])
def test_every_config_field_round_trips_with_a_non_default_value(cls, tmp_path):
    env, own = NON_DEFAULTS[cls]
    values = {**SHARED_NON_DEFAULTS, "tensorboard_log": str(tmp_path / "tb"), **own}
    fields = dataclasses.fields(cls.config_class)
    assert set(values) == {f.name for f in fields}  # a new field must be added here
    for f in fields:
        assert values[f.name] != f.default, f.name
    model = cls("MlpPolicy", env, **values)
    model.save(tmp_path / "m.zip")
    loaded = cls.load(tmp_path / "m.zip", device="cpu")  # the device is load's choice
    assert loaded.config == model.config
    assert cls.load(tmp_path / "m.zip").config.device == "auto"


# The config data.json held before typed configs (rlsuite 0.3): no tensorboard_log, no device.
CONFIG_BEFORE_DATACLASSES = {
    "policy": "MlpPolicy",
    "learning_rate": {"linear_schedule": [0.001, 0.0]},
    "n_steps": 16,
    "batch_size": 16,
    "n_epochs": 10,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "ent_coef": 0.0,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "normalize_advantage": True,
    "target_kl": None,
    "stats_window_size": 100,
    "policy_kwargs": {},
    "verbose": 0,
    "seed": 3,
    "n_envs": 1,
    "normalize_observation": False,
    "normalize_reward": False,
    "clip_obs": 10.0,
    "clip_reward": 10.0,
    "check_finite": True,
    "clip_range": 0.2,
    "clip_range_vf": None,
}


def test_a_file_written_before_typed_configs_loads(ppo_file, tmp_path):
    path = _rewrite(
        ppo_file, tmp_path / "old.zip", lambda d: d.__setitem__("config", CONFIG_BEFORE_DATACLASSES)
    )
    model = PPO.load(path)
    assert model.config.learning_rate == linear_schedule(1e-3) and model.config.seed == 3
    assert model.config.n_steps == 16 and model.config.clip_range == 0.2
    assert model.config.tensorboard_log is None and model.config.device == "auto"  # defaults
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['clip_ratio'\]"):
        PPO.load(
            _rewrite(ppo_file, tmp_path / "bad.zip", lambda d: d["config"].__setitem__("clip_ratio", 0.2))
        )


# ----------------------------------------------------------------------------- spaces
def _leaf_spaces() -> st.SearchStrategy[spaces.Space]:
    dims = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
    floats = st.sampled_from([np.float16, np.float32, np.float64])
    ints = st.sampled_from([np.int8, np.int32, np.int64, np.uint8])

    def box(shape, dtype, lo, width, inf_low, inf_high):
        low = np.full(shape, lo, dtype=np.float64)
        high = low + width
        if np.issubdtype(dtype, np.floating):
            low = np.where(inf_low, -np.inf, low)
            high = np.where(inf_high, np.inf, high)
            return spaces.Box(low.astype(dtype), high.astype(dtype), dtype=dtype)
        return spaces.Box(np.abs(low).astype(dtype), (np.abs(low) + width).astype(dtype), dtype=dtype)

    return st.one_of(
        st.builds(
            box,
            dims,
            st.one_of(floats, ints),
            st.integers(-5, 5),
            st.integers(0, 9),
            st.booleans(),
            st.booleans(),
        ),
        st.builds(lambda s: spaces.Box(np.zeros(s, bool), np.ones(s, bool), s, dtype=np.bool_), dims),
        st.builds(lambda n, start: spaces.Discrete(n, start=start), st.integers(1, 1000), st.integers(-5, 5)),
        st.builds(
            lambda nvec, dtype: spaces.MultiDiscrete(nvec, dtype=dtype),
            st.lists(st.integers(1, 9), min_size=1, max_size=4),
            st.sampled_from([np.int32, np.int64]),
        ),
        st.builds(spaces.MultiBinary, st.integers(1, 8)),
        st.builds(
            lambda s: spaces.MultiBinary(s), st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
        ),
    )


NESTED_SPACES = st.recursive(
    _leaf_spaces(),
    lambda children: st.one_of(
        st.dictionaries(st.text("abcdefgh_", min_size=1, max_size=6), children, min_size=1, max_size=3).map(
            spaces.Dict
        ),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: spaces.Tuple(tuple(xs))),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(NESTED_SPACES)
def test_every_space_round_trips_to_an_equal_space(space):
    restored = space_from_json(json.loads(json.dumps(space_to_json(space))))
    assert restored == space  # Gymnasium's own equality
    assert spaces_equal(restored, space)
    assert type(restored) is type(space)


def test_a_text_env_model_reloads_with_its_env_and_resumes(tmp_path):
    model = PPO("TextPolicy", "Sokoban-v0", n_steps=16, batch_size=16, n_epochs=1, seed=0)
    model.learn(16)
    model.save(tmp_path / "sokoban.zip")
    loaded = PPO.load(tmp_path / "sokoban.zip", env="Sokoban-v0")
    loaded.set_env(gym.make("Sokoban-v0"))
    loaded.learn(16, reset_num_timesteps=False)
    assert loaded.num_timesteps == 32


# ----------------------------------------------------------------------------- atomic saves, resume
def test_a_crash_while_saving_keeps_the_previous_file(tmp_path, monkeypatch):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, seed=0)
    path = tmp_path / "model.zip"
    model.save(path)
    before = path.read_bytes()
    calls = {"n": 0}
    real_save = torch.save

    def dying_save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-save")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]
    PPO.load(path)


RESUME_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    import rlsuite
    from rlsuite.agents import PPO, CheckpointCallback
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=2, seed=0,
                normalize_observation=True, normalize_reward=True)
    model.learn(10_000_000, callback=CheckpointCallback(save_freq=128, save_path=sys.argv[1]))
    """
)


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, "-c", RESUME_SCRIPT, str(ckpt)], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(ckpt.glob("*.zip"))) < 3:
            time.sleep(0.1)
        assert len(list(ckpt.glob("*.zip"))) >= 3, "no checkpoints written"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    last = max(ckpt.glob("*.zip"), key=lambda p: int(p.stem.split("_")[-2]))
    steps = int(last.stem.split("_")[-2])
    model = PPO.load(last, env="CartPole-v1")  # a file written while the writer was killed still loads
    assert model.num_timesteps == steps
    _, states = persistence.read_model_zip(last, ("policy.optimizer.pth", "normalizers.pth"))
    adam_step = next(iter(model.optimizer.state_dict()["state"].values()))["step"]
    assert float(adam_step) > 0
    assert float(adam_step) == float(next(iter(states["policy.optimizer.pth"]["state"].values()))["step"])
    assert model.obs_normalizer is not None and model.obs_normalizer.stats[""].count > 1
    assert torch.equal(model.obs_normalizer.stats[""].mean, states["normalizers.pth"]["obs"][""]["mean"])
    model.learn(128, reset_num_timesteps=False)
    assert model.num_timesteps == steps + 128
    for path in ckpt.glob("*.zip"):  # every checkpoint is whole (a killed save leaves only a .tmp)
        persistence.read_model_zip(path, ("policy.pth",))
