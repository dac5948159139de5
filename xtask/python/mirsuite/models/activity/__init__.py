"""The instrument-activity model (Activity Meter): `config` (features), `net` (architectures and
the exported module), `data` (features, windows, batches), `train` (hooks for the shared loop),
`metrics` (scikit-learn scores, bootstrap, threshold tuning), `export` (ONNX, golden data, card)
and `readme` (the card's README sections)."""
