"""Shared fixtures: paths, the real-data folder (tests that need it skip when it is absent)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import settings

# Property-based tests (tests/test_fuzz_*.py): few, reproducible examples in CI; a long run is a
# benchmark: `pytest tests/test_fuzz_readers.py --hypothesis-profile=long`.
settings.register_profile("ci", max_examples=50, deadline=timedelta(seconds=10), derandomize=True)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_BASE = "https://w3id.org/passerelles/"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the expected outputs of golden tests from the current code",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def shared_data() -> Path:
    """The real open-data folder beside the project, or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (tests reading ../shared/data skip)")
    return SHARED_DATA
