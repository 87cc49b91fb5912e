"""Progress of long command-line work: a bar on a terminal, lines elsewhere."""
import sys
import time


def steps(items, describe, *, file=None):
    """Yield each of ``items``, showing which one runs and how far along.

    On a terminal, a tqdm bar whose text is ``describe(item)``; elsewhere
    (a log, a pipe, CI) one plain line per item with the elapsed time, so a
    log shows where a long run spent its time.
    """
    file = sys.stderr if file is None else file
    items = list(items)
    if getattr(file, "isatty", lambda: False)():
        from tqdm import tqdm

        bar = tqdm(items, file=file, unit="case", dynamic_ncols=True, leave=False)
        for item in bar:
            bar.set_description(describe(item))
            yield item
        return
    start = time.perf_counter()
    for i, item in enumerate(items, 1):
        print(f"[{i}/{len(items)}, {time.perf_counter() - start:.0f} s] {describe(item)}",
              file=file, flush=True)
        yield item
