"""The training engine: config, checkpoints, the training loop, run loading."""

from pyrodisent.engine.config import ConfigError, RunConfig, load_config, parse_config
from pyrodisent.engine.trainer import Trainer, TrainingDivergedError, load_run, train

__all__ = ["ConfigError", "RunConfig", "Trainer", "TrainingDivergedError", "load_config", "load_run", "parse_config", "train"]
