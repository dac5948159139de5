//! Running the project's Python package (`xtask/python/mirsuite`) in the project's virtual
//! environment (`.venv/`, made by `bash xtask/python/venv.sh`), never the system interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The interpreter `cargo xtask` runs: `$PYTHON` when set (e.g. on the GPU machine, whose Python
/// comes with torch), else the project's `.venv/bin/python`.
pub fn interpreter(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = root.join(".venv/bin/python");
    if venv.is_file() {
        return Ok(venv);
    }
    bail!(
        "no Python environment at {}: run `bash xtask/python/venv.sh` once (it creates .venv/ and installs \
         xtask/python/pyproject.toml's pinned packages), or set PYTHON to an interpreter that has them",
        root.join(".venv").display()
    )
}

/// `python -m mirsuite.<module>` with the workspace root as working directory (the package is on
/// the path even before the editable install, so a bare checkout with `$PYTHON` works too).
pub fn module(root: &Path, module: &str) -> Result<Command> {
    let mut cmd = Command::new(interpreter(root)?);
    cmd.env("PYTHONPATH", root.join("xtask/python")).current_dir(root).args(["-m", &format!("mirsuite.{module}")]);
    Ok(cmd)
}

/// Runs `cmd`, failing with its name if it cannot start or fails.
pub fn run(mut cmd: Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {what} (run `bash xtask/python/venv.sh`)"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
