"""benchmarks/gpu_suite.py: its items fit the 8 minutes it promises, and its table reads the
numbers the benchmark scripts print."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", ROOT / "benchmarks" / "gpu_suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_items_fit_in_eight_minutes_and_name_existing_scripts():
    suite = _suite()
    items = suite.suite("cuda", quick=False)
    assert sum(limit for _, _, limit in items) <= 8 * 60
    assert all((ROOT / "benchmarks" / command[0]).is_file() for _, command, _ in items)
    names = " ".join(name for name, _, _ in items)
    assert "step conv b64 reduce-overhead" in names and "step conv b256 reduce-overhead" in names


def test_the_table_reads_the_scripts_output():
    suite = _suite()
    step = """β-TCVAE step, model conv, batch 256, ...
  engine           12.500 ms/step  (rounds 12.1-12.9; first 5 steps incl. compile 0.1 s)
  engine_step       2.250 ms/step  (rounds 2.2-2.3; first 5 steps incl. compile 40.0 s)
  hand             11.000 ms/step  (rounds 10.9-11.2; first 5 steps incl. compile 0.1 s)
  hand_compiled     2.000 ms/step  (rounds 1.9-2.1; first 5 steps incl. compile 30.0 s)
  engine / hand                   = 1.14x (target <= 1.3x)
  engine_step / hand_compiled     = 1.12x (target <= 1.1x)
"""
    rows = suite.rows_of("step conv b256 reduce-overhead", step)
    assert ("step conv b256 reduce-overhead", "engine_step", "2.250", "ms/step") in rows
    assert ("step conv b256 reduce-overhead", "engine_step / hand_compiled", "1.12", "ratio") in rows
    assert len(rows) == 6
    feed = "device  DeviceBatchSampler         setup   0.10 s       1,234,567 images/s\n"
    assert suite.rows_of("data feed b256", feed) == [("data feed b256", "device", "1234567", "images/s")]
    metrics = "mig                0.02 s wall     0.02 s CPU  {'mig': 0.5}\ntotal             11.48 s wall\n"
    assert [r[1:3] for r in suite.rows_of("metric suite", metrics)] == [("mig", "0.02"), ("total", "11.48")]
