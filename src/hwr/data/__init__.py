"""The data's way in: zips and their CSVs, label rules, image decoding with limits, the tensor store,
preprocessing, image files for hwr predict, and the synthetic generator (hwr.synth)."""
