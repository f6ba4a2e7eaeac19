"""Seeing attention: heatmaps and curves, the explorer page and its assets, probes over training.

Above evaluation (AER against gold links) and decoding; below training, which records probes.
"""
