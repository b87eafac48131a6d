"""The ``hwr`` command: recognise images with a trained model, and generate synthetic data.

    hwr predict IMAGE...            recognised text per image (model chosen by params `rnn`)
    hwr synth OUT_DIR --train N ... a synthetic dataset in the Kaggle layout
    hwr synth --preview sheet.png   a contact sheet of synthetic samples
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hwr.errors import HwrError
from hwr.params import DECODERS


def _predict(args) -> None:
    import numpy as np
    import torch

    from hwr import params as params_module
    from hwr.beam import make_decoder
    from hwr.checkpoints import load_model
    from hwr.images import UndecodableImage, to_model_input
    from hwr.inference import recognise
    from hwr.runtime import resolve_precision

    if args.model:
        model_path = Path(args.model)
    else:
        rnn = args.rnn or params_module.load(args.params).rnn
        model_path = Path("models") / f"{rnn}-full" / "model.pt"
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, config = load_model(model_path, device)
    decoder = make_decoder(args.decoder, args.params, top_k=args.top_k,
                           calibration=Path("eval") / model_path.parent.name / "calibration.json")
    resize = config.get("resize", "crop")  # preprocess exactly as the model was trained
    images, names, failed = [], [], 0
    for path in args.images:
        try:
            images.append(to_model_input(Path(path).read_bytes(), resize))
            names.append(path)
        except (OSError, UndecodableImage) as exc:
            print(f"{path}\terror: cannot read image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                  file=sys.stderr)
            failed += 1
    if images:
        readings, _ = recognise(model, np.stack(images), batch_size=args.batch_size, device=device,
                             dtype=resolve_precision("auto", device), decoder=decoder)
        for name, reading in zip(names, readings):
            print("\t".join([name, reading.text, *(text for text, _ in reading.alternatives)]))
    if failed:
        sys.exit(1)


def _synth(args) -> None:
    from hwr.synth import generate_dataset, render_preview

    if args.preview:
        render_preview(args.preview, n=args.count, seed=args.seed)
        print(f"wrote {args.preview}")
        return
    if not args.out_dir:
        raise HwrError("synth: give OUT_DIR (where the zips and CSVs go) or --preview FILE.png")
    sizes = {"train": args.train, "validation": args.validation, "test": args.test}
    try:
        stats = generate_dataset(args.out_dir, sizes, seed=args.seed, jobs=args.jobs, progress=True)
    except ValueError as exc:
        raise HwrError(f"synth: {exc}") from None
    for split, s in stats.items():
        print(f"{split}: {s['images']} images")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hwr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="recognise handwritten names in image files")
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    p.add_argument("--rnn", choices=["gru", "lstm"], help="model family (default: `rnn` in params.yaml)")
    p.add_argument("--model", help="a model file (default: models/<rnn>-full/model.pt)")
    p.add_argument("--params", default="params.yaml", help="params file that selects the model")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--decoder", choices=DECODERS,
                   help="greedy, beam (+ character model) or lexicon (+ known names) (default: evaluate.decoder)")
    p.add_argument("--top-k", type=int, default=1, help="also print the next K-1 candidates (beam, lexicon)")
    p.set_defaults(func=_predict)

    s = sub.add_parser("synth", help="generate a synthetic dataset in the Kaggle layout")
    s.add_argument("out_dir", nargs="?", help="output folder for <split>_v2.zip and written_name_<split>_v2.csv")
    s.add_argument("--train", type=int, default=16000)
    s.add_argument("--validation", type=int, default=1000)
    s.add_argument("--test", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    s.add_argument("--preview", metavar="FILE.png", help="write a contact sheet of samples instead")
    s.add_argument("--count", type=int, default=48, help="samples on the contact sheet")
    s.set_defaults(func=_synth)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        args.func(args)
    except HwrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
