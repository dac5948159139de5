//! The Melody Generator's measure VAE (`xtask/python/mirsuite/models/melody/`): training and
//! its Python metrics so far; the Rust task, export and `cargo xtask eval melody` come with the
//! plugin (issue 17).

use super::ModelTools;

/// The melody model's tooling.
pub struct Melody;

impl ModelTools for Melody {
    fn name(&self) -> &'static str {
        "melody"
    }
}
