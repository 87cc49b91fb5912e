"""``fastml bench``'s report: a Markdown file of tables and PNG plots."""
import math
import os

FIGURE_WIDTH = 8.0


def _seconds(value):
    return f"{value:.3g}"


def _mib(value):
    return "n/a" if value is None else f"{value:.0f}"


def markdown(results, machine, title="fastml bench"):
    """The report as Markdown: the machine, then one table per family.

    A row gives each system's median seconds and peak memory, and fastml's
    speed-up over each peer (peer time / fastml time: above 1 where fastml
    is faster).
    """
    lines = [f"# {title}", "", *machine, "",
             "Speed-up = peer median time / fastml median time (above 1: fastml is faster). "
             "Peak MiB = growth of the process's resident high-water mark during one call.", ""]
    for family in dict.fromkeys(r.case.family for r in results):
        rows = [r for r in results if r.case.family == family]
        peers = list(dict.fromkeys(p for r in rows for p in r.seconds if p != "fastml"))
        columns = (["case", "n x d", "dtype", "fastml s"] + [f"{p} s" for p in peers]
                   + [f"speed-up vs {p}" for p in peers]
                   + ["peak MiB " + "/".join(["fastml"] + peers), "notes"])
        lines += [f"## {family}", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        for r in rows:
            c = r.case
            cells = [c.name, f"{c.n} x {c.d}", c.dtype, _seconds(r.seconds["fastml"])]
            cells += [_seconds(r.seconds[p]) if p in r.seconds else "" for p in peers]
            cells += [f"**{r.speedup(p):.2f}**" if p in r.seconds else "" for p in peers]
            cells.append("/".join(_mib(r.peak_mib.get(p)) for p in ["fastml"] + peers
                                  if p in r.seconds))
            cells.append("; ".join(r.notes))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")   # files only, no display needed
    import matplotlib.pyplot as plt
    return plt


def speedup_figure(results, family, path):
    """Bars of fastml's speed-up over each peer, one group per case."""
    plt = _pyplot()
    rows = [r for r in results if r.case.family == family and not r.case.sweep]
    rows += [r for r in results if r.case.family == family and r.case.sweep][-1:]
    peers = list(dict.fromkeys(p for r in rows for p in r.seconds if p != "fastml"))
    if not rows or not peers:
        return None
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 1.2 + 0.45 * len(rows) * len(peers)))
    height = 0.8 / len(peers)
    for k, peer in enumerate(peers):
        ys = [i + k * height for i, r in enumerate(rows) if peer in r.seconds]
        values = [r.speedup(peer) for r in rows if peer in r.seconds]
        bars = ax.barh(ys, values, height=height, label=f"vs {peer}")
        ax.bar_label(bars, labels=[f"{v:.2g}x" for v in values], padding=2, fontsize=8)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))],
                  [f"{r.case.name}\n{r.case.n} x {r.case.d} {r.case.dtype}" for r in rows],
                  fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel("speed-up of fastml (peer time / fastml time, log scale; > 1: fastml faster)")
    ax.set_title(f"fastml bench: {family}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)   # beside the bars
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scaling_figure(results, family, path):
    """Median time against rows, log-log, one line per system."""
    plt = _pyplot()
    rows = sorted((r for r in results if r.case.family == family and r.case.sweep),
                  key=lambda r: r.case.n)
    if len(rows) < 2:
        return None
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH * 0.75, 4.5))
    for system in dict.fromkeys(s for r in rows for s in r.seconds):
        points = [(r.case.n, r.seconds[system]) for r in rows if system in r.seconds]
        ax.plot(*zip(*points), marker="o", label=system,
                linewidth=2.5 if system == "fastml" else 1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows n")
    ax.set_ylabel("median seconds")
    ax.set_title(f"{family}: {rows[0].case.name}, d = {rows[0].case.d}, {rows[0].case.dtype}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(results, machine, out_dir):
    """Write report.md and the figures into ``out_dir``; the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for family in dict.fromkeys(r.case.family for r in results):
        for kind, draw in (("speedup", speedup_figure), ("scaling", scaling_figure)):
            path = draw(results, family, os.path.join(out_dir, f"{family}_{kind}.png"))
            if path:
                written.append(path)
    text = markdown(results, machine)
    if written:
        text += "\n## Figures\n\n" + "\n".join(
            f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in written) + "\n"
    report = os.path.join(out_dir, "report.md")
    with open(report, "w") as f:
        f.write(text)
    return [report] + written


def geometric_mean(values):
    values = [v for v in values if v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")
