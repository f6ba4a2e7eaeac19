"""Regularisers for the GRU past its plateau (issue 32 part 4): label smoothing with the adaptive
softmax, pinned against the full-softmax definition, and word dropout on the source."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seq2seq_cli.data.batches import Batch
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.models.output import AdaptiveOutput
from seq2seq_cli.training.updates import drop_source_words
from tests.conftest import train_seed_run


@pytest.fixture
def adaptive():
    torch.manual_seed(0)
    return AdaptiveOutput(16, 40, [8, 20], div_value=2.0)  # head 8 words + 2 clusters (12 and 20 words)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_adaptive_label_smoothing_is_the_full_softmax_definition_over_its_whole_distribution(adaptive, smoothing):
    features, targets = torch.randn(50, 16), torch.randint(0, 40, (50,))
    targets[:3] = torch.tensor([0, 15, 39])  # one word from the head and from each cluster, at least
    expected = F.cross_entropy(adaptive(features), targets, reduction="sum", label_smoothing=smoothing)
    assert adaptive.summed_nll(features, targets, smoothing).item() == pytest.approx(expected.item(), rel=1e-5)


def test_adaptive_label_smoothing_trains_the_clusters_and_matches_full_softmax_gradients(adaptive):
    features, targets = torch.randn(30, 16, requires_grad=True), torch.randint(0, 40, (30,))
    adaptive.summed_nll(features, targets, 0.1).backward()
    ours = features.grad.clone()
    features.grad = None
    F.cross_entropy(adaptive(features), targets, reduction="sum", label_smoothing=0.1).backward()
    torch.testing.assert_close(ours, features.grad)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in adaptive.tail.parameters())


def test_a_gru_with_the_adaptive_softmax_trains_with_label_smoothing(tmp_path):
    run = train_seed_run(tmp_path, ["model.output=adaptive", "model.adaptive_cutoffs=[6]", "train.label_smoothing=0.1",
                                    "train.word_dropout=0.1", "train.epochs=5"])
    assert (run / "best.pt").is_file()


def batch_of(src: list[list[int]]) -> Batch:
    source = torch.tensor(src)
    return Batch(source, torch.tensor([len(s) for s in src]), torch.ones(len(src), 2, dtype=torch.long),
                 torch.full((len(src), 2), Vocab.EOS))


def test_word_dropout_reads_words_as_unknown_and_never_touches_padding_or_specials():
    torch.manual_seed(0)
    words = torch.randint(len(Vocab.SPECIALS), 100, (64, 30))
    words[:, -5:] = Vocab.PAD
    words[:, 0] = Vocab.UNK
    dropped = drop_source_words(batch_of(words.tolist()), 0.25).src
    changed = dropped != words
    assert (dropped[changed] == Vocab.UNK).all()
    assert not changed[:, -5:].any() and not changed[:, 0].any()
    assert 0.2 < changed[:, 1:-5].float().mean() < 0.3
    assert torch.equal(drop_source_words(batch_of(words.tolist()), 0.0).src, words)
