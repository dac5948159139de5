//! Per-model tooling behind the generic `cargo xtask train | export | eval | bench` driver.
//!
//! Each model of the suite is one module here implementing [`ModelTools`]; the driver looks the
//! model up by name in [`MODELS`] and dispatches. Training and export run the model's Python
//! package (`xtask/python/mirsuite/models/<name>/`); evaluation runs the model's Rust task (the
//! code the plugin runs) and hands its outputs to the Python metrics. Adding a model: a module
//! here, an entry in [`MODELS`], a crate in `models/<name>/` and a Python package (see
//! `docs/ARCHITECTURE.md`).

pub mod activity;
pub mod drums;
pub mod melody;
pub mod separator;

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use dsp_core::{Model, ModelRunner, RunnerConfig, Task};

use crate::eval::EvalOptions;
use crate::host::PluginHost;

/// What the driver can ask of a model. Defaults say "not available" for what a model lacks.
pub trait ModelTools: Sync {
    /// The model's name: its folder under `models/` and its Python package.
    fn name(&self) -> &'static str;

    /// CLAP id of the plugin that runs this model, if one ships.
    fn plugin_id(&self) -> Option<&'static str> {
        None
    }

    /// `cargo xtask eval <name>`: runs the model's Rust task over a dataset split and scores it.
    fn eval(&self, _root: &Path, _opts: &EvalOptions) -> Result<()> {
        bail!("no evaluation for model {:?} yet", self.name())
    }

    /// The model's cost inside the runner at 48 kHz stereo (real-time factor, latency in frames),
    /// for `cargo xtask bench`; `None` when the model has no runner task yet.
    fn runner_cost(&self, _model: Model) -> Result<Option<(f64, usize)>> {
        Ok(None)
    }

    /// Column names of the MIDI CCs its plugin sends (`cargo xtask render`'s CC timeline).
    fn cc_names(&self, _root: &Path, _host: &mut PluginHost) -> Result<Option<Vec<(u8, String)>>> {
        Ok(None)
    }
}

/// Every model the driver knows.
pub static MODELS: &[&dyn ModelTools] = &[&activity::Activity, &drums::Drums, &melody::Melody, &separator::Separator];

/// The model named `name`, or an error listing the known ones.
pub fn get(name: &str) -> Result<&'static dyn ModelTools> {
    match MODELS.iter().find(|m| m.name() == name) {
        Some(m) => Ok(*m),
        None => bail!("unknown model {name:?} (models: {})", names().join(", ")),
    }
}

/// The model whose plugin has this CLAP id.
pub fn for_plugin(id: &str) -> Option<&'static dyn ModelTools> {
    MODELS.iter().find(|m| m.plugin_id() == Some(id)).copied()
}

/// Names of every model, in [`MODELS`] order.
pub fn names() -> Vec<&'static str> {
    MODELS.iter().map(|m| m.name()).collect()
}

/// `task`'s cost inside the runner at 48 kHz stereo in 512-frame buffers over `seconds` of
/// noise (resampled to the model's rate and back; offline, so the wall time is its full
/// compute): the real-time factor and the runner's latency in host frames.
pub(crate) fn runner_rtf<T: Task>(task: T, seconds: f64) -> Result<(f64, usize)> {
    const RATE: u32 = 48_000;
    const BLOCK: usize = 512;
    let mut out = vec![vec![0.0f32; BLOCK]; task.out_channels()];
    let mut runner = ModelRunner::spawn(RunnerConfig::offline(RATE, BLOCK), task)?;
    let latency = runner.latency();
    let a = crate::audio::Audio::noise(RATE, seconds);
    let start = Instant::now();
    let mut pos = 0;
    while pos < a.frames() {
        let n = BLOCK.min(a.frames() - pos);
        let mut views: Vec<&mut [f32]> = out.iter_mut().map(|v| &mut v[..n]).collect();
        runner.audio().process(&[&a.channels[0][pos..pos + n], &a.channels[1][pos..pos + n]], &mut views, |_, _| {});
        pos += n;
    }
    Ok((start.elapsed().as_secs_f64() / seconds, latency))
}
