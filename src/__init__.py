"""short-cut: a FastAPI service that loads its secrets from AWS Secrets Manager."""

__version__ = "0.1.0"
