"""The hwr command: recognise images with a trained model, export it, serve it, make data.

Its help (DESCRIPTION, each subcommand's description and example) is what a person reads in a
terminal, so it is plain text; hwr.app.options formats it and keeps the parser's errors one line.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from hwr import __version__
from hwr import params as params_module
from hwr.app import options
from hwr.core import layout
from hwr.core.errors import HwrError, exit_codes
from hwr.core.layout import RNNS
from hwr.params import DECODERS, Params


def model_path(args, project: Path | None, params: Params | None, params_file: Path | None) -> Path | list[Path]:
    """``--model`` (given twice or more: the list, read together), else, in the project this folder
    belongs to, the *full* model of the family ``--rnn`` names, or without it the run params'
    ``reader`` names: its reader file (readers/<run>.pt, which carries its decoder, calibration and
    lexicon) once evaluated, else the bare model training wrote."""
    if args.model:
        return Path(args.model[0]) if len(args.model) == 1 else [Path(m) for m in args.model]
    if project is None:
        raise HwrError(f"no --model given and no hwr project ({layout.PROJECT_MARKER}) in this folder or above; "
                       "give --model FILE (a readers/<run>.pt, a model.pt or an exported .onnx)")
    run = layout.run_name(args.rnn, "full") if args.rnn else \
        (params or params_module.load(params_file)).reader  # no params file: its one-line error
    reader = layout.reader_file(run, project)
    return reader if reader.is_file() else layout.model_file(run, project)


def reading_predictor(args, batch_size: int = 64):
    """The model to read with (:func:`model_path`), opened once, with its decoder.

    A model that carries what reading needs (a reader file, or an ONNX file exported from one) reads
    with its own decoder, calibration and lexicon; ``--decoder`` and ``--lexicon DIR`` override them.
    A bare model reads with the project's ``evaluate.decoder`` and lexicon (greedy where there is no
    lexicon), uncalibrated: nothing is looked up by the model's folder name."""
    from hwr.app.predictor import open_model
    from hwr.decoding.bundle import reading_decoder
    from hwr.decoding.lexicon import lexicon_built

    _positive(args.top_k, "--top-k")  # before the params and the model are read: the option's own error
    params_file = Path(args.params) if args.params else None
    project = params_file.parent if params_file else layout.find_project()
    if params_file is None and project is not None:
        params_file = project / layout.PARAMS_FILE
    params = params_module.load(params_file) if params_file is not None and params_file.is_file() else None
    predictor = open_model(model_path(args, project, params, params_file), batch_size=batch_size, device=args.device)
    lexicon_dir = Path(args.lexicon) if args.lexicon else None
    name, settings, hwr_log = args.decoder, None, logging.getLogger("hwr")
    if predictor.reading is None:
        settings = params.evaluate if params else None
        if lexicon_dir is None and project is not None and lexicon_built(project / layout.LEXICON_DIR):
            lexicon_dir = project / layout.LEXICON_DIR
        if name is None and settings is not None and settings.decoder != "greedy" and lexicon_dir is None:
            # a bare model with no lexicon at hand (a fresh clone, a model brought from elsewhere): read
            # greedily rather than fail; --decoder asks explicitly
            hwr_log.warning("%s carries no lexicon and this project has none yet (dvc repro evaluate writes "
                            "readers/<run>.pt, which does): reading with the greedy decoder", predictor.path)
            name = "greedy"
        elif args.top_k == 1:
            hwr_log.warning("%s carries no calibration: confidences are the decoder's raw scores (a reader file, "
                            "readers/<run>.pt, carries its calibration)", predictor.path)
    predictor.decoder = reading_decoder(predictor.reading, name=name, settings=settings, lexicon_dir=lexicon_dir,
                                        top_k=args.top_k, where=str(predictor.path))
    return predictor


def _positive(value: int, option: str) -> int:
    if value < 1:
        raise HwrError(f"{option} must be a positive whole number, not {value}")
    return value


def _not_negative(value: int, option: str) -> int:
    if value < 0:
        raise HwrError(f"{option} must be 0 or a positive whole number, not {value}")
    return value


