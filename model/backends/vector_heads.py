"""Page context as vectors: every sentence encoded once, alone; its neighbours' vectors add to its logits.

A second segment re-encodes the sentences around every sentence, which triples
the tokens the encoder reads. Here the encoder reads each sentence once and two
linear heads turn a sentence's pooled vector into what it adds to the logits of
the sentence after it and the one before it. Training, the PyTorch backend and
the ONNX export all use this module (PyTorch only; imported lazily).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nuchter.errors import ModelError
from nuchter.inputs import HEADS_FILE


def supports(network) -> bool:
    """BERT-like: a pooled sentence vector and a linear head on it (RoBERTa's classifiers have neither)."""
    base = getattr(network, "base_model", None)
    return getattr(base, "pooler", None) is not None and isinstance(getattr(network, "classifier", None), nn.Linear)


def _check(network) -> None:
    if not supports(network):
        raise ModelError(
            f"context 'vectors' needs a BERT-like classifier with a pooler and a linear head; "
            f"{type(network).__name__} has none (use --context neighbours)"
        )


class NeighbourHeads(nn.Module):
    """A sequence classifier plus what a sentence tells its neighbours: ``as_before`` is added to the
    logits of the next sentence (this one comes before it), ``as_after`` to those of the previous one.
    With ``page``, ``as_page`` of every sentence of a page, averaged, is added to each of its sentences:
    what kind of page it is (a practice's own site, a shop, a news article) travels to every sentence."""

    def __init__(self, network, page: bool = False):
        super().__init__()
        _check(network)
        self.network = network
        self.config = network.config
        hidden, labels = network.classifier.in_features, network.classifier.out_features
        self.as_before = nn.Linear(hidden, labels, bias=False)
        self.as_after = nn.Linear(hidden, labels, bias=False)
        self.as_page = nn.Linear(hidden, labels, bias=False) if page else None
        for head in self.heads().values():
            nn.init.zeros_(head.weight)  # starts as the plain classifier

    def heads(self) -> dict[str, nn.Linear]:
        found = {"as_before": self.as_before, "as_after": self.as_after}
        return found | ({"as_page": self.as_page} if self.as_page is not None else {})

    def parts(self, input_ids, attention_mask, token_type_ids=None):
        """Own logits and the neighbour (and page) contributions, one row per input sentence."""
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        pooled = self.network.base_model(input_ids=input_ids, attention_mask=attention_mask, **extra).pooler_output
        dropout = getattr(self.network, "dropout", None)
        own = self.network.classifier(dropout(pooled) if dropout is not None else pooled)
        return (own, *(head(pooled) for head in self.heads().values()))

    def forward(self, input_ids, attention_mask, token_type_ids=None, before=None, after=None, page=None, labels=None):
        """Logits with neighbours: ``before``/``after`` hold each row's neighbour's index in the batch, -1 for none;
        ``page`` each row's page number (rows of one page in the batch share their page's mean).
        ``labels`` is unused (the trainer computes the loss) but must be named: the Trainer finds its label
        columns in this signature and returns no label ids for evaluation otherwise."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        own, as_before, as_after, *as_page = self.parts(input_ids, attention_mask, token_type_ids)
        logits = own
        for index, part in ((before, as_before), (after, as_after)):
            if index is not None:
                present = (index >= 0).unsqueeze(-1).to(part.dtype)
                logits = logits + part[index.clamp(min=0)] * present
        if as_page and page is not None:
            same = (page.unsqueeze(0) == page.unsqueeze(1)).to(as_page[0].dtype)
            logits = logits + (same / same.sum(dim=1, keepdim=True)) @ as_page[0]
        return SequenceClassifierOutput(logits=logits)

    def save(self, folder: Path) -> None:
        """The classifier as a plain model folder (it scores sentences alone), the heads beside it."""
        from safetensors.torch import save_file

        self.network.save_pretrained(str(folder))
        save_file({name: head.weight.detach().contiguous() for name, head in self.heads().items()},
                  str(Path(folder) / HEADS_FILE), metadata={"format": "pt"})


def with_heads(network, folder: Path, page: bool = False) -> NeighbourHeads:
    """A loaded classifier with the heads saved beside it."""
    from safetensors.torch import load_file

    path = Path(folder) / HEADS_FILE
    if not path.is_file():
        raise ModelError(f"{folder} reads page context as vectors but has no {HEADS_FILE}")
    model = NeighbourHeads(network, page=page)
    weights = load_file(str(path))
    try:
        for name, head in model.heads().items():
            head.weight.data.copy_(weights[name])
    except (KeyError, RuntimeError) as exc:
        raise ModelError(f"{path} does not fit the model ({str(exc).splitlines()[0]})") from None
    return model.eval()


class Parts(nn.Module):
    """What the ONNX graph computes: three outputs per sentence (four for a page model), combined outside it."""

    def __init__(self, heads: NeighbourHeads):
        super().__init__()
        self.heads = heads

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.heads.parts(input_ids, attention_mask, token_type_ids)


def page_numbers(documents) -> torch.Tensor:
    """Each row's document, as the page number ``NeighbourHeads.forward`` groups by."""
    return torch.tensor(list(documents), dtype=torch.long)


def neighbour_indices(documents, positions) -> tuple[torch.Tensor, torch.Tensor]:
    """For rows of one batch: where each row's previous and next sentence of the same document are, -1 if
    not in the batch.

    >>> [t.tolist() for t in neighbour_indices([0, 0, 0, 1], [3, 4, 5, 0])]
    [[-1, 0, 1, -1], [1, 2, -1, -1]]
    """
    at = {(d, p): i for i, (d, p) in enumerate(zip(documents, positions))}
    before = [at.get((d, p - 1), -1) for d, p in zip(documents, positions)]
    after = [at.get((d, p + 1), -1) for d, p in zip(documents, positions)]
    return torch.tensor(before, dtype=torch.long), torch.tensor(after, dtype=torch.long)
