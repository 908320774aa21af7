import atexit
import os
import shutil
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# replays of training runs (workbench.replay) go to a scratch folder, never the user's cache
if "WORKBENCH_CACHE_DIR" not in os.environ:
    os.environ["WORKBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="workbench-replay-")
    atexit.register(shutil.rmtree, os.environ["WORKBENCH_CACHE_DIR"], ignore_errors=True)

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
