"""Every bad input of :data:`bad_input_cases.CASES` gets its documented error (issue 12, ``docs/bad_inputs.md``).

Each case must raise the listed type with the listed fragment (which names the argument and its valid
range), the message must name the argument the case spoils (``name=value`` or ``--flag value``), and the
innermost traceback frame must lie inside ``multisource/``, never in torch, sklearn, numpy or sqlite3.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bad_input_cases import CASES, Case, run_case
from render_bad_inputs import DOCS_PAGE, render

_SPOILED = re.compile(r"(?:^--(?P<flag>[\w-]+) |(?P<name>\w+)=(?P<value>[\w.\"'-]+))")


def _case_id(case: Case) -> str:
    return f"{case.entry}: {case.given}"


def _innermost_file(traceback_text: str) -> str:
    frames = re.findall(r'File "([^"]+)"', traceback_text)
    return frames[-1] if frames else ""


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_bad_input_gets_its_error(case: Case, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path)
    assert outcome.error is not None and issubclass(outcome.error, case.error), outcome
    assert case.message in outcome.message, outcome.message
    # the argument the case spoils (its last ``name=value`` or its ``--flag``, or ``case.argument``) is named,
    # or, for an unknown registry name, the refused value beside the valid names
    spoiled = list(_SPOILED.finditer(case.given))
    if case.argument or spoiled:
        last = spoiled[-1] if spoiled else None
        name = case.argument or (last.group("flag") or last.group("name") if last else "")
        value = (last.group("value") or "").strip("\"'") if last else ""
        named = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", outcome.message, re.IGNORECASE)
        assert named or (value and f"'{value}'" in outcome.message), (name, outcome.message)
    if outcome.traceback:
        assert "/multisource/" in _innermost_file(outcome.traceback), outcome.traceback


def test_cases_cover_every_public_package() -> None:
    packages = {case.entry.split(".")[0].split(" ")[0] for case in CASES}
    expected = {"data", "corruption", "discrepancy", "filtering", "aggregation", "federated", "learners"}
    expected |= {"optim", "compress", "bounds", "runner", "multisource"}
    assert expected <= packages
    assert len(CASES) >= 120


def test_docs_table_is_current(tmp_path: Path) -> None:
    assert DOCS_PAGE.read_text() == render(tmp_path), "run: python tests/hardening/render_bad_inputs.py"
