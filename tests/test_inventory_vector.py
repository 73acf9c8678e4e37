"""The native vector env: same trajectories as single envs, autoreset modes, bad input."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import rlsuite  # noqa: F401
from rlsuite.envs.inventory import InvMgmtEnv, InvMgmtVectorEnv
from rlsuite.envs.inventory.env import INFO_KEYS


@pytest.mark.parametrize("network", ["divergent", "serial", "one_warehouse"])
def test_vector_copies_equal_single_envs(network):
    n, seed, T = 4, 10, 30
    venv = InvMgmtVectorEnv(n, network, num_periods=T)
    singles = [InvMgmtEnv(network, num_periods=T) for _ in range(n)]
    vobs, _ = venv.reset(seed=seed)
    sobs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(singles)])
    np.testing.assert_array_equal(vobs, sobs)
    rng = np.random.default_rng(0)
    for _ in range(T):
        a = rng.uniform(0, 30, (n, venv.core.n_links))
        vobs, vr, _vte, vtr, _ = venv.step(a)
        outs = [e.step(a[i]) for i, e in enumerate(singles)]
        # Equal up to BLAS summation order for different batch sizes.
        np.testing.assert_allclose(vobs, np.stack([o[0] for o in outs]), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(vr, np.array([o[1] for o in outs]), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(vtr, np.array([o[3] for o in outs]))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("network", ["divergent", "one_warehouse"])
def test_vector_info_rows_are_the_single_env_infos(network, backend):
    """Same keys; copy i's entry of every key equals (type, shape, and value up to the summation
    order of the matrix products) copy i's single-env info, whichever backend steps the single env."""
    n, seed = 3, 21
    venv = InvMgmtVectorEnv(n, network, num_periods=6)
    singles = [InvMgmtEnv(network, num_periods=6, backend=backend) for _ in range(n)]
    # (vector info, the single envs' infos) after reset and after each step
    pairs = [(venv.reset(seed=seed)[1], [e.reset(seed=seed + i)[1] for i, e in enumerate(singles)])]
    rng = np.random.default_rng(1)
    for _ in range(6):
        a = rng.uniform(0, 30, (n, venv.core.n_links))
        pairs.append((venv.step(a)[4], [e.step(a[i])[4] for i, e in enumerate(singles)]))
    for vinfo, sinfos in pairs:
        keys = {k for k in vinfo if not k.startswith("_")}
        assert all(set(sinfo) == keys for sinfo in sinfos)
        assert all(vinfo["_" + key].all() for key in keys)
        for key in keys:
            for i, sinfo in enumerate(sinfos):
                row, value = vinfo[key][i], sinfo[key]
                assert type(row) is type(value) and np.shape(row) == np.shape(value), key
                assert np.asarray(row).dtype == np.asarray(value).dtype, key
                np.testing.assert_allclose(row, value, rtol=1e-12, atol=1e-12, err_msg=key)
    assert keys == set(INFO_KEYS)


def test_make_vec_uses_native_vector_env():
    env = gym.make_vec("InvMgmt-Serial-v0", num_envs=3)
    assert isinstance(env.unwrapped, InvMgmtVectorEnv)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 15)
    assert env.single_action_space.shape == (3,)


def test_next_step_autoreset_then_continues_each_generator():
    venv = InvMgmtVectorEnv(2, "serial", num_periods=3)
    single = InvMgmtEnv("serial", num_periods=3)
    venv.reset(seed=7)
    single.reset(seed=7)
    a = np.full((2, 3), 5.0)
    for _ in range(3):
        _, _, _, tr, _ = venv.step(a)
        single.step(a[0])
    assert tr.all()
    obs, r, te, tr, info = venv.step(a)  # the reset step: actions ignored
    assert not tr.any() and not te.any() and (r == 0).all()
    assert set(info) == {"period", "_period"} and (info["period"] == 0).all()
    sobs, _ = single.reset()
    np.testing.assert_array_equal(obs[0], sobs)
    _, _, _, _, vinfo = venv.step(a)
    np.testing.assert_array_equal(vinfo["demand"][0], single.step(a[0])[4]["demand"])


def test_same_step_autoreset_returns_final_obs():
    venv = InvMgmtVectorEnv(2, "serial", num_periods=2, autoreset_mode=AutoresetMode.SAME_STEP)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    _obs0, _ = venv.reset(seed=0)
    venv.step(np.zeros((2, 3)))
    obs, _, _, tr, info = venv.step(np.zeros((2, 3)))
    assert tr.all() and info["_final_obs"].all()
    assert info["final_obs"][0][-2] == 2.0  # period feature of the last observation
    assert obs[0][-2] == 0.0


