"""Sweep files: expansion into trials, placeholders, random draws, stable ids, clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from pyrodisent.sweep.spec import (
    SweepError,
    load_sweep,
    parse_sweep,
    set_path,
    substitute,
    trial_id,
)

BASE = {
    "seed": 0,
    "device": "cpu",
    "model": {"name": "vae", "encoder": "mlp", "latent_dim": 4, "hidden_width": 32, "hidden_layers": 0},
    "data": {"name": "generated_dsprites", "options": {"shapes": 1, "scales": 2, "orientations": 2, "positions": 8}},
    "regularizers": [{"name": "tc", "beta": 6.0}],
    "train": {"steps": 5, "batch_size": 16},
}


def sweep(**keys):
    return parse_sweep({"base": BASE, **keys})


def test_grid_is_the_cartesian_product_first_axis_slowest():
    spec = sweep(grid=[{"key": "model.latent_dim", "values": [3, 4, 5]},
                       {"key": "regularizers.0.beta", "name": "beta", "values": [1.0, 6.0]}])
    trials = spec.trials()
    assert [(t.params["model.latent_dim"], t.params["beta"]) for t in trials] == [
        (3, 1.0), (3, 6.0), (4, 1.0), (4, 6.0), (5, 1.0), (5, 6.0)
    ]
    assert [t.config["regularizers"][0]["beta"] for t in trials] == [1.0, 6.0] * 3
    assert trials[4].config["model"]["latent_dim"] == 5
    assert BASE["model"]["latent_dim"] == 4  # the base is not modified
    assert len({t.trial_id for t in trials}) == 6


def test_mapping_grid_zip_axes_and_seeds():
    spec = sweep(
        grid=[{"zip": [{"key": "model.latent_dim", "values": [6, 6, 8]},
                       {"key": "train.batch_size", "name": "batch", "values": [16, 32, 16]}]}],
        seeds=3,
    )
    trials = spec.trials()
    assert len(trials) == 9
    assert [(t.params["model.latent_dim"], t.params["batch"], t.params["seed"]) for t in trials[:4]] == [
        (6, 16, 0), (6, 16, 1), (6, 16, 2), (6, 32, 0)
    ]
    assert [t.config["seed"] for t in trials[:3]] == [0, 1, 2]
    mapping = sweep(grid={"model.latent_dim": [3, 4], "train.steps": [5, 6]})
    assert len(mapping.trials()) == 4


def test_placeholders_drive_several_keys_with_typed_values():
    spec = sweep(grid=[{"name": "strength", "values": [2.0, 20.0]}],
                 seeds=[7])
    spec.base["regularizers"] = [{"name": "discriminator", "gamma": "${strength}", "seed": "${seed}",
                                  "hidden_units": 8, "layers": 2},
                                 {"name": "variance", "beta": "${strength}"}]
    trials = spec.trials()
    assert trials[1].config["regularizers"] == [
        {"name": "discriminator", "gamma": 20.0, "seed": 7, "hidden_units": 8, "layers": 2},
        {"name": "variance", "beta": 20.0},
    ]
    assert substitute({"a": "run-${x}", "b": ["${x}"]}, {"x": 3}) == {"a": "run-3", "b": [3]}
    with pytest.raises(SweepError, match=r"placeholder '\$\{nope\}' names no axis"):
        substitute("${nope}", {"x": 1})


def test_random_draws_are_seeded_shared_across_grid_points_and_kept_when_samples_grow():
    random = {"samples": 3, "seed": 5, "axes": [
        {"key": "train.optimizer.lr", "name": "lr", "loguniform": [1e-4, 1e-2]},
        {"key": "regularizers.0.beta", "name": "beta", "choice": [1.0, 2.0, 4.0]},
        {"key": "train.steps", "name": "steps", "randint": [3, 9]},
    ]}
    spec = sweep(grid=[{"key": "model.latent_dim", "values": [3, 4]}], random=random)
    trials = spec.trials()
    assert len(trials) == 6
    first, second = trials[:3], trials[3:]
    assert [t.params["lr"] for t in first] == [t.params["lr"] for t in second]
    for t in trials:
        assert 1e-4 <= t.params["lr"] <= 1e-2 and t.params["beta"] in (1.0, 2.0, 4.0)
        assert 3 <= t.params["steps"] <= 9 and isinstance(t.params["steps"], int)
    # sample s comes from default_rng([seed, s]); log-uniform is exp(uniform(log a, log b))
    rng = np.random.default_rng([5, 1])
    assert math.isclose(trials[1].params["lr"], math.exp(rng.uniform(math.log(1e-4), math.log(1e-2))))
    more = sweep(grid=[{"key": "model.latent_dim", "values": [3, 4]}], random={**random, "samples": 5})
    ids = [t.trial_id for t in more.trials()]
    assert [t.trial_id for t in first] == ids[:3]
    # same seed, same trials
    assert [t.trial_id for t in sweep(grid=[{"key": "model.latent_dim", "values": [3, 4]}], random=random).trials()] == [
        t.trial_id for t in trials
    ]


def test_trial_ids_depend_only_on_the_resolved_config():
    a = sweep(grid={"model.latent_dim": [3, 4]}).trials()
    b = sweep(grid={"model.latent_dim": [2, 3, 4]}).trials()  # a value added in front
    assert a[0].trial_id == b[1].trial_id and a[1].trial_id == b[2].trial_id
    assert a[0].index == 0 and b[1].index == 1
    assert trial_id({"x": 1, "y": [1, 2]}) == trial_id({"y": [1, 2], "x": 1})


def test_base_from_a_file_relative_to_the_sweep_file(tmp_path: Path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "run.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "sweeps").mkdir()
    path = tmp_path / "sweeps" / "s.yaml"
    path.write_text(yaml.safe_dump({"base": "../configs/run.yaml", "grid": {"train.steps": [2, 3]},
                                    "set": {"model.hidden_width": 16, "train.optimizer.lr": 0.01}}))
    spec = load_sweep(path)
    assert spec.name == "s" and len(spec.trials()) == 2
    assert spec.base["model"]["hidden_width"] == 16 and spec.base["train"]["optimizer"] == {"lr": 0.01}
    assert spec.base["data"] == BASE["data"] and "hidden_width" not in spec.trials()[0].params


def test_extends_inherits_the_other_sweep_file_with_its_set_merged(tmp_path: Path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "run.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "sweeps").mkdir()
    paper = {"source": "a table", "by": "dim", "columns": {"ELBO": "loss.elbo"}, "rows": {"3": {"ELBO": [1.0, 0.1]}}}
    (tmp_path / "sweeps" / "cpu.yaml").write_text(yaml.safe_dump({
        "name": "cpu", "base": "../configs/run.yaml", "set": {"train.steps": 2, "model.hidden_width": 8},
        "grid": [{"key": "model.latent_dim", "name": "dim", "values": [3, 4]}], "seeds": [0, 1],
        "resources": {"num_cpus": 1}, "paper": paper}))
    (tmp_path / "gpu").mkdir()  # the child lives elsewhere: the parent's base stays relative to the parent
    (tmp_path / "gpu" / "full.yaml").write_text(yaml.safe_dump({
        "extends": "../sweeps/cpu.yaml", "set": {"train.steps": 9, "device": "auto"},
        "resources": {"num_cpus": 1, "num_gpus": 0.25}}))
    parent, child = load_sweep(tmp_path / "sweeps" / "cpu.yaml"), load_sweep(tmp_path / "gpu" / "full.yaml")
    assert child.name == "full"  # never the parent's name: the two must not share a sweep directory
    assert child.paper == parent.paper and child.seeds == [0, 1] and child.resources.num_gpus == 0.25
    assert child.base["train"]["steps"] == 9 and child.base["model"]["hidden_width"] == 8  # child's set wins
    assert child.base["device"] == "auto" and parent.base["device"] == "cpu"
    assert [t.params for t in child.trials()] == [t.params for t in parent.trials()]
    # a different resolved config is a different trial: the two never mix results
    assert not {t.trial_id for t in child.trials()} & {t.trial_id for t in parent.trials()}
    # a chain of two
    (tmp_path / "gpu" / "more.yaml").write_text(yaml.safe_dump({"extends": "full.yaml", "name": "more", "seeds": [5]}))
    more = load_sweep(tmp_path / "gpu" / "more.yaml")
    assert more.name == "more" and more.seeds == [5] and more.base["train"]["steps"] == 9


def test_extends_errors_name_the_file(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"extends": "b.yaml"}))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"extends": "a.yaml", "base": BASE}))
    with pytest.raises(SweepError, match="cycle"):
        load_sweep(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"extends": "missing.yaml"}))
    with pytest.raises(SweepError, match=r"missing\.yaml.*does not exist \(named by 'extends' in"):
        load_sweep(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text(yaml.safe_dump({"extends": 3}))
    with pytest.raises(SweepError, match="the path of another sweep file"):
        load_sweep(tmp_path / "d.yaml")


def test_set_path_follows_override_semantics():
    data = {"a": [{"b": 1}], "c": None}
    set_path(data, "a.0.b", 2)
    set_path(data, "c.d", 3)
    set_path(data, "e", [1])
    assert data == {"a": [{"b": 2}], "c": {"d": 3}, "e": [1]}
    with pytest.raises(SweepError, match="index 3 out of range"):
        set_path(data, "a.3.b", 1)
    with pytest.raises(SweepError, match="is a list; use an index"):
        set_path(data, "a.b", 1)


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"grids": {}}, "unknown sweep key"),
        ({"grid": [{"key": "model.latent_dim", "values": []}]}, r"'grid.0.values': a non-empty list"),
        ({"grid": [{"values": [1]}]}, "needs a 'key'"),
        ({"grid": [{"zip": [{"key": "seed", "values": [1, 2]}, {"key": "train.steps", "values": [1]}]}]},
         "one length"),
        ({"random": {"samples": 2, "axes": [{"key": "seed", "uniform": [2, 1]}]}}, r"random.axes.0.uniform"),
        ({"random": {"axes": [{"key": "seed", "choice": [1], "uniform": [0, 1]}]}}, "exactly one sampler"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"resources": {"num_gpus": 1.5}}, "a fraction <= 1"),
        ({"resources": {"num_cpus": 0}}, r"'resources.num_cpus': must be > 0, got 0"),
        ({"max_attempts": 0}, "'max_attempts': must be an integer >= 1, got 0"),
        ({"evaluate": {"metric": ["mig"]}}, "allowed: metrics"),
        ({"grid": {"model.latent_dim": [3, 3]}}, "same config"),
        ({"grid": [{"key": "seed", "values": [1]}], "seeds": 2}, r"axis name\(s\) \['seed'\] used twice"),
        ({"grid": {"model.latnet_dim": [3]}}, "model.latnet_dim"),
        ({"grid": {"regularizers.0.betta": [1.0]}}, "betta"),
    ],
)
def test_bad_sweep_files_name_the_key(keys, message):
    with pytest.raises(SweepError, match=message):
        sweep(**keys).trials()


def test_missing_base_and_non_mapping():
    with pytest.raises(SweepError, match="'base' is missing"):
        parse_sweep({"grid": {}})
    with pytest.raises(SweepError, match="must hold a mapping"):
        parse_sweep([1, 2])
