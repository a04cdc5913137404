"""Vocabulary trimming: keep only the pieces Dutch text needs (Ushio et al. 2023).

multilingual-e5-small spends 96M of its 118M parameters on a 250k-piece
table for a hundred languages. A Dutch classifier needs the pieces that
Dutch text produces: every piece the corpus and a large Dutch word list
tokenise into, plus every single-character piece (so unseen words still
fall back to characters rather than ``<unk>``) and the specials. Scores are
kept, so the unigram tokenizer picks the same segmentation whenever every
piece of the best one survived, which is the case for all kept text.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from nuchter.errors import ModelError

SPECIAL_IDS = (0, 1, 2, 3)
WORD_LISTS = (Path("/usr/share/dict/dutch"),)
"""Debian's ``wdutch`` (OpenTaal, 413k words); used when present."""


def pieces_needed(tokenizer, texts: Iterable[str], words: Iterable[str] = ()) -> set[int]:
    """Ids of every piece the texts and words tokenise into (words also capitalised)."""
    keep: set[int] = set()
    words = list(words)
    for batch in (list(texts), words, [w[:1].upper() + w[1:] for w in words]):
        for start in range(0, len(batch), 50_000):
            for encoding in tokenizer.encode_batch(batch[start : start + 50_000], add_special_tokens=False):
                keep.update(encoding.ids)
    return keep


def single_characters(vocab: list) -> set[int]:
    return {i for i, (piece, _) in enumerate(vocab) if len(piece.replace("▁", "")) <= 1}


def read_words(paths: Iterable[Path] = WORD_LISTS) -> list[str]:
    words: list[str] = []
    for path in paths:
        if path.is_file():
            words += path.read_text(encoding="utf-8", errors="ignore").split()
    return words


def trimmed_tokenizer(tokenizer_json: dict, keep: list[int]) -> dict:
    """tokenizer.json with only ``keep`` (old ids, in their new order), specials re-indexed."""
    new_id = {old: new for new, old in enumerate(keep)}
    data = json.loads(json.dumps(tokenizer_json))
    vocab = data["model"]["vocab"]
    data["model"]["vocab"] = [vocab[i] for i in keep]
    data["model"]["unk_id"] = new_id[data["model"]["unk_id"]]
    for token in data.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    processor = data.get("post_processor") or {}
    for special in (processor.get("special_tokens") or {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    return data


def trim(model_dir: Path, out_dir: Path, keep_texts: Iterable[str], words: Iterable[str] = ()) -> dict:
    """Write a trimmed copy of a fine-tuned model folder; returns what was kept."""
    import torch
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    tokenizer_json = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_str(json.dumps(tokenizer_json))
    vocab = tokenizer_json["model"]["vocab"]
    added = [t["id"] for t in tokenizer_json.get("added_tokens", [])]
    needed = pieces_needed(tokenizer, keep_texts, words)
    keep = sorted(set(SPECIAL_IDS) | needed | single_characters(vocab) | set(added))
    weights = load_file(str(model_dir / "model.safetensors"))
    names = [k for k, v in weights.items() if k.endswith("word_embeddings.weight")]
    if len(names) != 1:
        raise ModelError(f"{model_dir}: expected one word-embedding table, found {names}")
    table = weights[names[0]]
    if table.shape[0] < len(vocab):
        raise ModelError(f"{model_dir}: the embedding table has {table.shape[0]} rows for {len(vocab)} pieces")
    weights[names[0]] = table[torch.tensor(keep)].contiguous()
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    old_size = config["vocab_size"]
    config["vocab_size"] = len(keep)
    new_id = {old: new for new, old in enumerate(keep)}
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        if config.get(key) is not None:
            config[key] = new_id[config[key]]
    config["nuchter_trimmed"] = {"from_vocab_size": old_size, "kept": len(keep)}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        for path in model_dir.iterdir():
            if path.is_file() and path.name not in ("model.safetensors", "config.json", "tokenizer.json",
                                                    "tokenizer_config.json", "special_tokens_map.json"):
                shutil.copy2(path, work / path.name)
        save_file(weights, str(work / "model.safetensors"), metadata={"format": "pt"})
        (work / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        from nuchter.training.convert_e5 import save_tokenizer

        save_tokenizer(Tokenizer.from_str(json.dumps(trimmed_tokenizer(tokenizer_json, keep))), work)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"from_vocab_size": old_size, "kept": len(keep), "from_text": len(needed)}
