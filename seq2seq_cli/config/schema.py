"""The config schema: one typed class a section (data, model, train, decode), every default here.

Limits a key must respect ride on its field's metadata (``min``, ``max``), checked by ``building.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

AttentionType = Literal["bahdanau", "luong-dot", "luong-general", "location", "multihead"]


def _positive(default: Any) -> Any:
    return field(default=default, metadata={"min": 1})


@dataclass
class ParallelFiles:
    """Moses-style parallel text, ``{source: FILE, target: FILE}``: line N of one translates line N of the other."""

    source: str
    target: str

    def __str__(self) -> str:  # how messages name the two files
        return f"{self.source} + {self.target}"


@dataclass
class DataConfig:
    """Where the pairs come from and how text becomes tokens."""

    train: Union[str, ParallelFiles] = ""  # TSV, JSON Lines (.jsonl), either .gz, or parallel files
    val: Union[str, ParallelFiles, None] = None
    val_split: float = field(default=0.1, metadata={"min": 0.0, "max": 0.9})
    source_lang: Optional[str] = None  # JSON Lines' "translation" keys for each side
    target_lang: Optional[str] = None  # also the Moses tokeniser language of evaluate's WMT-recipe BLEU
    lowercase: bool = True
    tokenizer: Literal["word", "sentencepiece"] = "word"
    sentencepiece_type: Literal["bpe", "unigram"] = "bpe"
    vocab_size: int = field(default=8000, metadata={"min": 16})
    joint_vocab: bool = False  # one vocabulary (and one sentencepiece model) over both sides, for shared embeddings
    max_len: int = _positive(50)
    min_freq: int = _positive(1)
    max_size: Optional[int] = field(default=None, metadata={"min": 1})
    vocab_sample: int = field(default=1_000_000, metadata={"min": 1})  # pairs sentencepiece trains on, at most
    cache_dir: Optional[str] = None  # prepared data (cache.py); None: $S2S_CACHE_DIR, else the user cache folder
    workers: int = field(default=0, metadata={"min": 0})  # preparation processes; 0: one per core for big files
    max_line_bytes: int = _positive(1 << 20)  # a longer line in a corpus is an error; translate crops or skips it
    max_gzip_ratio: int = _positive(100)  # a .gz may unpack to this many times its size (at least 10 MiB)


@dataclass
class ModelConfig:
    """The encoder-decoder's shape."""

    type: Literal["gru", "transformer"] = "gru"
    attention: AttentionType = "bahdanau"
    heads: int = _positive(4)
    embed_dim: int = _positive(256)
    hidden_size: int = _positive(256)
    ff_dim: int = _positive(1024)
    layers: int = _positive(1)
    bidirectional: bool = True
    tie_embeddings: bool = False  # the Transformer decoder's output layer reads its input embeddings
    share_embeddings: bool = False  # encoder and decoder embeddings are one table (needs data.joint_vocab)
    output: Literal["softmax", "adaptive"] = "softmax"
    adaptive_cutoffs: list[int] = field(default_factory=lambda: [2000, 6000], metadata={"min": 1})
    dropout: float = field(default=0.2, metadata={"min": 0.0, "max": 0.9})


@dataclass
class TrainConfig:
    """The optimisation loop and where its outputs go."""

    epochs: int = _positive(10)
    max_time: Optional[str] = None
    batch_size: int = _positive(64)
    batch_tokens: int = field(default=0, metadata={"min": 0})
    lr: float = field(default=0.001, metadata={"min": 0.0})
    lr_schedule: Literal["plateau", "inverse-sqrt", "cosine", "linear"] = "plateau"
    warmup_steps: Optional[int] = field(default=None, metadata={"min": 1})  # None: 4000 for inverse-sqrt, 0 otherwise
    label_smoothing: float = field(default=0.0, metadata={"min": 0.0, "max": 0.9})
    word_dropout: float = field(default=0.0, metadata={"min": 0.0, "max": 0.9})  # source words read as <unk>
    lr_decay: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    lr_patience: int = field(default=2, metadata={"min": 0})
    min_lr: float = field(default=1e-5, metadata={"min": 0.0})
    clip_grad: float = field(default=1.0, metadata={"min": 0.0})
    on_nonfinite: Literal["stop", "skip"] = "stop"
    teacher_forcing: float = field(default=1.0, metadata={"min": 0.0, "max": 1.0})
    validate_every: int = field(default=0, metadata={"min": 0})
    best_metric: Literal["loss", "bleu", "chrf"] = "loss"
    patience: int = field(default=0, metadata={"min": 0})
    keep_best: int = _positive(1)
    keep_last: int = field(default=0, metadata={"min": 0})
    probes: int = field(default=4, metadata={"min": 0})
    probe_sentences: list[str] = field(default_factory=list)
    accumulate: int = _positive(1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 only on AMX where it measures faster
    compile: bool = False
    seed: int = 1
    threads: int = field(default=0, metadata={"min": 0})
    runs_dir: str = "runs"
    name: Optional[str] = None
    init_from: Optional[str] = None  # fine-tuning: the run whose best weights this one starts from (--init-from)
    freeze: list[str] = field(default_factory=list)  # parameter prefixes kept as the parent left them
    log_to: list[Literal["tensorboard"]] = field(default_factory=list)


@dataclass
class DecodeConfig:
    """How translations are searched for."""

    beam_size: int = _positive(5)
    length_penalty: float = field(default=0.6, metadata={"min": 0.0})
    n_best: int = _positive(1)
    max_len_ratio: float = field(default=2.0, metadata={"min": 0.0})
    max_len_extra: int = field(default=5, metadata={"min": 0})
    max_input_len: int = _positive(256)
    unk_replace: bool = True


@dataclass
class Config:
    """The whole schema: one section per concern."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


