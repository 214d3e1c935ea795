"""Benchmarks of the program under the recording mock engine (``python -m benchmarks.run``)."""
