"""Adapting a trained model to new forms: fine-tuning on labelled scans (the finetune stage) and
self-training on unlabelled ones (the selftrain stage).

Both are :func:`hwr.training.loop.train` started from the run's ``init_from`` model, with the run's
steps, learning rate, batch size, augmentation and seed and the ``train`` params for the rest, on
a mix made by :func:`hwr.data.store.concat`: the pipeline's labelled training images (all, or the first
``labelled`` of a seeded selection, so that 100 names are among 300), ``repeat`` times, and
``synthetic`` names of the built-in synthetic data (decoded in the same resize mode). The best
weights on the validation split are kept, and the model is evaluated as the evaluate stage
evaluates one (:func:`hwr.evaluation.evaluate.evaluate_configured`).

Self-training runs ``rounds`` rounds; each reads the unlabelled scans with the current model, adds
those it reads confidently to the mix as labels (:mod:`hwr.adapt.pseudolabels`) and trains the next model
from the current one.

Scratch files (the mixed stores, training checkpoints, the models of earlier rounds) live in the
run's work folder: an interrupted run resumes its training from there, and a finished one removes it.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from hwr.adapt.pseudolabels import read_confidently
from hwr.adapt.unlabeled import unlabeled_store
from hwr.core import layout
from hwr.core.files import write_csv, write_json
from hwr.core.layout import split_files
from hwr.data.images import WIDTH
from hwr.data.preprocessing import build_store
from hwr.data.store import Part, Store, concat, open_store, select
from hwr.decoding.factory import make_decoder
from hwr.evaluation.evaluate import Evaluation, evaluate_configured, write_evaluation
from hwr.params import FinetuneRun, Params, SelftrainRun, TrainParams
from hwr.training.loop import Plan, train
from hwr.training.start import load_start_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPaths:
    """Where one run of the finetune or selftrain stage writes."""

    model: Path  # models/<name>/model.pt
    metrics: Path  # metrics/<stage>/<name>/: training summary, evaluation, rounds (and curves, with live)
    eval: Path  # eval/<name>/: predictions, confusion pairs, coverage, calibration (as the evaluate stage's)
    work: Path  # checkpoints/<stage>/<name>/: scratch, removed when the run finishes
    pseudo: Path  # selftrain/<name>/: the pseudo-labels of each round
    reader: Path  # readers/<name>.pt: the model with its decoder, calibration and lexicon
    live: bool = True  # dvclive curves in ``metrics`` (dvclive needs a git repository)

    @classmethod
    def of(cls, stage: str, name: str, root: Path = Path(".")) -> RunPaths:
        return cls(model=layout.model_file(name, root), metrics=layout.adaptation_metrics(stage, name, root),
                   eval=layout.eval_dir(name, root), work=layout.adaptation_work(stage, name, root),
                   pseudo=root / stage / name, reader=layout.reader_file(name, root))


@dataclass
class Labelled:
    """The pipeline's labelled data: the training images a run draws from, and validation."""

    train: Store
    validation: Store
    tensors: Path  # the folder of every split's store (evaluation reads its split there)

    @classmethod
    def open(cls, tensors: Path = layout.TENSORS) -> Labelled:
        return cls(open_store(tensors / "train"), open_store(tensors / "validation"), tensors)

    @property
    def resize(self) -> str:
        return self.train.meta.get("resize", "crop")

    @property
    def width(self) -> int:
        return self.train.images.shape[2]


def training_params(train: TrainParams, run: FinetuneRun, init_from: str | Path, cnn: str = "study",
                    width: int = WIDTH) -> TrainParams:
    """The ``train`` params with what a run sets itself, for a start model of architecture ``cnn``
    that reads ``width``-px crops."""
    return dataclasses.replace(train, init_from=str(init_from), steps=run.steps, lr=run.lr, batch_size=run.batch_size,
                               augment=run.augment, mask=run.mask, seed=run.seed, cnn=cnn, width=width)


def base_parts(run: FinetuneRun, data: Labelled, synth_dir: Path, work: Path, jobs: int = 0) -> list[Part]:
    """The labelled images of the run (``repeat`` times) and its synthetic names: what every mix holds."""
    rows = select(len(data.train), run.labelled or len(data.train), run.seed)
    if run.labelled > len(data.train):
        log.warning("labelled=%d but the training split has %d images; using %d", run.labelled, len(data.train),
                    len(data.train))
    parts = [Part(data.train, run.repeat, rows)]
    if run.synthetic:
        zip_path, csv_path = split_files(synth_dir, "train")  # the synth stage writes the Kaggle layout
        synthetic = build_store(zip_path, csv_path, work / "synthetic", resize=data.resize, width=data.width,
                                limit=run.synthetic,
                                seed=run.seed, jobs=jobs, desc="synthetic")
        if len(synthetic) < run.synthetic:
            log.warning("synthetic=%d but %s holds %d usable names; using %d", run.synthetic, zip_path,
                        len(synthetic), len(synthetic))
        parts.append(Part(synthetic))
    return parts


def _composition(parts: list[Part]) -> dict:
    labelled, *others = parts
    return {"labelled": len(labelled.rows), "repeat": labelled.repeat,
            "synthetic": sum(len(p.store) for p in others if p.texts is None)}


