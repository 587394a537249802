"""The ``fastgd`` command (``python -m fastgd`` is the same).

.. code-block:: text

    fastgd demo [--plot DIR] [--backend NAME] [--quiet]
    fastgd fit DATA --target COL [--model linear|logistic|softmax] [--optimizer adam]
               [--lr 0.01] [--batch-size 32] [--epochs 10] ... [--out MODEL.npz]
               [--metrics METRICS.json]
    fastgd predict MODEL.npz DATA [--out PREDICTIONS.csv] [--proba]
    fastgd bench [--quick] [--json [FILE]]
    fastgd plot {losses,trajectories,lr,bench,all} [--out PATH] [--format png|svg]

``fastgd`` without a command prints the help. Each command has ``--help``.

- ``demo`` walks through gradient descent on data it generates (nothing is downloaded):
  the worked example (five weights, loss 452.564 at the start, minimum ``w_i = 25 / x_i``)
  step by step; batch, stochastic and mini-batch gradient descent on a regression problem;
  the classic optimizers side by side on a classification problem; the learning-rate
  effect (too small, right, too large). ``--plot DIR`` also draws the pictures.
- ``fit`` trains a linear model (:func:`fastgd.fit`) on a CSV file (a header row; the
  target named or numbered by ``--target``), a 2-D ``.npy`` array (``--target``: the
  target column's index), an ``.npz`` file (arrays ``X`` and ``y``, or those named by
  ``--x-key``/``--y-key``), a ``scipy.sparse.save_npz`` archive (its ``y`` array, or
  ``--target`` a column index) or an svmlight/libsvm file (``.svm``, ``.svmlight``,
  ``.libsvm``; ``--n-features``), the sparse ones as CSR (:mod:`fastgd.io.chunks`);
  writes the model (``--out``, see :func:`fastgd.io.model_file.save_model`) and the
  metrics with the history per epoch (``--metrics``, JSON). ``--chunk-rows N`` streams
  the file N rows at a time through :class:`fastgd.models.PartialFit` for ``--epochs``
  passes, holding one chunk in memory (``fastgd.cli.fit_stream``).
- ``predict`` applies a saved model to a CSV file (features matched by name; other
  columns are ignored), a ``.npy`` or an ``.npz`` file; writes CSV (or ``.npy``).
- ``bench`` times one optimizer step on fastgd's backends and, when torch is installed,
  torch.optim's for-loop, foreach and fused implementations; ``--json`` writes the
  results in pytest-benchmark's layout (``bench/report.py`` and ``fastgd plot bench``
  read it).
- ``plot`` draws the pictures of :mod:`fastgd.plot` (needs matplotlib:
  ``pip install "fastgd[plot]"``).

Progress bars (fit's epochs, bench's cases) are drawn on stderr when it is a terminal and
``--quiet`` is not given: tqdm's when tqdm is installed, else a plain counter line.

Exit status: 0 success; 1 a run that failed (training diverged, matplotlib or a backend
missing); 2 a usage error (a bad option, file, column or value); 130 interrupted. An error
is one line on stderr, ``fastgd <command>: error: <what>``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import fastgd
from fastgd import backends
from fastgd.cli._common import CLIError, Progress
from fastgd.cli.bench import _parse_sizes, cmd_bench
from fastgd.cli.demo import TRAJECTORIES, cmd_demo
from fastgd.cli.fit import cmd_fit, cmd_predict
from fastgd.cli.plot import cmd_plot
from fastgd.io.data import DataError
from fastgd.io.model_file import MODELS
from fastgd.models.params import Interval, cli_converter, cli_type
from fastgd.optim.registry import OPTIMIZERS, lookup

__all__ = ["main", "build_parser", "CLIError", "Progress"]

_SCHEDULES = ("constant", "optimal", "invscaling", "adaptive", "cosine", "plateau")
_PENALTIES = ("none", "l2", "l1", "elasticnet")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises :class:`CLIError` (one line, status 2)."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        raise CLIError(f"{message} (see '{self.prog} --help')", 2, prog=self.prog)


# the options' types: the rules of fastgd.fit's arguments (fastgd.models.params)
_batch_size = cli_type("batch_size", none_words=("full", "none", "all"))
_positive_int = cli_converter(Interval(Integral, 1, None, closed="left"))
_lr = cli_type("lr")
_epochs = cli_type("epochs")
_n_iter_no_change = cli_type("n_iter_no_change")
_tol = cli_type("tol")
_alpha = cli_type("alpha")
_l1_ratio = cli_type("l1_ratio")
_fraction = cli_type("validation_fraction")
_seed = cli_type("random_state")


def _optimizer_name(text: str) -> str:
    try:
        return lookup(text).__name__
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown optimizer {text!r} (choose one of "
                                         f"{', '.join(OPTIMIZERS)}, any case)") from None


def _option(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` for the optimizer's constructor; VALUE is a Python literal (a number,
    True/False, None, a tuple such as (0.9, 0.99)), else the text itself."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE (e.g. momentum=0.9), got "
                                         f"{text!r}")
    import ast
    value = value.strip()
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="print only what is asked for (no tables, no progress bars)")
    backend = _Parser(add_help=False)
    backend.add_argument("--backend", choices=backends.BACKENDS,
                         help="run on this backend (default: the active one, "
                              "FASTGD_BACKEND or the first that loads)")
    parser = _Parser(prog="fastgd", description="fastgd: gradient descent and its "
                     "optimizers, compiled, for NumPy arrays (python -m fastgd is the same).",
                     epilog="Run 'fastgd demo' for a tour; 'fastgd COMMAND --help' for a "
                            "command's options.")
    parser.add_argument("--version", action="version",
                        version=f"fastgd {fastgd.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("demo", parents=[common, backend],
                       help="a tour of gradient descent on generated data (a few seconds)",
                       description="What gradient descent does, on data the demo makes: "
                       "the worked example step by step; batch, stochastic and mini-batch "
                       "gradient descent; the classic optimizers side by side; the "
                       "learning-rate effect.")
    p.add_argument("--plot", metavar="DIR",
                   help="also write the pictures (losses, trajectories, lr) to DIR "
                        "(needs matplotlib)")
    p.add_argument("--format", choices=("png", "svg"), default="png",
                   help="picture format for --plot (default png)")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("fit", parents=[common, backend],
                       help="train a linear model on a CSV, .npy, .npz or svmlight file",
                       description="Train a linear model with fastgd.fit on a data file: a "
                       "CSV file with a header row, a 2-D .npy array, an .npz file with "
                       "arrays X and y, a scipy.sparse .npz (save_npz) or an svmlight/libsvm "
                       "file (.svm, .svmlight, .libsvm). With --chunk-rows, the file is "
                       "streamed in chunks (never read whole) through "
                       "fastgd.models.PartialFit. Defaults are fastgd.fit's.")
    p.add_argument("data", metavar="DATA",
                   help="a .csv, .npy, .npz, .svm, .svmlight or .libsvm file")
    p.add_argument("--target", metavar="COL",
                   help="the target column: a name (CSV) or an index (CSV, .npy, sparse "
                        ".npz; -1 is the last); required for CSV and .npy")
    p.add_argument("--x-key", default="X", help=".npz: the features array (default X)")
    p.add_argument("--y-key", default="y", help=".npz: the target array (default y)")
    p.add_argument("--model", choices=MODELS, default="linear",
                   help="linear (regression), logistic (2 classes) or softmax (k classes); "
                        "default linear")
    p.add_argument("--loss", help="linear: squared_error (default), half_squared_error, "
                                  "huber, epsilon_insensitive; logistic: log_loss "
                                  "(default), hinge")
    p.add_argument("--penalty", choices=_PENALTIES, default="none",
                   help="penalty on the coefficients (default none)")
    p.add_argument("--alpha", type=_alpha,
                   help="penalty strength (default 1e-4 with a penalty)")
    p.add_argument("--l1-ratio", type=_l1_ratio, default=0.15,
                   help="elasticnet's L1 share (default 0.15)")
    p.add_argument("--optimizer", type=_optimizer_name, default="SGD",
                   help="any optimizer of fastgd's registry, any case (default sgd)")
    p.add_argument("--lr", type=_lr, default=0.01,
                   help="learning rate (default 0.01)")
    p.add_argument("--opt", type=_option, action="append", metavar="NAME=VALUE",
                   help="another argument of the optimizer, e.g. --opt momentum=0.9 "
                        "--opt nesterov=true --opt 'betas=(0.9, 0.99)' (repeatable)")
    p.add_argument("--batch-size", type=_batch_size, default=32,
                   help="rows per step, or 'full' for batch gradient descent (default 32)")
    p.add_argument("--epochs", type=_epochs, default=10,
                   help="most passes over the data (default 10)")
    p.add_argument("--schedule", choices=_SCHEDULES,
                   help="learning-rate schedule: constant (default), scikit-learn's "
                        "optimal/invscaling/adaptive, cosine (CosineAnnealingLR over the "
                        "epochs) or plateau (ReduceLROnPlateau)")
    p.add_argument("--tol", type=_tol,
                   help="stop after --n-iter-no-change epochs improving the loss by less "
                        "than this (scikit-learn's rule); default: run every epoch")
    p.add_argument("--n-iter-no-change", type=_n_iter_no_change, default=5,
                   help="epochs without improvement before stopping (default 5)")
    p.add_argument("--seed", type=_seed,
                   help="random seed (shuffling, validation split); default: a fresh one, "
                        "recorded in the metrics")
    p.add_argument("--val-fraction", type=_fraction,
                   help="hold out this fraction of the rows; --tol then watches the "
                        "validation loss")
    p.add_argument("--standardize", action="store_true",
                   help="scale each feature to mean 0 and standard deviation 1 (saved with "
                        "the model and applied by predict)")
    p.add_argument("--chunk-rows", type=_positive_int, metavar="N",
                   help="stream the file N rows at a time (each chunk through partial_fit, "
                        "--epochs passes); memory holds one chunk")
    p.add_argument("--n-features", type=_positive_int, metavar="D",
                   help="svmlight: the number of features (default: the largest index + 1)")
    p.add_argument("--out", metavar="MODEL.npz", help="write the model")
    p.add_argument("--metrics", metavar="FILE.json",
                   help="write the final metrics and the history per epoch")
    p.set_defaults(run=cmd_fit)

    p = sub.add_parser("predict", parents=[common, backend],
                       help="apply a model saved by 'fastgd fit --out'",
                       description="Predict with a model saved by 'fastgd fit --out'. CSV "
                       "input: the features are the columns with the model's feature names "
                       "(others are ignored). Writes CSV (one column named after the "
                       "target; with --proba one per class), or a .npy array.")
    p.add_argument("model", metavar="MODEL", help="the .npz written by fastgd fit --out")
    p.add_argument("data", metavar="DATA", help="a .csv, .npy or .npz file")
    p.add_argument("--out", metavar="FILE", help="a .csv or .npy file (default: CSV on "
                                                 "stdout)")
    p.add_argument("--proba", action="store_true",
                   help="also write each class's probability (log_loss models; a .npy "
                        "output then holds the probabilities, one column per class)")
    p.add_argument("--x-key", default="X", help=".npz: the features array (default X)")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("bench", parents=[common],
                       help="time an optimizer step: fastgd's backends and torch.optim",
                       description="Time one optimizer step on one array for fastgd's "
                       "backends and, when torch is installed, torch.optim's for-loop, "
                       "foreach and fused implementations: medians of repeated rounds.")
    p.add_argument("--optimizer", choices=("Adam", "AdamW", "SGD", "RMSprop", "Adagrad"),
                   default="Adam", help="default Adam (SGD runs with momentum 0.9)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--sizes", type=_parse_sizes,
                   help="parameter counts, e.g. 1e3,1e5,1e6 (the default; --quick: 1e3,1e5)")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="threads for fastgd's compiled core and for torch (default 1)")
    p.add_argument("--repeats", type=_positive_int,
                   help="timed rounds per case (default 25; --quick: 7)")
    p.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    p.add_argument("--no-torch", action="store_true", help="leave torch out")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="write the results as JSON (pytest-benchmark's layout) to FILE, or "
                        "to stdout instead of the table")
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("plot", help="draw pictures (PNG or SVG; needs matplotlib)",
                       description="Draw the pictures of fastgd.plot (needs matplotlib: "
                       "pip install \"fastgd[plot]\").")
    kinds = p.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    kinds.required = True
    picture = _Parser(add_help=False)
    picture.add_argument("-o", "--out", metavar="PATH",
                         help="the file to write (default WHAT.png in the current folder)")
    picture.add_argument("--format", choices=("png", "svg"),
                         help="png or svg (default: the suffix of --out, else png)")
    q = kinds.add_parser("losses", parents=[common, backend, picture],
                         help="loss per epoch of the classic optimizers on one problem")
    q.add_argument("--epochs", type=_positive_int, default=10)
    q = kinds.add_parser("trajectories", parents=[common, backend, picture],
                         help="optimizer paths over a 2-D test function's contours")
    q.add_argument("--function", choices=tuple(TRAJECTORIES), default="rosenbrock")
    q.add_argument("--steps", type=_positive_int, help="steps per optimizer")
    kinds.add_parser("lr", parents=[common, backend, picture],
                     help="too small, right and too large learning rates")
    q = kinds.add_parser("bench", parents=[common, picture],
                         help="time per parameter against size from benchmark JSON")
    q.add_argument("json_file", metavar="JSON",
                   help="'fastgd bench --json' output or a pytest-benchmark JSON of bench/")
    q.add_argument("--optimizer", default="Adam", help="which optimizer's timings (Adam)")
    q.add_argument("--dtype", default="float32", help="which dtype's timings (float32)")
    q = kinds.add_parser("histories", parents=[common, picture],
                         help="one column of recorded histories per epoch, one line per "
                              "file")
    q.add_argument("history_files", metavar="JSON", nargs="+",
                   help="a JSON file with a 'history' object of columns ('fastgd fit "
                        "--metrics' output, bench/bench_lowp_accuracy.py's files); its "
                        "'label' names the line (default: the file name)")
    q.add_argument("--column", default="loss", help="the column to draw (loss)")
    q = kinds.add_parser("all", parents=[common, backend, picture],
                         help="losses, trajectories and lr (and bench with --bench) into "
                              "a folder (--out, default the current one)")
    q.add_argument("--bench", dest="bench_json", metavar="JSON",
                   help="also draw the benchmark chart from this JSON")
    q.add_argument("--function", choices=tuple(TRAJECTORIES), default="rosenbrock")
    q.add_argument("--steps", type=_positive_int, help="steps per optimizer")
    q.add_argument("--epochs", type=_positive_int, default=10)
    q.add_argument("--optimizer", default="Adam", help=argparse.SUPPRESS)
    q.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    p.set_defaults(run=cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastgd`` command with ``argv`` (default ``sys.argv[1:]``); return the
    exit status."""
    parser = build_parser()
    command = "fastgd"
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        command = f"fastgd {args.command}"
        return args.run(args)
    except (CLIError, DataError) as exc:
        command = getattr(exc, "prog", None) or command
        sys.stdout.flush()
        print(f"{command}: error: {exc.message}", file=sys.stderr)
        return getattr(exc, "status", 2)
    except KeyboardInterrupt:
        print(f"\n{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (fastgd ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
