"""The Stem Separator's model: a streaming U-Net with residual blocks on the mixture's magnitude
spectrogram that predicts one mask per stem and an instrument-activity classifier on its latent
(instrument-activation-aware source separation, IASS)."""
