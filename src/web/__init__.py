"""The HTTP surface: /health (full for loopback, minimal for strangers), /health/live, and their models.

Owns: health (the router and HealthRenderer), health_models (the OpenAPI models, imported only
where docs are served).

May import: src.events (the event source's state), src.secret (SecretStatus), src.errors.
Never src.app (which mounts it). This file imports nothing (FastAPI is imported by health itself).
"""