def test_disabled_autoreset_requires_reset():
    venv = InvMgmtVectorEnv(2, "serial", num_periods=1, autoreset_mode="Disabled")
    venv.reset(seed=0)
    venv.step(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros((2, 3)))


def test_torch_arrays_in_and_out():
    venv = InvMgmtVectorEnv(3, "divergent", array_type="torch", dtype="float32")
    obs, _ = venv.reset(seed=0)
    assert isinstance(obs, torch.Tensor) and obs.dtype == torch.float32
    obs, r, _te, tr, _ = venv.step(torch.full((3, 11), 20.0))
    assert r.shape == (3,) and tr.dtype == torch.bool


def test_bad_vector_actions():
    venv = InvMgmtVectorEnv(2, "serial")
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(2, 3\)"):
        venv.step(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        venv.step(np.array([[0, np.nan, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="num_envs"):
        InvMgmtVectorEnv(0)
    with pytest.raises(ValueError, match="seed"):
        venv.reset(seed=[1, 2, 3])


def test_per_copy_demand_traces():
    traces = np.stack([np.full((30, 1), 10.0), np.full((30, 1), 30.0)])  # [num_envs, T, n_markets]
    venv = InvMgmtVectorEnv(2, "serial", demand_trace=traces)
    venv.reset(seed=0)
    _, _, _, _, info = venv.step(np.zeros((2, 3)))
    np.testing.assert_array_equal(info["demand"][:, 0], [10.0, 30.0])


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("network", ["divergent", "serial", "one_warehouse"])
def test_numpy_and_torch_backends_step_the_batch_alike(network, mode):
    """The NumPy and the torch backend of the vector env give the same observations, rewards,
    flags and infos (to rounding) through an episode end, its autoreset and a fixed-trace reset."""
    envs = {
        b: InvMgmtVectorEnv(4, network, num_periods=5, backend=b, autoreset_mode=mode)
        for b in ("numpy", "torch")
    }
    assert envs["numpy"].sim.backend == "numpy" and envs["torch"].sim.backend == "torch"
    rng = np.random.default_rng(2)
    outs = {b: e.reset(seed=9) for b, e in envs.items()}
    np.testing.assert_array_equal(outs["numpy"][0], outs["torch"][0])
    n_links = envs["numpy"].core.n_links
    for step in range(13):
        if step == 8:
            trace = rng.poisson(15, (5, envs["numpy"].core.n_markets)).astype(float)
            outs = {b: e.reset(options={"demand_trace": trace}) for b, e in envs.items()}
        a = rng.uniform(-3, 50, (4, n_links))
        (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) = (envs[b].step(a) for b in ("numpy", "torch"))
        assert o1.dtype == o2.dtype and r1.dtype == r2.dtype and te1.dtype == te2.dtype
        np.testing.assert_allclose(o1, o2, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-9)
        np.testing.assert_array_equal(te1, te2)
        np.testing.assert_array_equal(tr1, tr2)
        assert set(i1) == set(i2)
        for key, value in i1.items():
            if key == "final_info":
                continue
            np.testing.assert_allclose(value, i2[key], rtol=1e-12, atol=1e-9, err_msg=key)
        for x, y in zip(envs["numpy"].state, envs["torch"].state, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-9)


def test_backend_auto_picks_numpy_for_small_cpu_batches_of_arrays():
    from rlsuite.envs.inventory.vector import NUMPY_MAX_ENVS

    assert InvMgmtVectorEnv(8).sim.backend == "numpy"
    assert InvMgmtVectorEnv(NUMPY_MAX_ENVS + 1).sim.backend == "torch"
    assert InvMgmtVectorEnv(8, array_type="torch").sim.backend == "torch"
    with pytest.raises(ValueError, match="'numpy' needs the CPU and array_type='numpy'"):
        InvMgmtVectorEnv(8, array_type="torch", backend="numpy")
    with pytest.raises(ValueError, match="backend"):
        InvMgmtVectorEnv(8, backend="cupy")
    env = InvMgmtVectorEnv(2, backend="numpy")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.full((2, env.core.n_links), np.nan))
    obs, *_ = env.step(torch.full((2, env.core.n_links), 5.0))  # tensor actions are accepted too
    assert isinstance(obs, np.ndarray)
