"""Beam search as a tree for the explorer page: what was kept and pruned at each step, and the path it chose.

``Translator.search_tree`` records the search; this turns it into small JSON (words, not ids; floats
to 4 places; attention only where a hypothesis was kept), so the page can draw where the search
branched and show the attention of any prefix it kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from seq2seq_cli.decoding.search import TreeNode
from seq2seq_cli.decoding.translator import Translation, Translator


def tree_document(translator: Translator, tokens: list[str], nodes: Sequence[TreeNode], best: Translation) -> dict:
    """The search tree of one sentence: ``nodes`` as the page draws them, ``best`` the indexes of the
    chosen translation's path from the first step to its last (``<eos>`` included when it stopped)."""
    itos = translator.tgt_vocab.itos
    return {
        "source_tokens": list(tokens),  # the tokens the tree's attention rows count in (subword pieces unmerged)
        "beam": translator.config.decode.beam_size,
        "nodes": [
            {"parent": node.parent, "step": node.step, "token": itos[node.token], "log_prob": round(node.log_prob, 4),
             "kept": node.kept, "attention": [round(w, 4) for w in node.attention]}
            for node in nodes
        ],
        "best": best_path(nodes, best.ids),
    }


def best_path(nodes: Sequence[TreeNode], ids: Sequence[int]) -> list[int]:
    """The kept nodes that spell ``ids`` from the start: the chosen translation's branch of the tree
    (as far as the tree holds it, so a partial path rather than none)."""
    path: list[int] = []
    parent = -1
    for token in ids:
        found = next((k for k, node in enumerate(nodes) if node.parent == parent and node.token == token and node.kept),
                     None)
        if found is None:
            break
        path.append(found)
        parent = found
    return path