def _predict(args) -> None:
    import numpy as np
    from tqdm import tqdm

    from hwr.app import output
    from hwr.data import sources

    batch_size = _positive(args.batch_size, "--batch-size")
    found = sources.find_images(args.inputs, stdin=sys.stdin)
    if not found.paths and not found.skips:
        raise HwrError(f"no images found in {' '.join(args.inputs)}; hwr reads files ending in "
                       f"{', '.join(sorted(sources.IMAGE_SUFFIXES))} ({found.ignored} other "
                       f"file{'s' if found.ignored != 1 else ''} ignored)")
    predictor = reading_predictor(args, batch_size)
    line = output.json_line if args.json else output.tsv_line
    skips, read = list(found.skips), 0
    for skip in skips:
        print(skip.message(), file=sys.stderr)
    target = output.open_target(args.output) if args.output else contextlib.nullcontext(sys.stdout)
    progress = tqdm(total=len(found.paths), unit="image", file=sys.stderr, leave=False,
                    disable=not sys.stderr.isatty() or len(found.paths) <= batch_size)
    try:
        with target as out, progress:
            for start in range(0, len(found.paths), batch_size):
                chunk = found.paths[start : start + batch_size]
                images, names = [], []
                for path in chunk:
                    image = sources.load_image(path, predictor.resize, predictor.width)
                    if isinstance(image, sources.Skip):
                        skips.append(image)
                        progress.write(image.message(), file=sys.stderr)
                    else:
                        images.append(image)
                        names.append(path)
                if images:
                    out.writelines(line(name, reading) for name, reading in zip(names, predictor.read(np.stack(images))))
                    out.flush()
                    read += len(images)
                progress.update(len(chunk))
    except BrokenPipeError:  # the reader stopped early (hwr predict ... | head): end quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except OSError as exc:  # reading images is OSError-proof (sources.load_image): this is the output file
        raise HwrError(f"{args.output or 'standard output'}: cannot write ({exc.strerror or exc})") from None
    if skips or found.ignored or args.output:
        print(sources.summary(read, skips, found.ignored) + (f"; wrote {args.output}" if args.output else ""),
              file=sys.stderr)
    if skips:
        sys.exit(1)


def _export(args) -> None:
    from hwr.app.export import export_onnx

    meta = export_onnx(args.model, args.out, opset=_positive(args.opset, "--opset"))
    print(f"wrote {args.out}: ONNX opset {meta['opset']}, dynamic batch, input uint8 (N, 64, {meta['width']}), "
          f"{meta['rnn'].upper()}, resize {meta['resize']}")


def _serve(args) -> None:
    from hwr.app import serve

    limits = serve.Limits(max_files=_positive(args.max_files, "--max-files"),
                          max_file_bytes=_positive(args.max_file_bytes, "--max-file-bytes"),
                          max_pixels=_positive(args.max_pixels, "--max-pixels"),
                          max_active=_positive(args.max_active, "--max-active"),
                          max_waiting=_not_negative(args.max_waiting, "--max-waiting"),
                          # uvicorn's own cap stays far above the queue: only a safety net
                          max_connections=max(serve.Limits.max_connections, 2 * (args.max_active + args.max_waiting)))
    options.check_port(args.host, args.port)  # before the model loads and the banner says "serving"
    predictor = reading_predictor(args)
    app = serve.load_app(predictor, limits=limits)
    host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address, as a URL writes it
    print(f"serving {predictor.path} ({predictor.backend}, {predictor.decoder.name} decoder) on http://{host}:{args.port}/ - Ctrl-C stops",
          file=sys.stderr)
    serve.run(app, host=args.host, port=args.port)


def _calibrate(args) -> None:
    from hwr.app.calibrate import calibrate_model

    out = calibrate_model(args.model, args.data, args.output, split=args.split, lexicon_dir=args.lexicon,
                          device=args.device)
    print(f"wrote {args.output}: {out['decoder']} decoder calibrated on {out['images']} {args.split} images of "
          f"{args.data} (word accuracy {100 * out['word_accuracy']:.1f} %, most confident half "
          f"{100 * out['most_confident_half']:.1f} %; mean confidence {100 * out['mean_confidence_before']:.1f} % "
          f"-> {100 * out['mean_confidence_after']:.1f} %)")