def _train(name: str, run: FinetuneRun, params: Params, init_from: str | Path, training: Store, data: Labelled, *,
           model: Path, work: Path, live_dir: Path | None, summary: Path) -> dict:
    start, config = load_start_model(init_from)  # the run trains the family, architecture and width it starts from
    return train(Plan(config["rnn"], name, len(training), len(data.validation), name),
                 training_params(params.train, run, init_from, start.cnn_type, start.width),
                 training, data.validation, model_path=model, checkpoint_path=work / "checkpoint.pt",
                 live_dir=live_dir, summary_path=summary)


def _evaluate(model: Path, params: Params, data: Labelled) -> Evaluation:
    return evaluate_configured(model, params.evaluate, tensors=data.tensors)


def finetune(name: str, run: FinetuneRun, params: Params, paths: RunPaths, *, data: Labelled | None = None) -> dict:
    """Fine-tune ``run.init_from`` on the labelled data (and synthetic names); writes the model,
    its training summary and its evaluation. Returns the training summary with the evaluation."""
    data = data or Labelled.open()
    parts = base_parts(run, data, Path(params.synth.out_dir), paths.work, params.preprocess.jobs)
    training = concat(parts, paths.work / "mix")
    summary = _train(name, run, params, run.init_from, training, data, model=paths.model, work=paths.work,
                     live_dir=paths.metrics if paths.live else None, summary=paths.metrics / "summary.json")
    result = _evaluate(paths.model, params, data)
    write_evaluation(result, params.evaluate, name, metrics_path=paths.metrics / "evaluation.json", out_dir=paths.eval,
                     reader=(paths.model, paths.reader),
                     init_from=run.init_from, **_composition(parts))
    shutil.rmtree(paths.work, ignore_errors=True)
    return {**summary, "evaluation": result.metrics}


def selftrain(name: str, run: SelftrainRun, params: Params, paths: RunPaths, *, data: Labelled | None = None) -> list[dict]:
    """Self-train from ``run.init_from`` for ``run.rounds`` rounds; writes each round's
    pseudo-labels and metrics, and the last round's model and evaluation. Returns the rounds' metrics."""
    data = data or Labelled.open()
    unlabeled, found = unlabeled_store(run.unlabeled, paths.work / "unlabeled", resize=data.resize, width=data.width,
                                       limit=run.max_unlabeled, seed=run.seed, preprocess=params.preprocess)
    parts = base_parts(run, data, Path(params.synth.out_dir), paths.work, params.preprocess.jobs)
    settings = params.evaluate
    decoder = make_decoder(settings.decoder, settings)  # the pseudo-labels' reader
    current, rounds = Path(run.init_from), []
    for r in range(1, run.rounds + 1):
        work, last = paths.work / f"round-{r}", r == run.rounds
        pseudo = read_confidently(current, unlabeled, data.validation, threshold=run.threshold, clean=params.clean,
                                  batch_size=params.evaluate.batch_size, decoder=decoder)
        write_csv(paths.pseudo / f"round-{r}" / "pseudo-labels.csv", pseudo.csv())
        log.info("round %d: %d of %d unlabelled images kept as labels (calibrated confidence >= %g; "
                 "about %s of them right)", r, pseudo.counts["kept"], pseudo.counts["read"], run.threshold,
                 "?" if pseudo.counts["estimated_precision"] is None else f"{pseudo.counts['estimated_precision']:.0%}")
        if not pseudo.counts["kept"]:
            log.warning("round %d: no reading reached the threshold %g; this round trains on the labelled data only",
                        r, run.threshold)
        labels = pseudo.labels
        mix = [*parts, Part(unlabeled, 1, labels["row"].to_numpy(), labels["IDENTITY"].tolist())]
        training = concat(mix, work / "mix")
        model = paths.model if last else work / "model.pt"
        summary = _train(f"{name}-round-{r}", run, params, current, training, data, model=model, work=work,
                         live_dir=None, summary=work / "summary.json")
        shutil.rmtree(work / "mix", ignore_errors=True)  # the next round makes its own
        result = _evaluate(model, params, data)
        record = round_metrics(r, run, current, found, pseudo.counts, _composition(parts), summary, result, params)
        write_json(paths.metrics / f"round-{r}.json", record)
        rounds.append(record)
        current = model
    write_evaluation(result, params.evaluate, name, metrics_path=paths.metrics / "evaluation.json", out_dir=paths.eval,
                     reader=(paths.model, paths.reader),
                     init_from=run.init_from, rounds=run.rounds, **_composition(parts))
    shutil.rmtree(paths.work, ignore_errors=True)
    return rounds


def round_metrics(r: int, run: SelftrainRun, start: Path, found: dict, pseudo: dict, composition: dict,
                  summary: dict, result: Evaluation, params: Params) -> dict:
    """What one round did and what its model reads: pseudo-labels kept of the images read, the
    validation figures of the kept weights (greedy, as training measures them) and the evaluation's
    (``evaluation``: on ``evaluate.split``, with ``evaluate.decoder``)."""
    m = result.metrics
    return {
        "round": r, "init_from": str(start), "threshold": run.threshold,
        "unlabeled": {**found, **pseudo}, "pseudo_labels": pseudo["kept"], **composition,
        "train_images": summary["train_images"], "steps": summary["steps"], "best_step": summary["best_step"],
        "validation": {k: summary["validation"][k] for k in ("word_accuracy", "letter_accuracy", "cer")},
        "evaluation": {"split": params.evaluate.split, "decoder": m["decoder"], "word_accuracy": m["word_accuracy"],
                       "cer": m["cer"], "word_accuracy_at_coverage": m["word_accuracy_at_coverage"], "ece": m.get("ece")},
    }
