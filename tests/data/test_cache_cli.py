"""`pyrodisent data generate NAME --out FILE.h5` caches a data set; the h5 loader reads it back identically."""

import h5py
import numpy as np
import pytest
import torch

from pyrodisent.cli import main
from pyrodisent.data import get_dataset
from pyrodisent.data.paths import DataFileError, MissingDataError
from pyrodisent.data.sampler import StreamingBatchSampler, make_batch_sampler


def _same(a, b):
    assert a.images.dtype == b.images.dtype and torch.equal(a.images, b.images)
    np.testing.assert_array_equal(a.factors, b.factors)
    assert a.factor_names == b.factor_names and a.factor_sizes == b.factor_sizes
    for u, v in zip(a.factor_values, b.factor_values):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize(
    "name, options, sets",
    [
        ("generated_dsprites", {"orientations": 2, "positions": 4}, ["orientations=2", "positions=4"]),
        ("pdsprites", {}, []),
        ("correlated_gaussian", {"dim": 4, "rho": 0.9, "n": 300}, ["dim=4", "rho=0.9", "n=300"]),
        ("groupwise", {"n": 100, "seed": 5}, ["n=100", "seed=5"]),
    ],
)
def test_generate_then_load_is_identical(tmp_path, capsys, name, options, sets):
    out = tmp_path / f"{name}.h5"
    argv = ["data", "generate", name, "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    original, cached = get_dataset(name, **options), get_dataset("h5", path=out)
    _same(cached, original)
    for key in ("latents", "mixing", "groups", "total_correlation", "grid_classes"):
        if hasattr(original, key):
            want, got = getattr(original, key), getattr(cached, key)
            if isinstance(want, list):  # ragged lists (groups, grid_classes) compare item by item
                assert len(got) == len(want)
                for u, v in zip(got, want):
                    np.testing.assert_array_equal(u, v)
            else:
                np.testing.assert_array_equal(got, want)
    with h5py.File(out) as f:
        assert f.attrs["format"] == "pyrodisent-factor-dataset"


def test_lazy_cache_streams_batches(tmp_path):
    out = tmp_path / "d.h5"
    assert main(["data", "generate", "generated_dsprites", "--out", str(out), "--set", "orientations=2", "--set", "positions=4"]) == 0
    memory, lazy = get_dataset("h5", path=out), get_dataset("h5", path=out, in_memory=False)
    assert len(lazy) == len(memory) and lazy.observation_shape == (1, 64, 64)
    sampler = make_batch_sampler(lazy, 16, "cpu", 3)
    assert isinstance(sampler, StreamingBatchSampler)
    reference = make_batch_sampler(memory, 16, "cpu", 3)
    for _ in range(10):
        assert torch.equal(sampler.next_batch(), reference.next_batch())
    f = memory.sample_factors(8, np.random.RandomState(0))
    assert torch.equal(lazy.sample_observations_from_factors(f, 0), memory.sample_observations_from_factors(f, 0))


def test_cli_errors(tmp_path, capsys):
    assert main(["data", "generate", "generated_dsprites", "--out", str(tmp_path / "x.h5"), "--set", "orientations=50"]) == 2
    assert "orientations must be an int in [1, 40], got 50" in capsys.readouterr().err
    assert main(["data", "generate", "no_such_set", "--out", str(tmp_path / "x.h5")]) == 2
    assert "unknown dataset 'no_such_set'" in capsys.readouterr().err
    assert main(["data", "generate", "digits", "--out", str(tmp_path / "x.h5"), "--set", "oops"]) == 2
    assert "--set expects KEY=VALUE, got 'oops'" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_h5_loader_rejects_foreign_and_missing_files(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 4)))
    with pytest.raises(DataFileError, match="is not a pyrodisent dataset cache"):
        get_dataset("h5", path=foreign)
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(DataFileError, match="is not a readable HDF5 file"):
        get_dataset("h5", path=tmp_path / "junk.h5")
    with pytest.raises(MissingDataError, match="pyrodisent data generate NAME --out"):
        get_dataset("h5", path=tmp_path / "none.h5")
