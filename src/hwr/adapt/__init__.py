"""Adapting a trained model to a user's own forms: fine-tuning on labelled scans, self-training on
unlabelled ones with pseudo-labels."""
