"""Fine-tune an encoder on the labelled corpus and install the result safely.

A run builds everything in ``<target>.partial/`` and renames it into place
only when it has finished, so an interrupted or failed run never touches the
active model or earlier ones. Checkpoints in the partial folder let
``--resume`` continue.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from nuchter import store
from nuchter.classify import load_classifier, looks_local
from nuchter.errors import ModelError, NuchterError
from nuchter.inputs import VECTOR_CONTEXTS, Context, InputSpec
from nuchter.labels import LABEL2ID, LABELS
from nuchter.training import card, guard
from nuchter.training.config import TrainConfig
from nuchter.training.corpus import Corpus, Example, contexts_of, load_for_training, split_held_out



@dataclass(frozen=True)
class TrainOutcome:
    path: Path
    metrics: dict
    activated: bool
    message: str


def class_weights(examples: list[Example]) -> list[float]:
    """Inverse-frequency weights, normalised to mean 1; absent labels get 1."""
    counts = Counter(e.label for e in examples)
    raw = [len(examples) / (len(LABELS) * counts[label]) if counts[label] else 1.0 for label in LABELS]
    mean = sum(raw) / len(raw)
    return [w / mean for w in raw]


def _device_settings() -> dict:
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"use_cpu": False, "bf16": bf16, "fp16": not bf16}
    return {"use_cpu": True}


def _load_base(config: TrainConfig, train_texts: list[str], log=print):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nuchter.training import convert_e5

    if config.from_scratch:
        from nuchter.training.scratch import small_bert, train_tokenizer

        tokenizer = train_tokenizer(train_texts, vocab_size=config.scratch_vocab_size)
        network = small_bert(
            tokenizer,
            layers=config.scratch_layers,
            hidden=config.scratch_hidden,
            heads=config.scratch_heads,
            max_positions=max(config.max_length, 128),
            seed=config.seed,
        )
        return tokenizer, network
    source = config.base_model
    if source == convert_e5.BASE_NAME:
        source = str(convert_e5.ensure_base(log=log))
    local = looks_local(source)
    if local and not Path(source).expanduser().is_dir():
        raise ModelError(f"base model directory not found: {source}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local, trust_remote_code=False)
        network = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=len(LABELS),
            id2label=dict(enumerate(LABELS)),
            label2id=LABEL2ID,
            local_files_only=local,
            use_safetensors=True,
            trust_remote_code=False,
            ignore_mismatched_sizes=True,
        )
    except Exception as exc:  # many exception types, all meaning "cannot load"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = "" if local else " (a hub id needs network access; or pass a local directory)"
        raise ModelError(f"cannot load base model {config.base_model}{hint}: {reason}") from None
    return tokenizer, network


def keep_layers(network, layers: int) -> None:
    """Drop the top transformer layers: the lower ones carry most of what a small classifier needs,
    and every layer kept costs the same at scoring time."""
    encoder = getattr(network.base_model, "encoder", None)
    stack = getattr(encoder, "layer", None)
    if stack is None:
        raise NuchterError(f"--layers works for BERT-like encoders; {type(network).__name__} has no encoder.layer")
    if layers > len(stack):
        raise NuchterError(f"the base has {len(stack)} layers; cannot keep {layers}")
    del stack[layers:]
    network.config.num_hidden_layers = layers


def teacher_targets(teacher: str, examples: list[Example], log, work: Path) -> list[list[float]]:
    """The teacher's probabilities per train sentence, in label order, fed as it expects (its own context
    form); kept in the run's folder so ``--resume`` does not score the train split again."""
    saved = work / "teacher_targets.json"
    key = {"teacher": teacher, "sentences": [e.text for e in examples]}
    if saved.is_file():
        stored = json.loads(saved.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            return stored["targets"]
    log(f"scoring {len(examples)} train sentences with the teacher {teacher} …")
    classifier = load_classifier(teacher)
    probabilities = classifier.predict([e.text for e in examples], contexts=contexts_of(examples))
    targets = [[p[label] for label in LABELS] for p in probabilities]
    saved.write_text(json.dumps({"key": key, "targets": targets}, ensure_ascii=False), encoding="utf-8")
    return targets


def _dataset(examples: list[Example], contexts: list[str], tokenizer, max_length: int, inputs: InputSpec):
    """Tokenised exactly as ``nuchter.classify`` feeds a sentence at scoring time."""
    from datasets import Dataset

    texts = [e.text for e in examples]
    rows = {"first": inputs.first(texts), "label": [LABEL2ID[e.label] for e in examples]}
    second = inputs.second(texts, contexts)
    if second is not None:
        rows["second"] = second
    if inputs.reads_vectors:  # the collator finds each sentence's neighbours (and page) in its batch
        rows["document"], rows["position"] = _places(examples)
    data = Dataset.from_dict(rows)
    return data.map(
        lambda batch: tokenizer(batch["first"], batch.get("second"), truncation=True, max_length=max_length),
        batched=True,
        remove_columns=[c for c in ("first", "second") if c in rows],
    )


def _places(examples: list[Example]) -> tuple[list[int], list[int]]:
    """Each sentence's document (as a number) and place in it, in file order."""
    numbers: dict[str, int] = {}
    seen: Counter = Counter()
    documents, positions = [], []
    for e in examples:
        documents.append(numbers.setdefault(e.doc_id, len(numbers)))
        positions.append(seen[e.doc_id])
        seen[e.doc_id] += 1
    return documents, positions


def _neighbour_collator(tokenizer, page: bool = False):
    """Pads like the default collator and adds where each sentence's neighbours are in the batch
    (and, for a page model, which rows share its page)."""
    from transformers import DataCollatorWithPadding

    from nuchter.backends.vector_heads import neighbour_indices, page_numbers

    pad = DataCollatorWithPadding(tokenizer)

    def collate(features):
        documents = [f.pop("document") for f in features]
        positions = [f.pop("position") for f in features]
        batch = pad(features)
        batch["before"], batch["after"] = neighbour_indices(documents, positions)
        if page:
            batch["page"] = page_numbers(documents)
        return batch

    return collate


def _document_order(dataset, seed: int):
    """Whole documents in turn, in random order, so most sentences have their neighbours in the batch."""
    import torch

    members: dict[int, list[int]] = {}
    for i, document in enumerate(dataset["document"]):
        members.setdefault(document, []).append(i)
    groups = list(members.values())

    class DocumentOrder(torch.utils.data.Sampler):
        epoch = 0

        def __len__(self):
            return len(dataset)

        def __iter__(self):
            generator = torch.Generator().manual_seed(seed + self.epoch)
            self.epoch += 1
            for g in torch.randperm(len(groups), generator=generator).tolist():
                yield from groups[g]

    return DocumentOrder()


def predict_labels(classifier, examples: list[Example]) -> list[int]:
    probabilities = classifier.predict([e.text for e in examples], contexts=contexts_of(examples))
    return [LABEL2ID[max(p, key=p.__getitem__)] for p in probabilities]


def evaluate_examples(classifier, examples: list[Example]) -> dict:
    from nuchter.training.metrics import compute

    return compute(predict_labels(classifier, examples), [LABEL2ID[e.label] for e in examples])


def report_data(corpus: Corpus) -> list[str]:
    """What the merged data holds: per file, how many rows were new and how many duplicates."""
    per_file = Counter(e.where.rsplit(":", 1)[0] for e in corpus.examples)
    duplicates = Counter(p.where.rsplit(":", 1)[0] for p in corpus.problems if not p.fatal)
    lines = []
    for path in corpus.files:
        name = str(path)
        lines.append(f"{name}: {per_file[name]} new sentences, {duplicates[name]} duplicates of earlier rows")
    return lines


def _make_trainer(config: TrainConfig, network, tokenizer, train_set, dev_set, work: Path, weights, progress: bool, log):
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments

    from nuchter.training.metrics import compute

    vectors = config.context in VECTOR_CONTEXTS

    class NuchterTrainer(Trainer):
        """Cross-entropy, class-weighted when the config says so, mixed with a teacher's soft targets."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            soft = inputs.pop("teacher", None)
            outputs = model(**inputs)
            loss_weights = None
            if config.class_weighting:
                loss_weights = torch.tensor(weights, device=outputs.logits.device, dtype=outputs.logits.dtype)
            loss = torch.nn.functional.cross_entropy(outputs.logits, labels, weight=loss_weights)
            if soft is not None:
                # The teacher was trained class-weighted too, so its soft targets carry the same priors.
                distilled = -(soft.to(outputs.logits.dtype) * outputs.logits.log_softmax(-1)).sum(-1).mean()
                loss = (1 - config.distill_weight) * loss + config.distill_weight * distilled
            return (loss, outputs) if return_outputs else loss

        def _get_train_sampler(self, train_dataset=None):
            if vectors:
                return _document_order(train_dataset if train_dataset is not None else self.train_dataset, config.seed)
            return super()._get_train_sampler(train_dataset)

    def compute_metrics(prediction):
        predicted = prediction.predictions.argmax(-1).tolist()
        metrics = compute(predicted, prediction.label_ids.tolist())
        return {"macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"]}

    steps_per_epoch = max(1, -(-len(train_set) // config.batch_size))
    by_steps = config.max_steps > 0
    interval = max(1, min(config.max_steps, steps_per_epoch) // 2) if by_steps else None
    arguments = TrainingArguments(
        output_dir=str(work / "checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(32, config.batch_size),
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        optim="adamw_torch",
        seed=config.seed,
        eval_strategy="steps" if by_steps else "epoch",
        save_strategy="steps" if by_steps else "epoch",
        eval_steps=interval,
        save_steps=interval,
        logging_steps=max(1, steps_per_epoch // 5),
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        save_total_limit=2,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        remove_unused_columns=not (config.teacher or vectors),  # the collator needs the teacher's targets, the places
        train_sampling_strategy="group_by_length" if config.length_buckets else "random",
        **_device_settings(),
    )
    callbacks = [EarlyStoppingCallback(config.early_stopping_patience)] if config.early_stopping_patience else []
    callbacks.append(_StderrProgress(progress, log))
    trainer = NuchterTrainer(
        model=network,
        args=arguments,
        train_dataset=train_set,
        eval_dataset=dev_set,
        processing_class=tokenizer,
        data_collator=_neighbour_collator(tokenizer, page=config.context == Context.PAGE) if vectors
        else DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    # The default callbacks print log dicts on stdout; stdout is for results only.
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def _StderrProgress(show_bar: bool, log):
    """A progress bar on stderr (when it is a terminal) and one line per evaluation."""
    import sys

    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training",
                            unit="step", file=sys.stderr, disable=not show_bar, leave=False)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if metrics and "eval_macro_f1" in metrics:
                message = f"epoch {state.epoch:.2f}: dev macro-F1 {metrics['eval_macro_f1']:.3f}"
                (self.bar.write(message, file=sys.stderr) if self.bar is not None and show_bar else log(message))

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return Progress()


def _fit(config: TrainConfig, train_examples, dev_examples, work: Path, checkpoint: str | None, progress: bool, log):
    """Build or load the network, then train it; returns the trainer (best model loaded), tokenizer, inputs,
    the dev set and the config as run (a base that cannot read vectors gets its neighbours as a second segment)."""
    import datasets
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    if not progress:
        datasets.disable_progress_bars()
    if config.threads:
        torch.set_num_threads(config.threads)
    transformers.set_seed(config.seed)
    if config.from_scratch and checkpoint:
        from transformers import AutoTokenizer

        from nuchter.training.scratch import small_bert

        tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
        network = small_bert(tokenizer, layers=config.scratch_layers, hidden=config.scratch_hidden,
                             heads=config.scratch_heads, max_positions=max(config.max_length, 128), seed=config.seed)
    else:
        tokenizer, network = _load_base(config, [e.text for e in train_examples], log)
        if config.layers:
            keep_layers(network, config.layers)
    if config.freeze_embeddings and not config.from_scratch:
        network.get_input_embeddings().weight.requires_grad_(False)
    if config.context in VECTOR_CONTEXTS:
        from nuchter.backends.vector_heads import NeighbourHeads, supports

        if supports(network) and config.warm_start:
            from nuchter.backends.vector_heads import with_heads

            network = with_heads(network, Path(config.base_model), page=config.context == Context.PAGE).train()
        elif supports(network):
            network = NeighbourHeads(network, page=config.context == Context.PAGE)
        else:
            log(f"{type(network).__name__} has no pooled sentence vector for --context {config.context}; "
                "feeding the neighbours as a second segment instead")
            config = replace(config, context=Context.NEIGHBOURS)
    inputs = InputSpec(prefix=config.prefix, context=config.context, context_words=config.context_words,
                       max_length=config.max_length)
    train_set = _dataset(train_examples, contexts_of(train_examples), tokenizer, config.max_length, inputs)
    if config.teacher:
        train_set = train_set.add_column("teacher", teacher_targets(config.teacher, train_examples, log, work))
    dev_set = _dataset(dev_examples, contexts_of(dev_examples), tokenizer, config.max_length, inputs)
    trainer = _make_trainer(
        config, network, tokenizer, train_set, dev_set, work, class_weights(train_examples), progress, log
    )
    (work / "training_config.json").write_text(config.to_json() + "\n", encoding="utf-8")
    trainer.train(resume_from_checkpoint=checkpoint)
    return trainer, tokenizer, inputs, dev_set, config


def _calibrate(trainer, inputs: InputSpec, dev_set, test_set) -> tuple[InputSpec, dict]:
    """Fit the softmax temperature on dev; report ECE before and after on dev and test."""
    from nuchter.training.calibration import calibration_report

    dev, test = trainer.predict(dev_set), trainer.predict(test_set)
    report = calibration_report(dev.predictions, dev.label_ids, test.predictions, test.label_ids)
    return replace(inputs, temperature=report["temperature"]), report


def _latest_checkpoint(work: Path) -> str | None:
    checkpoints = sorted(
        (work / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])
    )
    return str(checkpoints[-1]) if checkpoints else None


def train(
    config: TrainConfig,
    data: list[Path],
    *,
    output: Path | None = None,
    name: str | None = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
    log=print,
    include_held_out: bool = False,
) -> TrainOutcome:
    """Train, evaluate on dev and test, write the model folder, and maybe activate it."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not include_held_out:
        data, held = split_held_out(data)
        for path in held:
            log(f"{path}: skipped: held out (the real seed pages the built-in model is measured on; "
                "--include-held-out trains on them)")
    corpus = load_for_training(data)
    for line in report_data(corpus):
        log(line)
    train_examples, dev_examples, test_examples = (corpus.split(s) for s in ("train", "dev", "test"))
    if config.warm_start:
        config = _warm_start_config(config, log)
    if config.data_repeat > 1 or config.mix_corpus:
        train_examples, dev_examples, test_examples = _mixed(config, train_examples, dev_examples, test_examples, log)
    for split, examples in (("train", train_examples), ("dev", dev_examples), ("test", test_examples)):
        if not examples:
            raise NuchterError(
                f"the {split} split is empty: splits are assigned per document (doc_id), "
                "so the data needs more documents"
            )
    log(f"train {len(train_examples)}, dev {len(dev_examples)}, test {len(test_examples)} sentences")

    target, work, checkpoint = _prepare_work(output, name, resume)
    started = time.time()
    try:
        trainer, tokenizer, inputs, dev_set, config = _fit(config, train_examples, dev_examples, work, checkpoint,
                                                           progress, log)
    except BaseException as exc:
        saved = _latest_checkpoint(work) is not None
        if not saved:  # nothing worth resuming: leave no trace
            shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            raise TrainingInterrupted(saved) from None
        raise

    calibration = None
    if config.calibrate:
        test_set = _dataset(test_examples, contexts_of(test_examples), tokenizer, config.max_length, inputs)
        inputs, calibration = _calibrate(trainer, inputs, dev_set, test_set)
        log(f"temperature {calibration['temperature']:.3f}: dev ECE {calibration['dev_ece_before']:.3f} → "
            f"{calibration['dev_ece_after']:.3f}")
    final = work / "model"
    setattr(trainer.model.config, "nuchter_inputs", inputs.to_config())
    if inputs.reads_vectors:
        trainer.model.save(final)
    else:
        trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    (final / "training_args.bin").unlink(missing_ok=True)  # a pickle; the config is saved as JSON below
    # Metrics describe the model itself (PyTorch, full precision); `nuchter evaluate --backend`
    # measures a serving path.
    classifier = load_classifier(str(final), threads=config.threads, backend="torch")
    metrics = {
        "base_model": config.base_model,
        "seed": config.seed,
        "duration_s": round(time.time() - started, 1),
        "epochs_run": round(trainer.state.epoch or 0, 2),
        "best_checkpoint": Path(trainer.state.best_model_checkpoint).name if trainer.state.best_model_checkpoint else None,
        "data": {
            "files": [str(p) for p in corpus.files],
            "counts": corpus.counts(),
            "documents": len({e.doc_id for e in corpus.examples}),
        },
        "inputs": inputs.to_config(),
        "calibration": calibration,
        "dev": evaluate_examples(classifier, dev_examples),
        "test": evaluate_examples(classifier, test_examples),
    }
    log(f"dev macro-F1 {metrics['dev']['macro_f1']:.3f}, test macro-F1 {metrics['test']['macro_f1']:.3f}")
    decision = guard.judge(classifier, target.name, test_examples, force=force, log=log) if output is None else None
    if decision is not None:
        metrics["activation"] = decision.to_dict()
    (final / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (final / "training_config.json").write_text(config.to_json() + "\n", encoding="utf-8")
    (final / "README.md").write_text(
        card.render(metrics, asdict(config), guard.card_section(decision) if decision else ""), encoding="utf-8")

    if config.export_onnx:
        _export(final, log)
    activated, message = False, f"model written to {target}"
    if decision is not None:
        activated, message = _install(final, target, decision)
    else:
        os.replace(final, target)
    shutil.rmtree(work, ignore_errors=True)
    return TrainOutcome(target, metrics, activated, message)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``saved`` says whether a checkpoint exists that --resume can continue."""

    def __init__(self, saved: bool):
        super().__init__()
        self.saved = saved


def _prepare_work(output: Path | None, name: str | None, resume: bool) -> tuple[Path, Path, str | None]:
    """Where the model will live, the ``.partial`` folder it is built in, and the checkpoint to resume."""
    if output is not None:
        target = Path(output)
        if target.exists() and not resume:
            raise NuchterError(f"{target} already exists; choose another --output or remove it first")
    else:
        target = store.models_dir() / (name or (_latest_partial_name() if resume else None) or store.new_name())
        if target.exists():
            raise NuchterError(f"a model named {target.name!r} is already installed; pick another --name")
    work = target.with_name(target.name + ".partial")
    checkpoint = _latest_checkpoint(work) if resume else None
    if resume and checkpoint is None:
        raise NuchterError(f"nothing to resume: no checkpoint in {work}")
    if not resume and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    return target, work, checkpoint


def warm_start_folder(name: str) -> Path:
    """The PyTorch folder a warm start loads: 'active', a store name or a folder."""
    from nuchter.classify import resolve_model
    from nuchter.backends.modeldir import prebuilt_onnx

    folder = Path(resolve_model(None if name == "active" else name))
    if prebuilt_onnx(folder) is not None:  # the built-in model ships as an ONNX graph only
        folder = store.builtin_source_dir()
        if not (folder / "config.json").is_file():
            raise NuchterError(
                "the built-in model ships as an ONNX graph only; warm-start from a model you trained, or rebuild "
                "the built-in one (python -m nuchter.training.build_builtin), which leaves its PyTorch copy in "
                f"{folder}")
    if not (folder / "config.json").is_file():
        raise NuchterError(f"cannot warm-start from {name}: {folder} is not a model folder")
    return folder


def _warm_start_config(config: TrainConfig, log) -> TrainConfig:
    """Train from a fine-tuned model: its weights, heads and input form, not a base encoder's."""
    folder = warm_start_folder(config.warm_start)
    spec = InputSpec.from_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    log(f"warm start from {folder}: its weights and heads, page context {spec.context!r}, "
        f"prefix {spec.prefix!r}, max length {spec.max_length}")
    return replace(config, base_model=str(folder), context=spec.context, text_prefix=spec.prefix,
                   context_words=spec.context_words, max_length=spec.max_length)


def _mixed(config: TrainConfig, train_rows, dev_rows, test_rows, log):
    """The user's rows repeated ``data_repeat`` times, beside whole corpus documents sampled from the
    corpus's train split (``corpus_ratio`` rows per user row); the corpus's dev split joins early
    stopping, and its test split stands in when the user's data has none."""
    import random

    repeated = [replace(e, doc_id=f"{e.doc_id}#{k}" if k else e.doc_id)
                for k in range(config.data_repeat) for e in train_rows]
    mixed_in: list[Example] = []
    if config.mix_corpus:
        pool = load_for_training(split_held_out([config.mix_corpus])[0])
        documents: dict[str, list[Example]] = {}
        for e in pool.split("train"):
            documents.setdefault(e.doc_id, []).append(e)
        order = sorted(documents)
        random.Random(config.seed).shuffle(order)
        wanted = config.corpus_ratio * len(repeated) if config.corpus_ratio else float("inf")
        for doc_id in order:
            if len(mixed_in) >= wanted:
                break
            mixed_in += documents[doc_id]
        dev_rows = dev_rows + pool.split("dev")
        test_rows = test_rows or pool.split("test")
    share = len(repeated) / max(1, len(repeated) + len(mixed_in))
    log(f"training on {len(train_rows)} of your rows x{config.data_repeat} and {len(mixed_in)} corpus rows: "
        f"your rows are {share:.0%} of the training set")
    return repeated + mixed_in, dev_rows, test_rows


def _export(folder: Path, log) -> None:
    """The int8 graph `score` serves, written beside the weights now rather than on first use."""
    from nuchter.backends.onnx import ONNX_DIR, export_onnx

    started = time.time()
    log("exporting the int8 ONNX graph for scoring …")
    try:
        export_onnx(folder, folder / ONNX_DIR, quantize=True)
    except (ModelError, ImportError) as exc:
        log(f"warning: no ONNX export ({exc}); the first use will try again or serve with PyTorch")
        return
    log(f"exported the int8 ONNX graph for scoring in {time.time() - started:.0f} s")


def _install(final: Path, target: Path, decision: guard.Decision) -> tuple[bool, str]:
    """Move the model into the store; activate it only if the guard allows it."""
    os.replace(final, target)
    if decision.activate:
        store.use(target.name)
    return decision.activate, decision.message


def _latest_partial_name() -> str | None:
    partials = sorted(store.models_dir().glob("*.partial"), key=lambda p: p.stat().st_mtime)
    return partials[-1].name.removesuffix(".partial") if partials else None