def _synth(args) -> None:
    from hwr.synth import generate_dataset, render_preview

    target = args.preview or args.out_dir
    if not target:
        raise HwrError("synth: give OUT_DIR (where the zips and CSVs go) or --preview FILE.png")
    if not args.preview and Path(target).exists() and not Path(target).is_dir():
        raise HwrError(f"synth: {target} is a file, not a folder; give a folder for the zips and CSVs")
    _positive(args.count, "--count")
    for option in ("train", "validation", "test", "seed"):  # 0 images in a split: that split is empty
        _not_negative(getattr(args, option), f"--{option}")
    if args.jobs is not None:
        _positive(args.jobs, "--jobs")
    try:
        if args.preview:
            render_preview(args.preview, n=args.count, seed=args.seed)
            print(f"wrote {args.preview}")
            return
        sizes = {"train": args.train, "validation": args.validation, "test": args.test}
        stats = generate_dataset(args.out_dir, sizes, seed=args.seed, jobs=args.jobs, progress=True)
    except ValueError as exc:
        raise HwrError(f"synth: {exc}") from None
    except OSError as exc:  # e.g. a parent that is a file, a read-only folder, a full disk
        culprit = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(target) else ""
        raise HwrError(f"synth: cannot write {target}: {exc.strerror or exc}{culprit}; "
                       "choose a writable place") from None
    for split, s in stats.items():
        print(f"{split}: {s['images']} images")


def _overrides(args) -> None:
    base = Path(args.params) if args.params else (layout.find_project() or Path.cwd()) / layout.PARAMS_FILE
    print(" ".join(params_module.override_arguments(args.file, base)))


DESCRIPTION = "hwr: recognise handwritten names with a trained model, export it, serve it, make data."
EXAMPLES = """\
Examples:
  hwr predict scans/ --json -o names.jsonl       read a folder of scans into JSON lines
  hwr export readers/gru-full.pt gru.onnx        the model for onnxruntime, without torch
  hwr serve --port 9000                          a web page at http://127.0.0.1:9000/
  hwr synth --preview sheet.png                  a contact sheet of synthetic names
  dvc exp run $(hwr overrides configs/study.yaml)

hwr COMMAND --help gives a command's options, their defaults and an example."""


def _subcommand(sub, name: str, summary: str, description: str, example: str) -> argparse.ArgumentParser:
    heading = "Examples" if "\n" in example else "Example"
    return sub.add_parser(name, help=summary, description=description, epilog=f"{heading}:\n{example}")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", help="a model file: readers/<run>.pt (carries its decoder, "
                   "calibration and lexicon), models/<run>/model.pt, or an exported .onnx; given twice or more "
                   "(torch files), each reads and the readings are combined per name (default: readers/<reader>.pt "
                   "of the project here or above, reader as its params.yaml names it, else models/<reader>/model.pt)")
    p.add_argument("--rnn", choices=RNNS, help="read with the study's full model of this family, <rnn>-full, instead "
                   "of the project's reader")
    p.add_argument("--params", help="params file that selects the model (default: the project's params.yaml)")
    p.add_argument("--device", help="torch models: cpu, cuda, cuda:1 ... (default: cuda when present)")
    p.add_argument("--decoder", choices=DECODERS,
                   help="greedy, beam (+ character model) or lexicon (+ known names) (default: the one the model "
                        "carries, else the project's evaluate.decoder, else greedy)")
    p.add_argument("--lexicon", metavar="DIR", help="a lexicon folder (names.csv + chars.arpa, as the lexicon stage "
                   "writes data/lexicon) instead of the one the model carries")
    p.add_argument("--top-k", type=int, default=1, help="also give the next K-1 candidates (beam, lexicon)")


