//! The Melody Generator's measure VAE (`models/melody/`, trained by `cargo xtask train melody`):
//! the token layout and the four AR-VAE attributes (mirroring
//! `xtask/python/mirsuite/models/melody/tokens.py` exactly; a test proves it on golden data),
//! the card's own fields ([`MelodyCard`]) and [`MelodyModel`], the encoder and decoder run by
//! tract. Decoding allocates (tract does): worker thread only.

use dsp_core::error::{CardError, ModelError};
use dsp_core::{Model, ModelCard, ModelSource, TensorSpec};
use serde::Deserialize;

/// The shipped encoder's ONNX bytes.
pub const ENCODER: &[u8] = include_bytes!("../encoder.onnx");
/// The shipped decoder's ONNX bytes.
pub const DECODER: &[u8] = include_bytes!("../decoder.onnx");
/// The shipped card.
pub const CARD: &str = include_str!("../card.json");

/// Ticks per 4/4 measure (6 per beat: sixteenths and eighth triplets).
pub const TICKS: usize = 24;
/// Token: no note sounds.
pub const REST: u8 = 0;
/// Token: the previous note continues.
pub const HOLD: u8 = 1;
/// Token of the lowest pitch.
pub const FIRST_PITCH: u8 = 2;
/// Lowest and highest MIDI pitch.
pub const LOWEST: u8 = 55;
/// Highest MIDI pitch.
pub const HIGHEST: u8 = 84;
/// Tokens in the vocabulary.
pub const VOCAB: usize = (FIRST_PITCH + HIGHEST - LOWEST + 1) as usize;
/// The attributes, in latent-dim order.
pub const ATTRIBUTES: [&str; 4] = ["rhythmic_complexity", "pitch_range", "note_density", "contour"];
const RANGE_NORM: f64 = 26.0;

/// Metrical weight of an onset at each tick (AR-VAE's rhythmic complexity).
pub fn weights() -> [f64; TICKS] {
    const BEAT: [f64; 6] = [0.0, 1.0, 2.0, 0.5, 2.0, 1.0];
    let first = [0.20, 0.67, 0.25, 0.67];
    let mut w = [0.0; TICKS];
    for (i, x) in w.iter_mut().enumerate() {
        *x = if i % 6 == 0 { first[i / 6] } else { BEAT[i % 6] };
    }
    w
}

/// The four attributes of one measure (order [`ATTRIBUTES`]), as `tokens.attributes` computes them.
pub fn attributes(tokens: &[u8; TICKS]) -> [f32; 4] {
    let w = weights();
    let total: f64 = w.iter().sum();
    let onsets: Vec<(usize, u8)> = tokens.iter().copied().enumerate().filter(|(_, t)| *t >= FIRST_PITCH).collect();
    let n = onsets.len();
    let rc = onsets.iter().map(|(i, _)| w[*i]).sum::<f64>() / total;
    let (pr, contour) = if n > 1 {
        let hi = onsets.iter().map(|o| o.1).max().unwrap_or(0) as f64;
        let lo = onsets.iter().map(|o| o.1).min().unwrap_or(0) as f64;
        ((hi - lo) / RANGE_NORM, (onsets[n - 1].1 as f64 - onsets[0].1 as f64) / RANGE_NORM)
    } else {
        (0.0, 0.0)
    };
    [rc as f32, pr as f32, (n as f64 / TICKS as f64) as f32, contour as f32]
}

#[derive(Debug, Clone, Deserialize)]
struct Graph {
    file: String,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
}

/// One attribute's latent dim and the slider's range over it.
#[derive(Debug, Clone, Deserialize)]
pub struct Attribute {
    /// Latent dim.
    pub dim: usize,
    /// Latent values at slider 0 and 1 (5th and 95th percentile over the val measures).
    pub slider_range: [f32; 2],
}

/// The melody card's own fields.
#[derive(Debug, Clone, Deserialize)]
pub struct MelodyCard {
    /// Model name.
    pub name: String,
    /// Weights version.
    pub version: String,
    /// Latent size.
    pub latent: usize,
    encoder: Graph,
    decoder: Graph,
    /// Per attribute name.
    pub attributes: std::collections::BTreeMap<String, Attribute>,
    /// Latents of validation measures that the plugin's "idea" picks its free dims from
    /// (older cards have none: the free dims are then 0, the prior's mean).
    #[serde(default)]
    pub ideas: Vec<Vec<f32>>,
}

