"""tools/notebooks.py: it refuses to store outputs timed on a busy machine, and says why."""

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("nbtool", ROOT / "tools" / "notebooks.py")
nbtool = importlib.util.module_from_spec(spec)
sys.modules["nbtool"] = nbtool             # dataclasses look their module up there
spec.loader.exec_module(nbtool)


def test_judge_accepts_a_quiet_machine():
    check = nbtool.judge([1.0, 1.02, 0.99, 1.01] * 10, load_per_core=0.3, reference_ms=0.98)
    assert check.quiet and check.reasons == [] and check.spread == pytest.approx(1.02 / 0.99, rel=0.02)


@pytest.mark.parametrize("samples, load, reference, reason", [
    ([1.0] * 40, 3.0, None, "load average 3.00 per core > 1.5"),
    ([1.0] * 30 + [4.0] * 10, 0.1, None, "calibration spread 4.00"),
    ([2.0] * 40, 0.1, 1.0, "2.00× slower than the quietest run recorded"),
])
def test_judge_names_why_the_machine_is_busy(samples, load, reference, reason):
    check = nbtool.judge(samples, load, reference)
    assert not check.quiet and any(reason in r for r in check.reasons), check.reasons


def test_judge_rejects_too_few_samples():
    with pytest.raises(ValueError, match="samples_ms"):
        nbtool.judge([1.0], 0.1, None)


def test_reference_keeps_the_quietest_median(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CALIBRATION", str(tmp_path / "cal.json"))
    assert nbtool.load_reference() is None
    nbtool.save_reference(2.0)
    nbtool.save_reference(3.0)
    assert nbtool.load_reference() == 2.0
    nbtool.save_reference(1.5)
    assert nbtool.load_reference() == 1.5


def test_calibration_samples_are_positive_milliseconds():
    samples = nbtool.calibration_samples(runs=5)
    assert len(samples) == 5 and all(s > 0 for s in samples)


def _tiny_notebook(path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)")])
    nbformat.write(nb, path)
    return path.read_text()


BUSY = nbtool.Check(5.0, 1.0, 3.0, None, ["load average 5.00 per core > 1.5: other processes compete for the CPU"])
QUIET = nbtool.Check(0.1, 1.0, 1.05, 1.0)


def test_execute_refuses_on_a_busy_machine_and_leaves_the_notebook(tmp_path, monkeypatch, capsys):
    path = tmp_path / "nb.ipynb"
    original = _tiny_notebook(path)
    monkeypatch.setattr(nbtool, "check_machine", lambda **kw: BUSY)
    monkeypatch.setattr(nbtool, "execute", lambda *a, **kw: pytest.fail("must not run on a busy machine"))
    assert nbtool.main(["execute", str(path)]) == nbtool.EXIT_BUSY
    err = capsys.readouterr().err
    assert "machine busy before running" in err and "load average 5.00" in err and "--force" in err
    assert path.read_text() == original


def test_execute_refuses_when_the_machine_got_busy_while_running(tmp_path, monkeypatch, capsys):
    path = tmp_path / "nb.ipynb"
    original = _tiny_notebook(path)
    checks = iter([QUIET, BUSY])
    monkeypatch.setattr(nbtool, "check_machine", lambda **kw: next(checks))
    monkeypatch.setattr(nbtool, "execute", lambda p, **kw: (0.1, nbformat.read(p, as_version=4)))
    assert nbtool.main(["execute", str(path)]) == nbtool.EXIT_BUSY
    assert "machine busy after running" in capsys.readouterr().err and path.read_text() == original


def test_force_stores_and_still_says_why(tmp_path, monkeypatch, capsys):
    path = tmp_path / "nb.ipynb"
    _tiny_notebook(path)
    monkeypatch.setattr(nbtool, "check_machine", lambda **kw: BUSY)

    def fake_execute(p, **kw):
        nb = nbformat.read(p, as_version=4)
        nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="2\n")]
        return 0.1, nb

    monkeypatch.setattr(nbtool, "execute", fake_execute)
    assert nbtool.main(["execute", "--force", str(path)]) == 0
    assert "stored although the machine was busy" in capsys.readouterr().err
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"] == "2\n"