def build_parser() -> argparse.ArgumentParser:
    from hwr.app.export import OPSET
    from hwr.app.serve import Limits
    from hwr.params import SynthParams

    sizes = SynthParams().sizes  # `hwr synth` makes what the synth stage makes by default

    parser = options.Parser(prog="hwr", description=DESCRIPTION, epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=f"hwr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _subcommand(sub, "predict", "recognise handwritten names in image files",
                    "Recognise the name in each image: one line per image on standard output, TSV (path, text,\n"
                    "confidence) or JSON lines. Files that cannot be read are named on standard error and skipped.",
                    "  hwr predict scans/ --json -o names.jsonl   a folder, read recursively, into a file\n"
                    "  find /data -name '*.png' | hwr predict -   paths on standard input")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders (read recursively), globs, or - for paths on standard input")
    _model_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object a line instead of TSV")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write the results to FILE, whole or not at all (a FIFO or /dev/stdout: as they come)")
    p.add_argument("--batch-size", type=int, default=64, help="images read at once")
    p.set_defaults(func=_predict)

    e = _subcommand(sub, "export", "export a model to ONNX (runs on onnxruntime, without torch)",
                    "Write a model as ONNX, with its family, resize mode and alphabet in the file's metadata, and,\n"
                    "from a reader file (readers/<run>.pt), its decoder, calibration and lexicon.",
                    "  hwr export readers/gru-full.pt gru.onnx && hwr predict scans/ --model gru.onnx")
    e.add_argument("model", metavar="MODEL.pt", help="a model file: readers/<run>.pt, or a model.pt training wrote")
    e.add_argument("out", metavar="OUT.onnx", help="the ONNX file to write")
    e.add_argument("--opset", type=int, default=OPSET, help="ONNX opset")
    e.set_defaults(func=_export)

    v = _subcommand(sub, "serve", "a web page and JSON API that read uploaded scans and drawings",
                    "Serve a page that reads dropped scans and names drawn on it, and a JSON API:\n"
                    "POST /predict (multipart/form-data files), GET /health. Ctrl-C stops it.",
                    "  hwr serve --model gru.onnx --port 9000   then open http://127.0.0.1:9000/")
    _model_options(v)
    v.add_argument("--host", default="127.0.0.1",
                   help="address to listen on: 127.0.0.1 answers this machine only, 0.0.0.0 every network")
    v.add_argument("--port", type=options.port, default=8000, help="TCP port to listen on, 1 to 65535")
    v.add_argument("--max-files", type=int, default=Limits.max_files, help="images per request")
    v.add_argument("--max-file-bytes", type=int, default=Limits.max_file_bytes, help="bytes per image")
    v.add_argument("--max-pixels", type=int, default=Limits.max_pixels, help="pixels per image (width x height)")
    v.add_argument("--max-active", type=int, default=Limits.max_active, help="requests read and recognised at once")
    v.add_argument("--max-waiting", type=int, default=Limits.max_waiting,
                   help="requests waiting their turn; past them a request gets 503 with Retry-After")
    v.set_defaults(func=_serve)

    c = _subcommand(sub, "calibrate", "calibrate a model's confidences on your own labelled scans",
                    "Read a labelled split of your scans (Kaggle layout: <split>_v2.zip and\n"
                    "written_name_<split>_v2.csv) with the decoder the model carries, fit what each confidence\n"
                    "means there (the share of readings that are right), and write the model again carrying it.",
                    "  hwr calibrate readers/gru-full.pt data/mine -o readers/gru-full-mine.pt")
    c.add_argument("model", metavar="MODEL.pt", help="a reader file (readers/<run>.pt) or a model.pt")
    c.add_argument("data", metavar="DATA_DIR", help="a folder in the Kaggle layout holding the split")
    c.add_argument("--output", "-o", metavar="OUT.pt", required=True, help="the calibrated model file to write")
    c.add_argument("--split", default="validation", help="the split to calibrate on (not the one you report)")
    c.add_argument("--lexicon", metavar="DIR", help="a lexicon folder instead of the one the model carries")
    c.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    c.set_defaults(func=_calibrate)

    s = _subcommand(sub, "synth", "generate a synthetic dataset in the Kaggle layout",
                    "Render synthetic handwritten names into <split>_v2.zip and written_name_<split>_v2.csv,\n"
                    "as the Kaggle dataset has them; the same --seed and sizes give the same files.",
                    "  hwr synth data/synth --train 2000 --validation 200 --test 200\n"
                    "  hwr synth --preview sheet.png --count 24   a contact sheet to look at, no dataset")
    s.add_argument("out_dir", nargs="?", metavar="OUT_DIR",
                   help="output folder for <split>_v2.zip and written_name_<split>_v2.csv")
    for split in ("train", "validation", "test"):
        s.add_argument(f"--{split}", type=int, default=sizes[split], help=f"images in the {split} split")
    s.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same images")
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    s.add_argument("--preview", metavar="FILE.png", help="write a contact sheet of samples instead")
    s.add_argument("--count", type=int, default=48, help="samples on the contact sheet (--preview)")
    s.set_defaults(func=_synth)

    o = _subcommand(sub, "overrides", "a file of params.yaml changes as the -S options of dvc exp run",
                    "Print the dvc exp run options that apply an overrides file (the keys of params.yaml it\n"
                    "changes), after checking every key and the params they make.",
                    "  dvc exp run $(hwr overrides configs/study.yaml)")
    o.add_argument("file", metavar="FILE", help="an overrides file, e.g. configs/study.yaml")
    o.add_argument("--params", help="the params file it changes (default: the project's params.yaml)")
    o.set_defaults(func=_overrides)
    return parser

def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    with exit_codes():
        args.func(args)


if __name__ == "__main__":
    main()
