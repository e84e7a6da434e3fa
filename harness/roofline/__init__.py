"""The roofline: why a separable model gains less time than multiply-adds.

bytes.py counts the bytes each layer moves (activations in and out, weights, by dtype) beside the
analyzer's MACs; ceilings.py generates the models that measure a device's peak multiply-add rate,
its memory bandwidth and its per-operator fixed cost (run as ordinary perf jobs when a profile's
matrix.modes includes "ceilings"); predict.py turns both into a per-layer time and a predicted
speedup per pair; chart.py draws the roofline for the report.
"""
