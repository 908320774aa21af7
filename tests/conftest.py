import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

import workbench as wb  # noqa: E402


@pytest.fixture(scope="session")
def ds():
    """The embedded digits (loaded once per test session)."""
    return wb.load("digits")


@pytest.fixture
def seeded():
    torch.manual_seed(0)
    yield
