//! Helpers for the suite's integration tests: building plugin binaries and test signals.

use std::path::PathBuf;
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
