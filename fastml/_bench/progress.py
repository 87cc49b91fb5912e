"""Progress of long command-line work: a bar on a terminal, lines elsewhere."""
import contextlib
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
        if lines:
            self.bar.clear()
            self.out.write("".join(line + "\n" for line in lines))
            self.out.flush()
            self.bar.refresh()
        return len(text)

    def flush(self):
        self.out.flush()

    def close(self):
        """Write what is left of an unfinished line."""
        if self.pending:
            self.out.write(self.pending)
            self.pending = ""
        self.out.flush()
