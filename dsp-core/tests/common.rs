//! Helpers shared by the dsp-core integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use dsp_core::{Model, ModelCard};

/// Folder of the tiny spectral-mask fixture made by `mirsuite.tiny_model`.
pub fn tiny_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny_mask")
}

pub fn tiny_card() -> ModelCard {
    ModelCard::from_path(tiny_dir().join("card.json")).expect("fixture card")
}

pub fn tiny_model() -> Model {
    Model::from_path(tiny_dir().join("model.onnx"), tiny_card()).expect("fixture model")
}

/// Deterministic xorshift noise in [-1, 1).
pub struct Noise(pub u64);

impl Noise {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
    pub fn signal(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next_f32()).collect()
    }
}
