"""Small BERT classifiers built from nothing: a WordPiece tokenizer trained on
our own text and a few-layer encoder. Used for the built-in model and by the
tests, which must never download a pretrained checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nuchter.labels import LABELS

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000):
    """A cased WordPiece tokenizer (Dutch accents kept) as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=1, show_progress=False
    )
    core.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    # do_lower_case=False: otherwise the saved config lowercases and strips
    # accents after reload (patiënten → p ##atie ##n ##ten).
    return BertTokenizerFast(
        tokenizer_object=core,
        do_lower_case=False,
        strip_accents=False,
        tokenize_chinese_chars=True,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def small_bert(
    tokenizer,
    *,
    layers: int = 2,
    hidden: int = 128,
    heads: int = 2,
    intermediate: int | None = None,
    max_positions: int = 256,
    seed: int = 0,
):
    """A randomly initialised BERT sequence classifier over nuchter's labels."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate or hidden * 4,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        problem_type="single_label_classification",
    )
    return BertForSequenceClassification(config)


def build_small_model(directory: Path, texts: Iterable[str], *, vocab_size: int = 4000, **shape) -> Path:
    """Train a tokenizer on ``texts`` and save an untrained classifier beside it."""
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    network = small_bert(tokenizer, **shape)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    network.save_pretrained(directory)
    return directory
