"""Small BERT classifiers built from nothing: a WordPiece tokenizer trained on
our own text and a few-layer encoder. Used by ``--base scratch`` and by the
tests, which must never download a pretrained checkpoint; seeded runs give the
same model every time."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from nuchter.labels import LABEL2ID, LABELS

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece_vocab(words: Counter, vocab_size: int, prefix: str = "##") -> list[str]:
    """WordPiece pieces learnt by byte-pair merging, every tie broken by the pieces' text.

    tokenizers' own trainer breaks ties by hash order, so the same texts gave a
    different vocabulary (and so a different model) in every process.
    """
    spelled = {word: [word[0], *(prefix + c for c in word[1:])] for word in words}
    vocab = list(SPECIAL_TOKENS) + sorted({piece for pieces in spelled.values() for piece in pieces} - set(SPECIAL_TOKENS))
    known = set(vocab)
    pairs: Counter = Counter()
    holders: dict[tuple[str, str], set[str]] = {}
    for word, pieces in spelled.items():
        for pair in zip(pieces, pieces[1:]):
            pairs[pair] += words[word]
            holders.setdefault(pair, set()).add(word)
    heap = [(-count, pair) for pair, count in pairs.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        count, pair = heapq.heappop(heap)
        if pairs.get(pair, 0) != -count:
            continue  # stale: the count changed after this entry was pushed
        merged = pair[0] + pair[1][len(prefix):]
        if merged not in known:
            vocab.append(merged)
            known.add(merged)
        touched = set()
        for word in sorted(holders.pop(pair, ())):
            pieces, n = spelled[word], words[word]
            for old in zip(pieces, pieces[1:]):
                pairs[old] -= n
                touched.add(old)
            joined, i = [], 0
            while i < len(pieces):
                if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == pair:
                    joined.append(merged)
                    i += 2
                else:
                    joined.append(pieces[i])
                    i += 1
            spelled[word] = joined
            for new in zip(joined, joined[1:]):
                pairs[new] += n
                touched.add(new)
                holders.setdefault(new, set()).add(word)
        del pairs[pair]
        for other in touched - {pair}:
            if pairs[other] > 0:
                heapq.heappush(heap, (-pairs[other], other))
            else:
                pairs.pop(other)
                holders.pop(other, None)
    return vocab


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000):
    """A cased WordPiece tokenizer (Dutch accents kept) as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    normalizer, pre_tokenizer = normalizers.NFC(), pre_tokenizers.BertPreTokenizer()
    words = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    vocab = wordpiece_vocab(words, vocab_size)
    core = Tokenizer(models.WordPiece({piece: i for i, piece in enumerate(vocab)}, unk_token="[UNK]"))
    core.normalizer = normalizer
    core.pre_tokenizer = pre_tokenizer
    core.decoder = decoders.WordPiece()
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
        label2id=LABEL2ID,
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
