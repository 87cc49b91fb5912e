"""``fastml bench``: the command runs, and writes a report and plots that open.

Tiny sizes (``--scale``) and one timed run: this checks the files and the
rows, never the timings.  The command runs in a temporary folder, so that
``python -m`` imports the installed fastml, not the source tree (whose
compiled kernels may not be built in place).
"""
import re
import subprocess
import sys

import pytest

from fastml._bench.cases import FAMILIES, PEERS, Settings, installed_peers

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "fastml", "bench", "distances", "transforms", "boosting", "dask",
         "--quick", "--scale", "0.02", "--repeat", "1", "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def table_rows(report, family):
    section = report.split(f"## {family}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ")][1:]


def test_report_has_a_row_per_case_and_a_column_per_installed_peer(bench_run):
    out, _ = bench_run
    report = (out / "report.md").read_text()
    assert "- CPU:" in report and "scikit-learn" in report and "threads: 1" in report
    usable, _ = installed_peers(tuple(PEERS))
    expected_peers = {"distances": {"sklearn", "scipy"}, "transforms": {"sklearn"},
                      "boosting": {"sklearn", "lightgbm", "xgboost"}, "dask": {"dask-ml"}}
    for family, peers in expected_peers.items():
        rows = table_rows(report, family)
        assert rows, family
        header = report.split(f"## {family}\n", 1)[1].splitlines()[1]
        for peer in peers & set(usable):
            assert f"speed-up vs {peer}" in header
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert re.fullmatch(r"\d+ x \d+", cells[1]), row
            assert float(cells[3]) > 0          # fastml's median seconds
    # the size series: one row per size
    assert len([r for r in table_rows(report, "distances") if r.startswith("| euclidean |")]) \
        == len(Settings.for_run(True, 0.02, (), 1).sizes)


def test_plots_open_as_images(bench_run):
    from PIL import Image

    out, done = bench_run
    for name in ("distances_speedup.png", "distances_scaling.png", "boosting_speedup.png",
                 "boosting_scaling.png", "transforms_speedup.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200
        assert f"({name})" in (out / "report.md").read_text()
        assert name in done.stdout       # the command says where it wrote them


def test_progress_lines_when_not_a_terminal(bench_run):
    _, done = bench_run
    # one line per family prepared and per case, with the elapsed time
    assert re.search(r"^\[1/\d+, 0 s\] preparing distances$", done.stderr, re.M)
    assert re.search(r"^\[\d+/\d+, \d+ s\] boosting: fit \+ predict", done.stderr, re.M)


def test_a_missing_peer_is_skipped_with_how_to_install_it(tmp_path):
    # faiss's module name pointed at one that does not exist, in the child only
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys, fastml._bench.cases as c; c.PEERS['faiss'] = 'not_a_module_here'; "
         "from fastml.cli import main; sys.exit(main(sys.argv[1:]))",
         "bench", "neighbors", "--scale", "0.02", "--quick", "--repeat", "1",
         "--peers", "sklearn,faiss", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'faiss: not installed, skipped (pip install "fastml[bench]"' in done.stdout
    report = (tmp_path / "report.md").read_text()
    assert "speed-up vs sklearn" in report and "faiss" not in report.split("## neighbors")[1]


def test_unknown_family_or_peer_is_an_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fastml", "bench", "distnces"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'distnces'" in done.stderr
    done = subprocess.run([sys.executable, "-m", "fastml", "bench", "--peers", "sklern",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 2 and "unknown families or peers ['sklern']" in done.stderr


def test_settings_scale_every_size():
    quick, full = Settings.for_run(True, 1, (), 2), Settings.for_run(False, 1, (), 2)
    assert quick.n < full.n and max(quick.sizes) < max(full.sizes)
    assert quick.iterations < full.iterations
    tiny = Settings.for_run(True, 0.01, (), 2)
    assert tiny.n == 20 and min(tiny.sizes) >= 20 and tiny.iterations >= 3
    assert set(FAMILIES) == {"distances", "neighbors", "transforms", "boosting", "dask"}


class _Terminal:
    """A text stream that says it is a terminal."""

    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere(capsys):
    import io

    from fastml._bench.progress import steps

    terminal = _Terminal()
    assert list(steps([1, 2, 3], lambda i: f"case {i}", file=terminal)) == [1, 2, 3]
    assert "case 3:" in terminal.text and "/3 [" in terminal.text   # tqdm redraws its bar
    log = io.StringIO()
    assert list(steps("ab", lambda c: f"step {c}", file=log)) == ["a", "b"]
    assert log.getvalue().splitlines() == ["[1/2, 0 s] step a", "[2/2, 0 s] step b"]


def test_fit_progress_is_a_bar_of_iterations_on_a_terminal(capsys):
    """A verbose fit's lines of iterations move a bar (the line's text
    beside it); its other lines print above it; elsewhere every line
    passes as it is."""
    import io

    from fastml._bench.progress import fit_progress

    terminal = _Terminal()
    with fit_progress("fitting", file=terminal):
        print("Binned 10 training rows")
        for i in range(1, 4):
            print(f"[{i}/3] 1 tree, 7 leaves, train loss 0.{i}, in 0.1s")
        print("Fit 3 iterations in 0.3s")
    assert capsys.readouterr().out.splitlines() == ["Binned 10 training rows",
                                                    "Fit 3 iterations in 0.3s"]
    assert "3/3" in terminal.text and "train loss 0.3" in terminal.text
    assert "fitting" in terminal.text
    with fit_progress("fitting", file=io.StringIO()):
        print("[1/3] 1 tree")
    assert capsys.readouterr().out == "[1/3] 1 tree\n"


def test_rows_printed_under_a_bar_stay_whole_lines(capsys, monkeypatch):
    """A table printed row by row while the bar shows (fastml demo): each
    row reaches standard output whole, written through tqdm, which clears
    the bar (on standard error) before the row and draws it again after."""
    from fastml._bench.progress import steps

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    for i in steps(range(3), lambda i: f"case {i}", file=terminal):
        print(f"row {i}:", "a", "b")
    assert capsys.readouterr().out.splitlines() == ["row 0: a b", "row 1: a b", "row 2: a b"]
    assert terminal.text.count("case 2") >= 2   # drawn, cleared for the row, drawn again
    print("after the bar")
    assert capsys.readouterr().out == "after the bar\n"   # standard output given back
