"""The project's folder layout and run names, written once: stages, the ``hwr`` command, the
adaptation runs, the comparison report, benchmarks and experiments all ask here.

Paths are relative to the project root (the folder with ``dvc.yaml`` and ``params.yaml``), as the
stages run there; give ``root`` to place them in another project.
"""

from __future__ import annotations

import re
from pathlib import Path

from hwr.core.errors import HwrError

RNNS = ("gru", "lstm")  # the study's two recurrent families (hwr.model.crnn builds each)
CNNS = ("study", "wide")  # the CRNN's architectures (hwr.model.crnn.ARCHITECTURES): the study's, a stronger one
SUBSETS = ("first", "full")  # the study's two training subsets (train.subsets)
SPLITS = ("train", "validation", "test")
# the study's four runs (train.runs holds them and any others): the comparison's columns, in table order
STUDY_RUNS = tuple(f"{rnn}-{subset}" for subset in SUBSETS for rnn in RNNS)
# names of finetune / selftrain runs: they name a stage (finetune@NAME), a param path
# (finetune.runs.NAME, where a dot would split it) and folders (models/NAME)
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

# a dataset in the Kaggle layout: one zip of images and one label CSV per split (data.zip_name, data.csv_name)
KAGGLE_ZIP = "{split}_v2.zip"
KAGGLE_CSV = "written_name_{split}_v2.csv"

PROJECT_MARKER = "dvc.yaml"
PARAMS_FILE = Path("params.yaml")
PARAMS_CHECKED = Path("data/params.checked")  # check_params' output: every stage runs after it
INTERIM = Path("data/interim")  # unzip: each split's rows with where its image is in the zip
CLEAN = Path("data/clean")  # clean: each split's rows that passed the label rules
TENSORS = Path("data/tensors")  # preprocess: one store of 64 x preprocess.width images per split
LEXICON_DIR = Path("data/lexicon")  # lexicon: names and character model for beam decoding
METRICS = Path("metrics")
FIGURES = METRICS / "figures"
COMPARISON = METRICS / "comparison"  # .md and .json: every figure of the four runs, for people
RUN_METRICS = METRICS / "runs.json"  # the four runs' headline figures: what `dvc exp show` lists
PLOTS_PAGE = METRICS / "plots-page.html"  # dvc plots show's page template, scripts inline (.dvc/config)
HEADLINE = METRICS / "metrics.json"  # the headline figures of the model `rnn` names


def split_files(raw_dir: str | Path, split: str, zip_name: str = KAGGLE_ZIP,
                csv_name: str = KAGGLE_CSV) -> tuple[Path, Path]:
    """The zip and label CSV of ``split`` in a dataset folder (the Kaggle names unless told otherwise)."""
    raw_dir = Path(raw_dir)
    return raw_dir / zip_name.format(split=split), raw_dir / csv_name.format(split=split)


def run_name(rnn: str, subset: str) -> str:
    return f"{rnn}-{subset}"


def check_train_run(stage: str, name: str, runs: dict):
    """The settings of the train stage's run ``name`` (``runs``: params' train.runs); an unknown name
    is a one-line error."""
    if name not in runs:
        raise HwrError(f"{stage}: unknown run {name!r}; params.yaml's train.runs has {', '.join(runs)}")
    return runs[name]


def stage_metrics(stage: str, root: Path = Path(".")) -> Path:
    """metrics/<stage>.json: the bookkeeping of the data stages (unzip, clean, preprocess, lexicon)."""
    return root / METRICS / f"{stage}.json"


def model_file(run: str, root: Path = Path(".")) -> Path:
    """models/<run>/model.pt: what a train, finetune or selftrain run writes."""
    return root / "models" / run / "model.pt"


def reader_file(run: str, root: Path = Path(".")) -> Path:
    """readers/<run>.pt: the model with what reading it needs (decoder and settings, calibration,
    lexicon), written by its evaluation: what ``hwr predict`` reads, and the artifact to share."""
    return root / "readers" / f"{run}.pt"


def eval_dir(run: str, root: Path = Path(".")) -> Path:
    """eval/<run>/: predictions, confusion pairs, coverage and calibration of one model."""
    return root / "eval" / run


def calibration_file(run: str, root: Path = Path(".")) -> Path:
    return eval_dir(run, root) / "calibration.json"


def eval_metrics(run: str, root: Path = Path(".")) -> Path:
    """metrics/eval/<run>.json: the evaluate stage's figures of one trained model."""
    return root / METRICS / "eval" / f"{run}.json"


def train_metrics(run: str, root: Path = Path(".")) -> Path:
    """metrics/train/<run>/: the training summary and dvclive curves of one run."""
    return root / METRICS / "train" / run


def train_curve(run: str, metric: str, root: Path = Path(".")) -> Path:
    """A validation curve dvclive writes for one run (metric: word_accuracy, cer, ...)."""
    return train_metrics(run, root) / "plots" / "metrics" / "validation" / f"{metric}.tsv"


def checkpoint_file(run: str, root: Path = Path(".")) -> Path:
    """checkpoints/<run>.pt: where an interrupted training resumes from (not a DVC output)."""
    return root / "checkpoints" / f"{run}.pt"


def adaptation_metrics(stage: str, run: str, root: Path = Path(".")) -> Path:
    """metrics/<stage>/<run>/ of a finetune or selftrain run."""
    return root / METRICS / stage / run


def adaptation_work(stage: str, run: str, root: Path = Path(".")) -> Path:
    """checkpoints/<stage>/<run>/: a finetune or selftrain run's scratch, removed when it finishes."""
    return root / "checkpoints" / stage / run


def find_project(start: Path | None = None) -> Path | None:
    """The nearest folder, ``start`` (default: this one) or above, that holds an hwr project, as git
    finds its root."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / PROJECT_MARKER).is_file()), None)
