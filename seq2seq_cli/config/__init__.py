"""Typed configuration: YAML and ``--set`` overrides in, validated dataclasses out.

One schema (``schema.py``) flows everywhere: the trainer, the model builder and the decoder all
read these classes, and a run folder stores the resolved version (every default filled). Ground
floor: imports only ``runs`` (a fine-tuning config reads its parent run) and ``errors``.
"""

from seq2seq_cli.config.building import config_from_dict, load_run_config
from seq2seq_cli.config.checks import check_trackers, is_json_lines, parse_duration, unused_settings
from seq2seq_cli.config.files import load_config, save_config
from seq2seq_cli.config.schema import AttentionType, Config, DataConfig, DecodeConfig, ModelConfig, ParallelFiles, TrainConfig

__all__ = [
    "AttentionType", "Config", "DataConfig", "DecodeConfig", "ModelConfig", "ParallelFiles", "TrainConfig",
    "check_trackers", "config_from_dict", "is_json_lines", "load_config", "load_run_config", "parse_duration",
    "save_config", "unused_settings",
]
