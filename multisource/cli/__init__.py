"""``multisource run | report | bound | prune``: one entry point, one module per command.

The commands only parse arguments and print; the work is done by the library's functions.

Each command module defines ``configure(parser)`` (adds its arguments) and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "run": ("multisource.cli.run", "run an experiment spec (TOML) into a resumable SQLite store"),
    "report": ("multisource.cli.report", "tables and figures of the rows in a store"),
    "bound": ("multisource.cli.bound", "bound terms, filter threshold and sample complexity for one setting"),
    "prune": (
        "multisource.cli.prune",
        "prune a causal LM one-shot (SparseGPT, Wanda, magnitude) and print dense vs pruned perplexity",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="multisource", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.configure(sub)
        sub.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
