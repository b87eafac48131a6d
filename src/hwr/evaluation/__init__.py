"""Measuring a trained model: metrics, reading a split with several decoders, the comparison report and
its figures."""
