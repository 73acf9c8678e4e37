"""NetworkSpec: built-ins, loaders (ours and gym-invmgmt's YAML), validation errors naming the field."""

from pathlib import Path

import numpy as np
import pytest

from rlsuite.envs.inventory import DemandSampler, DemandSpec, InvMgmtEnv, Link, NetworkSpec, Node

BUILTINS = ["divergent", "serial", "single_store", "one_warehouse", "serial_echelon"]


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_round_trip_through_dict_and_yaml(name, tmp_path):
    import yaml

    spec = NetworkSpec.builtin(name)
    assert NetworkSpec.from_dict(spec.to_dict()) == spec
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(spec.to_dict()))
    assert NetworkSpec.from_yaml(path) == spec


def test_divergent_matches_gym_invmgmt_defaults():
    spec = NetworkSpec.divergent()
    assert [(link.src, link.dst, link.L) for link in spec.links][:3] == [
        ("2", "1", 5),
        ("3", "1", 3),
        ("4", "2", 8),
    ]
    assert spec.order_bound(30) == 400 + 90 * 30  # gym-invmgmt's action bound, 3100
    assert NetworkSpec.serial().order_bound(30) == 3200
    env = InvMgmtEnv("divergent")
    assert env.observation_space.shape == (71,) and env.action_space.shape == (11,)
    assert InvMgmtEnv("serial").observation_space.shape == (15,)


def test_gym_invmgmt_topology_yaml_files_load():
    gi = pytest.importorskip("gym_invmgmt")
    folder = Path(gi.__file__).parent / "topologies"
    files = sorted(folder.glob("*.yaml"))
    assert len(files) >= 6
    for path in files:
        spec = NetworkSpec.from_yaml(path)
        env = InvMgmtEnv(path)
        env.reset(seed=0)
        env.step(np.full(env.action_space.shape, 10.0))
        assert spec.markets
    div = NetworkSpec.from_yaml(folder / "divergent.yaml")
    assert div.links == NetworkSpec.divergent().links
    assert [n.kind for n in div.nodes] == [n.kind for n in NetworkSpec.divergent().nodes]


def _base() -> dict:
    return NetworkSpec.serial().to_dict()


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda d: d["links"][0].update(L=-1), r"links\[0\]\.L"),
        (lambda d: d["links"][1].update(L=1.5), r"links\[1\]\.L"),
        (lambda d: d["links"][0].update(p=-0.1), r"links\[0\]\.p"),
        (lambda d: d["nodes"][1].update(h=-1), r"nodes\[1\]\.h"),
        (lambda d: d["nodes"][1].update(kind="shop"), r"nodes\[1\]\.kind"),
        (lambda d: d["nodes"][3].pop("C"), r"nodes\[3\]\.C"),
        (lambda d: d["links"][0].pop("src"), r"links\[0\]"),
        (lambda d: d["links"][0].update(src="nowhere"), r"links\[0\]\.src"),
        (lambda d: d["markets"][0].update(b=float("nan")), r"markets\[0\]\.b"),
        (lambda d: d["markets"][0]["demand"].update(dist="zipf"), r"demand\.dist"),
        (lambda d: d["markets"][0]["demand"].update(mean=-3), r"demand\.mean"),
        (lambda d: d.pop("links"), "links"),
        (lambda d: d.update(event_order="sideways"), "event_order"),
        (lambda d: d.update(bogus=1), "bogus"),
    ],
)
def test_invalid_specs_name_the_field(mutate, field):
    d = _base()
    mutate(d)
    with pytest.raises(ValueError, match=field):
        NetworkSpec.from_dict(d)


def test_cycles_and_structural_errors():
    d = _base()
    d["links"].append({"src": "1", "dst": "2", "L": 1})
    with pytest.raises(ValueError, match="acyclic"):
        NetworkSpec.from_dict(d)
    with pytest.raises(ValueError, match="at least one supplier"):
        NetworkSpec(
            (Node("r", "retailer"), Node("m", "market")),
            (),
            (NetworkSpec.serial().markets[0].__class__("r", "m"),),
        )
    with pytest.raises(ValueError, match="duplicate link"):
        NetworkSpec.serial().replace(links=(*NetworkSpec.serial().links, Link("2", "1", L=1)))
    with pytest.raises(FileNotFoundError):
        NetworkSpec.from_yaml("does/not/exist.yaml")


def test_demand_models_are_seeded_and_shaped():
    for dem in [
        DemandSpec("poisson", 5),
        DemandSpec("normal", 5, std=1.6),
        DemandSpec("uniform", 10),
        DemandSpec("poisson", 20, effects=("trend", "seasonal", "shock")),
        DemandSpec("trace", trace=(3.0, 4.0)),
    ]:
        spec = NetworkSpec.single_store(demand=dem)
        s = DemandSampler(spec)
        a = s.sample(np.random.default_rng(1), 0, 50)
        b = s.sample(np.random.default_rng(1), 0, 50)
        assert a.shape == (50, 1) and (a >= 0).all()
        np.testing.assert_array_equal(a, b)
    # Drawing in chunks gives the same numbers as drawing at once.
    s = DemandSampler(NetworkSpec.one_warehouse(n_stores=4))
    whole = s.sample(np.random.default_rng(3), 0, 40)
    rng = np.random.default_rng(3)
    parts = np.concatenate([s.sample(rng, 0, 15), s.sample(rng, 15, 25)])
    np.testing.assert_array_equal(whole, parts)


def test_correlated_store_demand():
    spec = NetworkSpec.one_warehouse(n_stores=5, seed=0, correlation=0.5)
    d = DemandSampler(spec).sample(np.random.default_rng(0), 0, 20000)
    corr = np.corrcoef(d.T)[np.triu_indices(5, 1)]
    assert np.all(np.abs(corr - 0.5) < 0.05)  # clipping at 0 barely matters at CV <= 0.5
    means = np.array([m.demand.mean for m in spec.markets])
    np.testing.assert_allclose(d.mean(0), means, rtol=0.03)


def test_trend_seasonal_shock_mean_schedule():
    dem = DemandSpec("poisson", 20, effects=("trend", "seasonal", "shock"))
    t = np.arange(30.0)
    expected = 20 * (1 + 0.05 * t) * (1 + 0.5 * np.sin(2 * np.pi * t / 30)) * np.where(t >= 15, 2.0, 1.0)
    np.testing.assert_allclose(dem.mean_schedule(t), np.maximum(expected, 0.1))
