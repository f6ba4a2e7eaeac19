"""Decoding: the one search (greedy and beam), the translator, files and streams, ONNX export.

The lowest of the jobs: evaluation, viz and training decode through it.
"""
