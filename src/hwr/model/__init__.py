"""The network: the study's CRNN (GRU / LSTM), its fused blocks and recurrent layers with native CPU
kernels, model files, the CTC loss, running a model over images, and where to run it (device, precision)."""
