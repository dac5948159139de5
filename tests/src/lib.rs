//! Helpers for the suite's integration tests: building plugin binaries, test signals and
//! saved plugin states.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the workspace in the dev profile (once per test process) and returns `package`'s
/// CLAP-loadable library. Building the whole workspace, not `-p package`, resolves the same
/// features as `cargo test --workspace`, so it reuses the test build's artifacts instead of
/// compiling the dependency tree a second time with another feature set.
pub fn plugin_library(package: &str) -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status =
            Command::new(cargo).args(["build", "--workspace"]).current_dir(root()).status().expect("run cargo build");
        assert!(status.success(), "cargo build --workspace failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let lib = format!("{}{}{}", std::env::consts::DLL_PREFIX, package.replace('-', "_"), std::env::consts::DLL_SUFFIX);
    let path = target.join("debug").join(lib);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// Deterministic white noise in [-amp, amp).
pub fn noise(n: usize, amp: f32, mut seed: u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * amp
        })
        .collect()
}

/// A stereo song (seed 11) composed and rendered with the training SoundFonts at `rate`.
pub fn rendered_song(rate: u32, seconds: f64) -> [Vec<f32>; 2] {
    xtask::dataset::render_song(11, seconds, rate, Path::new(xtask::dataset::render::SF2_DIR))
        .expect("render a test song (needs timgm6mb-soundfont or fluid-soundfont-gm)")
        .0
}

/// A nice-plug CLAP state (a little-endian u64 length, then the JSON) with the persisted
/// field `field` set to the string `value`, as a host would restore it.
pub fn state_with_field(saved: &[u8], field: &str, value: &str) -> Vec<u8> {
    state_with_json_field(saved, field, &serde_json::to_string(value).expect("a JSON string"))
}

/// Like [`state_with_field`] for a field of any type: `json` is the value's JSON text (`true`
/// for a persisted `AtomicBool`).
pub fn state_with_json_field(saved: &[u8], field: &str, json: &str) -> Vec<u8> {
    let mut state: serde_json::Value = serde_json::from_slice(&saved[8..]).expect("a nice-plug state");
    // Persisted fields are stored as their own JSON text.
    state["fields"][field] = serde_json::Value::String(json.into());
    let json = serde_json::to_vec(&state).expect("state JSON");
    let mut blob = (json.len() as u64).to_le_bytes().to_vec();
    blob.extend(json);
    blob
}
