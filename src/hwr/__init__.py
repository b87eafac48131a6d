"""hwr: train, evaluate and compare CRNN handwriting recognisers for handwritten names."""

__version__ = "0.1.0"
