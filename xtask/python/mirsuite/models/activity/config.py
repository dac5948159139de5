"""The activity model's feature configuration (written into its model card; the plugin reads
it from there). Features mirror dsp-core exactly (`mirsuite.features`)."""

CONFIG = dict(sample_rate=22050, n_fft=1024, hop=512, n_mels=64, fmin=30.0, fmax=11025.0, context=43, predict_every=3)
