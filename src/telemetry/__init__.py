"""What the service reports: logs (JSON lines or text), the mask over them, metrics and the EMF lines.

Owns: logs (handlers and formatters, configure_logging), mask (Mask, build_mask, SecretMasker and
the process-wide `masker`), metrics (what is reported, and when), emf (writing CloudWatch EMF lines).

May import: src.errors and the standard library, ahocorasick-rs and python-json-logger. Never the
loading, AWS or web layers: they report through it. This file imports nothing.
"""
