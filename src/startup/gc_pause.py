"""The cyclic garbage collector waits until the first load has been tried.

Start-up builds some 90,000 long-lived objects (FastAPI's and pydantic's models,
botocore's service model) and almost no cyclic garbage: about 600 objects at ready.
With the collector on, CPython walks the growing heap again and again while it is
built: about 60 ms of CPU, a tenth of the time to ready on one core. So:

- `pause()`, first thing in src/main.py, turns the collector off;
- `settle()`, called by the lifespan once the first load has been tried (loaded or
  not), moves everything alive into the permanent generation (`gc.freeze()`) and
  turns the collector back on.

The start-up heap is then never scanned again, which also keeps every later full
collection short (a full collection of it takes 30-50 ms, a pause every request
in flight would feel). The few hundred garbage objects of start-up stay, frozen.
Adapted from the recipe in CPython's documentation of `gc.freeze`, which
disables the collector early and freezes before a fork for the same reason: a
large heap that lives as long as the process need not be scanned.

If the lifespan never runs (uvicorn `--lifespan off`, or UVICORN_LIFESPAN=off),
the collector stays off; so do the secrets, and /health answers 503 for good.

Only a process that paused settles: importing src.app alone (tests, the CLI)
leaves the collector as it is, and `settle()` is safe to call twice.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def settle() -> None:
    global _paused
    if not _paused:
        return
    _paused = False
    gc.freeze()
    gc.enable()


def paused() -> bool:
    return _paused
