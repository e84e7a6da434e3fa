"""README's tables of summary.csv and pairs.csv columns are the registry's (harness.keys)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.keys import PAIRS, SUMMARY, SUMMARY_EXTRA, columns_table
from harness.report.pairs import PAIRS_COLUMNS

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", ["summary.csv", "pairs.csv"])
def test_the_readme_table_matches_the_registry(name):
    m = re.search(rf"<!-- columns {re.escape(name)} -->\n(.*?)\n<!-- /columns -->", README.read_text(), re.S)
    assert m, f"README.md has no columns table for {name}"
    assert m.group(1) == columns_table(name), "regenerate it with harness.keys.columns_table"


def test_every_pairs_column_is_registered_with_a_meaning():
    assert list(PAIRS) == PAIRS_COLUMNS
    assert all(k.description for k in PAIRS.values())
    assert "speed_states" in SUMMARY_EXTRA and "accuracy_gap_pts" in SUMMARY
