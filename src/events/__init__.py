"""The event path: Secret Label Updated from EventBridge, read from one SQS queue, wakes the Supervisor.

Owns: source (the event parser, the seen-ids memory, the receive loop and its state), sqs (the SQS
reader: ReceiveMessage without deleting, its errors named).

A package of its own, not part of src.aws or src.loading: the loop uses the Supervisor's backoff
(src.loading.refresh) and the reader uses AWS access (src.aws), so in either of those it would make
the two import each other.

May import: src.loading, src.startup, src.config, src.aws, src.secret, src.telemetry, src.errors.
Never src.web, src.secrets_manager, src.app. This file imports nothing.
"""
