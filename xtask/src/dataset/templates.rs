//! Drum component one-shots for the drum transcriber's fixed synthesizer (DrummerNet): every
//! training kit (the training SoundFonts' percussion presets and the Hydrogen training kits,
//! several instrument variants each) plays each component's GM key once, through the same
//! renderer and level normalization the dataset uses; the mono hits go to `templates.npy`
//! (`[kits, components, samples]`, f32) with `templates.json` naming the kits and components.
//! Test and real-split kits are never loaded ([`TimbreSet::training`], [`HydrogenKit::discover`]).
//!
//! [`HydrogenKit::discover`]: super::hydrogen::HydrogenKit::discover

use std::path::Path;

use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::classes::{drum_keys as dk, DRUMS};
use super::compose::{Note, Role, Track};
use super::render::{render_kit, write_npy_f32, TimbreSet};

/// The synthesizer's components: GM key and name (the transcription class is
/// [`dk::class`] of the key).
pub const COMPONENTS: [(u8, &str); 7] = [
    (dk::KICK, "kick"),
    (dk::SNARE, "snare"),
    (dk::HH_CLOSED, "closed hi-hat"),
    (dk::HH_OPEN, "open hi-hat"),
    (dk::TOM_MID, "tom"),
    (dk::CRASH, "crash"),
    (dk::RIDE, "ride"),
];

/// What [`write_templates`] wrote.
#[derive(Debug)]
pub struct TemplateSet {
    /// Kit descriptions, one per template row.
    pub kits: Vec<String>,
    /// Kits left out because a component was silent (the kit lacks that drum).
    pub skipped: Vec<String>,
}

/// Renders every training kit's components (`variants` instrument draws per Hydrogen kit, one
/// per SoundFont preset), `seconds` long at `rate`, into `out/templates.npy` + `templates.json`.
pub fn write_templates(
    out: &Path,
    sf2_dir: &Path,
    hydrogen_dir: Option<&Path>,
    rate: u32,
    seconds: f64,
    variants: usize,
    seed: u64,
) -> Result<TemplateSet> {
    let mut set = TimbreSet::training(sf2_dir)?;
    if let Some(dir) = hydrogen_dir {
        set.add_hydrogen_kits(dir)?;
    }
    let frames = (seconds * rate as f64).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut rows, mut kits, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for (k, kit) in set.kits.iter().enumerate() {
        let draws = if kit.hydrogen.is_some() { variants.max(1) } else { 1 };
        for _ in 0..draws {
            let mut row = Vec::with_capacity(COMPONENTS.len() * frames);
            let mut desc = String::new();
            let mut silent = None;
            for (key, name) in COMPONENTS {
                let tr = Track {
                    class: DRUMS,
                    class_name: "drums",
                    role: Role::Drums,
                    program: k as u8,
                    pan: 64,
                    gain_db: 0.0,
                    notes: vec![Note { start: 0.0, dur: 0.25, key, vel: 100 }],
                };
                // The same draw of instruments for every component of this row.
                let mut draw = rng.clone();
                let (a, d) = render_kit(&set, kit, &tr, rate, frames, 0, &mut draw)?;
                let mono: Vec<f32> = a[0].iter().zip(&a[1]).map(|(l, r)| 0.5 * (l + r)).collect();
                if mono.iter().all(|v| v.abs() < 1e-4) {
                    silent = Some(name);
                }
                desc = d;
                row.extend(mono);
            }
            let _ = rand::Rng::gen::<u64>(&mut rng); // the next draw
            match silent {
                Some(name) => skipped.push(format!("{desc} (no {name})")),
                None => {
                    rows.push(row);
                    kits.push(desc);
                }
            }
        }
    }
    if rows.is_empty() {
        bail!("no training kit plays all {} components", COMPONENTS.len());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let shape = [rows.len() as u64, COMPONENTS.len() as u64, frames as u64];
    write_npy_f32(&out.join("templates.npy"), &shape, rows.into_iter().flatten())?;
    let info = serde_json::json!({
        "sample_rate": rate,
        "samples": frames,
        "components": COMPONENTS.iter().map(|(key, name)| serde_json::json!({
            "name": name, "key": key, "class": dk::class(*key),
        })).collect::<Vec<_>>(),
        "kits": kits,
        "skipped": skipped,
        "seed": seed,
    });
    std::fs::write(out.join("templates.json"), serde_json::to_string_pretty(&info)?)?;
    Ok(TemplateSet { kits, skipped })
}
