//! Model cards: the single source of truth for a model's sample rate, framing, tensor shapes and
//! class names. Python writes them at export time (`models/<name>/card.json`); Rust reads them
//! and refuses a model whose tensors disagree with its card.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::CardError;

/// Lowest model sample rate a card may declare, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest model sample rate a card may declare, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 192_000;

/// Name and fixed shape of one model input or output tensor (all `f32`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Tensor name as exported (informative; tensors are matched by position).
    pub name: String,
    /// Concrete shape, batch dimension included (e.g. `[1, 96, 87]`).
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// Number of `f32` elements in the tensor.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything the runtime needs to know about a model, as written by the export step.
///
/// Unknown JSON fields (metrics, data description, training command…) are kept in [`extra`]
/// so a card round-trips without loss.
///
/// [`extra`]: ModelCard::extra
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Model name, e.g. `"activity"`.
    pub name: String,
    /// Version of the weights, e.g. `"1.0.0"`.
    pub version: String,
    /// Sample rate the model expects, in Hz (0 for a symbolic model: see
    /// [`is_symbolic`](Self::is_symbolic)).
    #[serde(default)]
    pub sample_rate: u32,
    /// Analysis frame (FFT) size in samples at [`sample_rate`](Self::sample_rate).
    #[serde(default)]
    pub frame_size: usize,
    /// Hop between analysis frames in samples at [`sample_rate`](Self::sample_rate).
    #[serde(default)]
    pub hop_size: usize,
    /// Input tensors, in the model's input order.
    pub inputs: Vec<TensorSpec>,
    /// Output tensors, in the model's output order.
    pub outputs: Vec<TensorSpec>,
    /// Class (or stem) names, in output-channel order. May be empty.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Per-class decision thresholds in `[0, 1]`; empty or one per class.
    #[serde(default)]
    pub thresholds: Vec<f32>,
    /// All other fields of the card (features, metrics, data, command), kept verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ModelCard {
    /// Parses and validates a card from JSON text.
    pub fn from_json(text: &str) -> Result<Self, CardError> {
        let card: ModelCard = serde_json::from_str(text)?;
        card.validate()?;
        Ok(card)
    }

    /// Reads, parses and validates a card file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, CardError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| CardError::Io { path: path.to_path_buf(), source })?;
        Self::from_json(&text)
    }

    /// Serializes the card as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing a struct of plain values and a JSON map cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// True for a model that reads no audio (e.g. the melody model's tokens and latents): its
    /// card declares no sample rate, frame or hop (all three absent or 0).
    pub fn is_symbolic(&self) -> bool {
        self.sample_rate == 0 && self.frame_size == 0 && self.hop_size == 0
    }

    /// Checks the card for internal consistency.
    pub fn validate(&self) -> Result<(), CardError> {
        let invalid = |msg: String| Err(CardError::Invalid(msg));
        if self.is_symbolic() {
            // No audio framing to check; the tensors below still are.
        } else if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&self.sample_rate) {
            return invalid(format!(
                "sample_rate {} Hz is outside {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE}",
                self.sample_rate
            ));
        }
        if !self.is_symbolic() && (self.frame_size == 0 || self.hop_size == 0 || self.hop_size > self.frame_size) {
            return invalid(format!(
                "frame_size {} / hop_size {} (need 0 < hop <= frame)",
                self.frame_size, self.hop_size
            ));
        }
        if self.inputs.is_empty() || self.outputs.is_empty() {
            return invalid("a model needs at least one input and one output".into());
        }
        for t in self.inputs.iter().chain(&self.outputs) {
            if t.shape.is_empty() || t.shape.contains(&0) {
                return invalid(format!("tensor {:?} has an empty or zero dimension: {:?}", t.name, t.shape));
            }
        }
        if !self.thresholds.is_empty() && self.thresholds.len() != self.classes.len() {
            return invalid(format!("{} thresholds for {} classes", self.thresholds.len(), self.classes.len()));
        }
        if let Some(t) = self.thresholds.iter().find(|t| !(0.0..=1.0).contains(*t)) {
            return invalid(format!("threshold {t} is outside [0, 1]"));
        }
        Ok(())
    }

    /// The model-specific fields of the card (everything in [`extra`](Self::extra)) as a
    /// model's own typed view `T`: each model task declares the fields it needs as a
    /// `serde::Deserialize` struct, so dsp-core knows no model's keys. Unknown fields are ignored
    /// unless `T` says otherwise; a missing or mistyped field is a [`CardError::Invalid`] naming it.
    pub fn fields<T: serde::de::DeserializeOwned>(&self) -> Result<T, CardError> {
        serde_json::from_value(serde_json::Value::Object(self.extra.clone()))
            .map_err(|e| CardError::Invalid(format!("{} card: {e}", self.name)))
    }

    /// Reads an optional string field from [`extra`](Self::extra), e.g. `"window"`.
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(|v| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = r#"{
        "name": "t", "version": "0.1.0", "sample_rate": 16000,
        "frame_size": 256, "hop_size": 64,
        "inputs": [{"name": "x", "shape": [1, 129, 4]}],
        "outputs": [{"name": "y", "shape": [1, 129, 4]}],
        "classes": ["a", "b"], "thresholds": [0.5, 0.25],
        "window": "hann", "metrics": {"f1": 0.9}
    }"#;

    #[test]
    fn parses_and_round_trips_extra_fields() {
        let card = ModelCard::from_json(CARD).unwrap();
        assert_eq!(card.inputs[0].len(), 129 * 4);
        assert_eq!(card.extra_str("window"), Some("hann"));
        let again = ModelCard::from_json(&card.to_json()).unwrap();
        assert_eq!(card, again);
    }

    #[test]
    fn typed_fields_name_what_is_wrong() {
        #[derive(Deserialize)]
        struct Fields {
            window: String,
            #[serde(default)]
            n_mels: Option<usize>,
        }
        let card = ModelCard::from_json(CARD).unwrap();
        let f: Fields = card.fields().unwrap();
        assert_eq!((f.window.as_str(), f.n_mels), ("hann", None));
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            n_mels: usize,
        }
        let e = card.fields::<Needs>().unwrap_err().to_string();
        assert!(e.contains("n_mels"), "{e}");
    }

    #[test]
    fn rejects_inconsistent_cards() {
        let bad = CARD.replace("\"hop_size\": 64", "\"hop_size\": 512");
        assert!(matches!(ModelCard::from_json(&bad), Err(CardError::Invalid(_))));
        let bad = CARD.replace("[0.5, 0.25]", "[0.5]");
        assert!(matches!(ModelCard::from_json(&bad), Err(CardError::Invalid(_))));
        let bad = CARD.replace("16000", "1000");
        assert!(matches!(ModelCard::from_json(&bad), Err(CardError::Invalid(_))));
        assert!(matches!(ModelCard::from_json("{ not json"), Err(CardError::Parse(_))));
        assert!(matches!(ModelCard::from_json("{}"), Err(CardError::Parse(_))));
    }

    #[test]
    fn symbolic_cards_declare_no_audio_framing_at_all() {
        let sym = r#"{"name": "s", "version": "1.0.0",
            "inputs": [{"name": "z", "shape": [1, 32]}], "outputs": [{"name": "t", "shape": [1, 24]}]}"#;
        let card = ModelCard::from_json(sym).unwrap();
        assert!(card.is_symbolic());
        assert!(!ModelCard::from_json(CARD).unwrap().is_symbolic());
        // Half an audio card is an error, not a symbolic model.
        let half = sym.replace("\"version\": \"1.0.0\",", "\"version\": \"1.0.0\", \"sample_rate\": 22050,");
        assert!(matches!(ModelCard::from_json(&half), Err(CardError::Invalid(_))));
        let bad = CARD.replace("\"frame_size\": 256, \"hop_size\": 64", "\"frame_size\": 0, \"hop_size\": 0");
        assert!(matches!(ModelCard::from_json(&bad), Err(CardError::Invalid(_))));
    }
}
