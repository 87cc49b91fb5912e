"""Progress of long command-line work: a bar on a terminal, lines elsewhere."""
import contextlib
import re
import sys
import time


def steps(items, describe, *, file=None):
    """Yield each of ``items``, showing which one runs and how far along.

    On a terminal, a tqdm bar whose text is ``describe(item)``; while it
    shows, what the caller prints to standard output goes through tqdm, so
    a table printed row by row is not broken by the bar (the bar is cleared
    before each line and drawn again below it).  Elsewhere (a log, a pipe,
    CI) one plain line per item with the elapsed time, so a log shows where
    a long run spent its time.
    """
    file = sys.stderr if file is None else file
    items = list(items)
    if getattr(file, "isatty", lambda: False)():
        from tqdm import tqdm

        bar = tqdm(items, file=file, unit="case", dynamic_ncols=True, leave=False)
        lines = _LinesAboveBar(bar, sys.stdout)
        with contextlib.redirect_stdout(lines):
            for item in bar:
                bar.set_description(describe(item))
                yield item
        lines.close()
        return
    start = time.perf_counter()
    for i, item in enumerate(items, 1):
        print(f"[{i}/{len(items)}, {time.perf_counter() - start:.0f} s] {describe(item)}",
              file=file, flush=True)
        yield item


class _LinesAboveBar:
    """Standard output while a bar shows: each whole line written with the
    bar cleared, the bar drawn again below it."""

    def __init__(self, bar, out):
        self.bar, self.out, self.pending = bar, out, ""

    def write(self, text):
        *lines, self.pending = (self.pending + text).split("\n")
        self._show(lines)
        return len(text)

    def _show(self, lines):
        if lines:
            self.bar.clear()
            self.out.write("".join(line + "\n" for line in lines))
            self.out.flush()
            self.bar.refresh()

    def flush(self):
        self.out.flush()

    def close(self):
        """Write what is left of an unfinished line."""
        if self.pending:
            self.out.write(self.pending)
            self.pending = ""
        self.out.flush()


@contextlib.contextmanager
def fit_progress(description, *, file=None):
    """While a ``verbose=1`` gradient-boosting fit runs inside: its lines of
    iterations (``[i/n] ...``) as a tqdm bar on a terminal -- the line's
    text after the count beside the bar -- and its other lines (the
    binning, a lost worker, the total) printed above it.  Elsewhere (a
    log, a pipe, CI) every line passes as it is."""
    file = sys.stderr if file is None else file
    if not getattr(file, "isatty", lambda: False)():
        yield
        return
    from tqdm import tqdm

    bar = tqdm(total=0, desc=description, file=file, unit="iter", dynamic_ncols=True,
               leave=False)
    lines = _IterationLines(bar, sys.stdout)
    try:
        with contextlib.redirect_stdout(lines):
            yield
    finally:
        lines.close()
        bar.close()


class _IterationLines(_LinesAboveBar):
    """Standard output of a verbose fit under a bar: lines of iterations
    move the bar, the others go above it."""

    ITERATION = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")

    def _show(self, lines):
        others = []
        for line in lines:
            match = self.ITERATION.match(line)
            if match is None:
                others.append(line)
                continue
            done, total, rest = match.groups()
            self.bar.total, self.bar.n = int(total), int(done)
            self.bar.set_postfix_str(rest, refresh=False)
            self.bar.refresh()
        super()._show(others)
