"""From log-probabilities to names: greedy, beam search with a character model, the lexicon, confidence
and its calibration, and one factory (hwr.decoding.factory) that builds any of them by name.

Imports no torch at package level: an ONNX model is read without it."""
