"""Write ``docs/bad_inputs.md`` from :data:`bad_input_cases.CASES`, with each case's message as raised.

Run ``python tests/hardening/render_bad_inputs.py`` after changing a case or a message;
``test_bad_inputs.py`` fails while the committed page differs from this rendering.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bad_input_cases import CASES, run_case

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "bad_inputs.md"

INTRO = """# Bad inputs

Every public entry point checks its arguments before it does any work. This page lists {n} bad inputs
across the Python API and the `multisource` command, each with the error it gets; the test
`tests/hardening/test_bad_inputs.py` tries every one, and this page is generated from the same list
(`tests/hardening/bad_input_cases.py`, rendered by `python tests/hardening/render_bad_inputs.py`), so it
cannot drift from what the library raises.

The policy (issue 12, and the design's rule on bad input):

- the error names the argument and the valid range or the valid names, and is raised at the top of
  the public function, before any data is touched or any model is loaded;
- `NaN` and `inf` are refused wherever a finite number is meant (`inf` only where it is a documented
  limit, such as KL2019's `lambda = inf`);
- the error is a `ValueError` or `TypeError` (a `StoreError`, a `ValueError`, for stores) raised by
  `multisource` itself: the innermost traceback frame is never inside torch, scikit-learn, numpy or sqlite3;
- the command line exits with code 2 and prints one `error:` line (no traceback).

In the messages, `TMP` stands for a scratch folder.

| entry point | bad input | error | message |
| --- | --- | --- | --- |
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def render(tmp: Path | None = None) -> str:
    """The page: the intro and one table row per case with the message its call raises now."""
    rows = []
    for case in CASES:
        with tempfile.TemporaryDirectory(dir=tmp) as scratch:
            outcome = run_case(case, Path(scratch))
        error = outcome.error.__name__ if outcome.error is not None else "no error"
        if error == "SystemExit":
            error = "exit 2"
        rows.append(f"| `{case.entry}` | {_cell(case.given)} | {error} | {_cell(outcome.message)} |")
    return INTRO.format(n=len(CASES)) + "\n".join(rows) + "\n"


if __name__ == "__main__":
    DOCS_PAGE.write_text(render())
    print(f"wrote {DOCS_PAGE} ({len(CASES)} cases)")
