"""One ``fastml bench`` run: build the cases, time them, write the report."""
import sys

from fastml._bench import report
from fastml._bench.cases import BUILDERS, FAMILIES, PEERS, Settings, installed_peers
from fastml._bench.harness import machine_lines, measure
from fastml._bench.progress import steps

__all__ = ["FAMILIES", "PEERS", "run"]


def run(families=FAMILIES, *, quick=False, out_dir="fastml-bench", peers=tuple(PEERS),
        threads=2, scale=1.0, repeat=None, memory=True, file=None):
    """Run the benchmark cases of ``families``; return (results, paths written).

    Parameters
    ----------
    families : sequence of str
        Among `FAMILIES`.
    quick : bool
        Smaller data and fewer boosting rounds (under 2 minutes on 2 cores).
    out_dir : str
        Where report.md and the figures go.
    peers : sequence of str
        Among `PEERS`; those not installed are skipped with a note.
    threads : int
        Threads for every system.
    scale : float
        Multiplies every size (the test suite runs tiny sizes this way).
    repeat : int, default=None
        Timed runs per system: 3 when quick, else 5.
    memory : bool
        Measure each system's peak memory (one more call each).
    """
    from threadpoolctl import threadpool_limits

    file = sys.stdout if file is None else file
    unknown = sorted(set(families) - set(FAMILIES)) + sorted(set(peers) - set(PEERS))
    if unknown:
        raise ValueError(f"unknown families or peers {unknown}; families: {', '.join(FAMILIES)}; "
                         f"peers: {', '.join(PEERS)}")
    usable, missing = installed_peers(peers)
    for peer in missing:
        print(f"{peer}: not installed, skipped (pip install \"fastml[bench]\" installs every "
              "peer)", file=file)
    settings = Settings.for_run(quick, scale, usable, threads)
    repeat = repeat or (3 if quick else 5)
    results = []
    with threadpool_limits(threads):
        cases = []
        for family in steps(families, lambda f: f"preparing {f}"):
            cases += BUILDERS[family](settings)
        for case in steps(cases, lambda c: f"{c.family}: {c.name}, {c.n} x {c.d} {c.dtype}"):
            results.append(measure(case, repeat, memory=memory))
    paths = report.write(results, machine_lines(threads), out_dir)
    for family in dict.fromkeys(r.case.family for r in results):
        rows = [r for r in results if r.case.family == family]
        for peer in dict.fromkeys(p for r in rows for p in r.seconds if p != "fastml"):
            ratios = [r.speedup(peer) for r in rows if peer in r.seconds]
            print(f"{family:10s} vs {peer:9s}: fastml faster in {sum(v > 1 for v in ratios)} of "
                  f"{len(ratios)} cases, geometric-mean speed-up {report.geometric_mean(ratios):.2f}x",
                  file=file)
    print("wrote " + ", ".join(paths), file=file)
    return results, paths
