"""What a user runs: the hwr command, a model ready to read images (torch or ONNX), ONNX export, the
web page and its JSON API."""
