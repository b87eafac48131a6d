"""Training one CRNN: the trainer (network, optimiser, one step), the loop, starting from a trained model,
augmentation."""
