"""Loading the secret into the process: prepare (fetch, validate, build Settings) and commit
(the private service-account file, the environment), and the Supervisor that loads, retries and refreshes.

Owns: loader (prepare -> Prepared), masking (which values the log mask holds), environment (os.environ and the
service-account file), private_dir (the private directory on /dev/shm or a temp root), refresh (the
Supervisor: first load, backoff, live refresh).

May import: src.startup, src.config, src.aws, src.secret, src.telemetry, src.app_env, src.errors.
Never src.events, src.web, src.secrets_manager, src.app (they sit above it). This file imports nothing.
"""
