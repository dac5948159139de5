//! The separator's tooling: `cargo xtask eval separator` runs the plugin's own task (the same
//! STFT, model, gate and overlap-add code, with "other" as the residual as the plugin computes
//! it) over a split, gated and ungated, and hands the stems to `mirsuite.models.separator.metrics`
//! (museval's BSSEval v4, leakage, activity F1, the `input`/`irm`/`ibm`/`umx` systems); and the
//! runner cost for `cargo xtask bench`.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Result;
use dsp_core::{Model, ModelCard};
use separator_model::{run_offline, Controls, SeparatorFields, SeparatorTask};

use super::ModelTools;
use crate::audio::read_wav;
use crate::eval::{EvalOptions, SplitIndex};
use crate::{golden, python};

/// The separator model (`models/separator`), run by the Stem Separator.
pub struct Separator;

/// CLAP id of the Stem Separator.
pub const PLUGIN_ID: &str = "suite.mir.stem-separator";

impl ModelTools for Separator {
    fn name(&self) -> &'static str {
        "separator"
    }

    fn plugin_id(&self) -> Option<&'static str> {
        Some(PLUGIN_ID)
    }

    fn eval(&self, root: &Path, opts: &EvalOptions) -> Result<()> {
        eval_separator(root, opts)
    }

    /// The task the plugin runs, with the card's gate settings.
    fn runner_cost(&self, model: Model) -> Result<Option<(f64, usize)>> {
        super::runner_rtf(SeparatorTask::with_card_controls(model)?, 20.0).map(Some)
    }
}

/// `cargo xtask eval separator`.
fn eval_separator(root: &Path, opts: &EvalOptions) -> Result<()> {
    let diff = golden::check_golden(&opts.model_dir)?;
    println!("tract reproduces the export's golden outputs (max abs diff {diff:.1e})");
    let card = ModelCard::from_path(opts.model_dir.join("card.json"))?;
    let fields = SeparatorFields::from_card(&card)?;
    let model = Model::from_path(opts.model_dir.join("model.onnx"), card.clone())?;
    let controls = Controls::new(&card, &fields);
    let mut task = SeparatorTask::new(model, controls.clone())?;
    let skip = fields.lookahead_frames + fields.median_half();
    let SplitIndex { info, songs } = SplitIndex::read(opts)?;
    let out_dir = std::env::temp_dir().join(format!("mirsuite-eval-separator-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir)?;
    let started = Instant::now();
    let mut seconds = 0.0;
    for song in &songs {
        let dir = SplitIndex::song_dir(opts, song);
        let a = read_wav(&dir.join("mix.wav"))?;
        anyhow::ensure!(
            a.sample_rate == card.sample_rate && a.channels.len() == 2,
            "{}: need stereo at {} Hz (cargo xtask dataset --rate {} --stems)",
            dir.display(),
            card.sample_rate,
            card.sample_rate
        );
        let n = a.frames();
        seconds += n as f64 / a.sample_rate as f64;
        for (system, gate) in [("gated", true), ("ungated", false)] {
            controls.gate.store(gate, Ordering::Relaxed);
            let (stems, results) = run_offline(&mut task, [&a.channels[0], &a.channels[1]]);
            // Sources [5, 2, n]: the stems, then "other" = input − stems (as the plugin).
            let other: Vec<Vec<f32>> = (0..2)
                .map(|c| (0..n).map(|i| a.channels[c][i] - (0..4).map(|s| stems[2 * s + c][i]).sum::<f32>()).collect())
                .collect();
            let data = stems.iter().chain(&other).flat_map(|ch| ch.iter().copied());
            crate::dataset::render::write_npy_f32(
                &out_dir.join(format!("{song}.{system}.npy")),
                &[5, 2, n as u64],
                data,
            )?;
            if gate {
                // Results for frames 0.. (each hop's result is for the frame `skip` hops back).
                let r = &results[skip.min(results.len())..];
                let w = r.first().map_or(0, |v| v.len());
                crate::dataset::render::write_npy_f32(
                    &out_dir.join(format!("{song}.results.npy")),
                    &[r.len() as u64, w as u64],
                    r.iter().flat_map(|v| v.iter().copied()),
                )?;
            }
        }
    }
    println!(
        "separated {:.1} min of {} audio twice (gated, ungated) in {:.1} s",
        seconds / 60.0,
        opts.split,
        started.elapsed().as_secs_f64()
    );
    if let Some(parent) = opts.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut cmd = python::module(root, "metrics")?;
    cmd.args(["separator", "--split", &opts.split, "--data"])
        .arg(&opts.data)
        .arg("--preds")
        .arg(&out_dir)
        .arg("--songs")
        .arg(songs.join(","))
        .arg("--json")
        .arg(&opts.json)
        .arg("--plot")
        .arg(&opts.plot);
    if let Some(b) = &opts.baseline {
        cmd.arg("--umx").arg(b);
    }
    if opts.update_card {
        cmd.arg("--update-card").arg(&opts.model_dir);
    }
    let _ = info;
    python::run(cmd, "mirsuite.metrics separator")?;
    let _ = std::fs::remove_dir_all(&out_dir);
    println!("metrics: {}\nplot: {}", opts.json.display(), opts.plot.display());
    Ok(())
}