impl MelodyCard {
    /// Parses a melody card.
    pub fn from_json(text: &str) -> Result<Self, CardError> {
        let card: MelodyCard =
            serde_json::from_str(text).map_err(|e| CardError::Invalid(format!("melody card: {e}")))?;
        for name in ATTRIBUTES {
            match card.attributes.get(name) {
                Some(a) if a.dim < card.latent && a.slider_range.iter().all(|x| x.is_finite()) => {}
                Some(a) => {
                    return Err(CardError::Invalid(format!(
                        "melody card: attribute {name} has dim {} (latent {}) or a non-finite slider range",
                        a.dim, card.latent
                    )))
                }
                None => return Err(CardError::Invalid(format!("melody card: no attribute {name}"))),
            }
        }
        if let Some(bad) = card.ideas.iter().position(|z| z.len() != card.latent || !z.iter().all(|x| x.is_finite())) {
            return Err(CardError::Invalid(format!("melody card: idea {bad} is not {} finite values", card.latent)));
        }
        Ok(card)
    }

    /// The attribute `name` (one of [`ATTRIBUTES`]; a parsed card has all four).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.get(name)
    }

    fn graph_card(&self, g: &Graph, part: &str) -> Result<ModelCard, CardError> {
        let card = ModelCard {
            name: format!("{}-{part}", self.name),
            version: self.version.clone(),
            sample_rate: 0,
            frame_size: 0,
            hop_size: 0,
            inputs: g.inputs.clone(),
            outputs: g.outputs.clone(),
            classes: Vec::new(),
            thresholds: Vec::new(),
            extra: Default::default(),
        };
        card.validate()?;
        Ok(card)
    }
}

/// The encoder and decoder, loaded and optimized.
pub struct MelodyModel {
    card: MelodyCard,
    encoder: Model,
    decoder: Model,
    z: Vec<f32>,
    tokens: Vec<f32>,
    logits: Vec<f32>,
}

impl MelodyModel {
    /// The shipped model.
    pub fn builtin() -> Result<Self, ModelError> {
        Self::load(MelodyCard::from_json(CARD)?, &ModelSource::Embedded(ENCODER), &ModelSource::Embedded(DECODER))
    }

    /// A model folder (`card.json` + the two ONNX files it names).
    pub fn from_dir(dir: &std::path::Path) -> Result<Self, ModelError> {
        let path = dir.join("card.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io { path: path.clone(), source })?;
        let card = MelodyCard::from_json(&text)?;
        let enc = ModelSource::File(dir.join(&card.encoder.file));
        let dec = ModelSource::File(dir.join(&card.decoder.file));
        Self::load(card, &enc, &dec)
    }

    fn load(card: MelodyCard, enc: &ModelSource, dec: &ModelSource) -> Result<Self, ModelError> {
        let encoder = Model::load(enc, card.graph_card(&card.encoder, "encoder")?)?;
        let decoder = Model::load(dec, card.graph_card(&card.decoder, "decoder")?)?;
        let latent = card.latent;
        Ok(MelodyModel {
            card,
            encoder,
            decoder,
            z: vec![0.0; latent],
            tokens: vec![0.0; TICKS],
            logits: vec![0.0; TICKS * VOCAB],
        })
    }

    /// The card.
    pub fn card(&self) -> &MelodyCard {
        &self.card
    }

    /// The latent mean of one measure.
    pub fn encode(&mut self, tokens: &[u8; TICKS]) -> Result<&[f32], ModelError> {
        let t = tokens.map(f32::from);
        self.encoder.run(&[&t], &mut [&mut self.z])?;
        Ok(&self.z)
    }

    /// Decodes one measure: `noise` is Gumbel noise `[24 × vocab]` (zeros: greedy).
    pub fn decode(
        &mut self,
        z: &[f32],
        noise: &[f32],
        temperature: f32,
        out: &mut [u8; TICKS],
    ) -> Result<&[f32], ModelError> {
        let temp = [temperature.max(1e-3)];
        self.decoder.run(&[z, noise, &temp], &mut [&mut self.tokens, &mut self.logits])?;
        for (o, t) in out.iter_mut().zip(&self.tokens) {
            if !(0.0..VOCAB as f32).contains(t) {
                return Err(ModelError::Run(format!("decoder produced token {t}")));
            }
            *o = *t as u8;
        }
        Ok(&self.logits)
    }
}
