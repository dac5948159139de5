//! The workspace's plugin crates (`plugins/*`) and where their bundles land.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Workspace root (the folder holding the top-level `Cargo.toml`): `MIRSUITE_ROOT` if set, else
/// the nearest ancestor of the current directory that holds `xtask/python/mirsuite` (so a copied
/// release binary works in a copied checkout, e.g. on the GPU machine), else the build-time path.
pub fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("MIRSUITE_ROOT") {
        return PathBuf::from(root);
    }
    if let Ok(cwd) = std::env::current_dir() {
        if let Some(found) =
            cwd.ancestors().find(|d| d.join("xtask/python/mirsuite").is_dir() && d.join("Cargo.toml").is_file())
        {
            return found.to_path_buf();
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Package names of every crate under `plugins/`, sorted.
pub fn plugin_packages(root: &Path) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        package: Option<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
    }
    let dir = root.join("plugins");
    let mut names = Vec::new();
    if !dir.is_dir() {
        return Ok(names);
    }
    for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let manifest = entry?.path().join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest)?;
        let parsed: Manifest =
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", manifest.display()))?;
        match parsed.package {
            Some(p) => names.push(p.name),
            None => bail!("{} has no [package]", manifest.display()),
        }
    }
    names.sort();
    Ok(names)
}

/// Display names from `bundler.toml` (`[crate]\nname = "Display Name"`); an unreadable or
/// malformed file gives no display names (the crate names are used).
pub fn display_names(root: &Path) -> BTreeMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        name: Option<String>,
    }
    let Ok(text) = std::fs::read_to_string(root.join("bundler.toml")) else { return BTreeMap::new() };
    let Ok(table) = toml::from_str::<BTreeMap<String, Entry>>(&text) else { return BTreeMap::new() };
    table.into_iter().filter_map(|(k, e)| e.name.map(|n| (k, n))).collect()
}

/// Resolves the `<plugin>` argument of `render`: an existing file path, or a plugin crate
/// name / display name whose `.clap` bundle is in `target/bundled/`.
pub fn resolve_plugin(root: &Path, plugin: &str) -> Result<PathBuf> {
    let p = PathBuf::from(plugin);
    if p.is_file() {
        return Ok(p);
    }
    let names = display_names(root);
    let bundled = root.join("target/bundled");
    let display = names.get(plugin).cloned().unwrap_or_else(|| plugin.to_string());
    for candidate in [format!("{display}.clap"), format!("{plugin}.clap")] {
        let path = bundled.join(&candidate);
        if path.is_file() {
            return Ok(path);
        }
    }
    let known = plugin_packages(root).unwrap_or_default();
    bail!(
        "no plugin {plugin:?}: not a file, and no bundle in {} (run `cargo xtask bundle-all`; plugin crates: {known:?})",
        bundled.display()
    )
}
