"""The Melody Generator's model: a measure VAE with attribute-regularized latent dimensions
(AR-VAE), its data (dMelodies, generated; folk melodies from music21's corpus), training hooks,
export and metrics."""
