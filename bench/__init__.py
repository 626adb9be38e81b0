"""Benchmarks of short-cut against reference apps measured in the same run (`make bench`)."""
