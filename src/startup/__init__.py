"""Start-up only: work done before the first load so that the first 200 comes sooner.

Owns: prefetch (a child process that fetches the secret while the server imports, when two CPUs
are usable; run as `python -m src.startup.prefetch`), gc_pause (no cyclic GC until the first load
was tried, then gc.freeze).

May import: src.aws, src.app_env, src.errors, lazily (src.main imports this package before FastAPI
and botocore: keep it light). Never src.loading, src.config or above. This file imports nothing.
"""
