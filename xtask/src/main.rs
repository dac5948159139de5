//! `cargo xtask`: bundle, install and render the suite's plugins (more subcommands arrive with
//! the data and model pipeline). Anything not handled here is passed to nice-plug-xtask
//! (`bundle`, `bundle-universal`, `known-packages`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use xtask::audio::{read_wav, write_wav};
use xtask::host::{Mode, PluginHost, RenderOptions};
use xtask::plugins::{display_names, plugin_packages, resolve_plugin, workspace_root};
use xtask::smf::write_smf;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, install and run the MIR plugin suite")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Release-bundle every plugin crate under plugins/ as .clap and .vst3 into target/bundled/.
    BundleAll {
        /// Extra arguments for cargo build (e.g. --profile, --target).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_args: Vec<String>,
    },
    /// Copy the bundles from target/bundled/ to ~/.clap and ~/.vst3 (or the given folders).
    Install {
        /// Destination for .clap bundles.
        #[arg(long)]
        clap_dir: Option<PathBuf>,
        /// Destination for .vst3 bundles.
        #[arg(long)]
        vst3_dir: Option<PathBuf>,
    },
    /// Render a WAV file through a built plugin in a CLAP host, like a DAW bounce.
    Render {
        /// Plugin crate name (e.g. activity-meter), display name, or path to a .clap file.
        plugin: String,
        /// Input WAV file.
        input: PathBuf,
        /// Parameter as id=value (string id from the plugin source or display name); repeatable.
        #[arg(long = "param", value_name = "ID=VALUE")]
        params: Vec<String>,
        /// Process in real-time mode, paced to the wall clock (default: offline).
        #[arg(long, conflicts_with = "offline")]
        realtime: bool,
        /// Process in offline mode (the default).
        #[arg(long)]
        offline: bool,
        /// Host block size in frames.
        #[arg(long, default_value_t = 512)]
        block: usize,
        /// Vary block sizes pseudo-randomly in 1..=block with this seed.
        #[arg(long)]
        random_blocks: Option<u64>,
        /// Seconds of silence rendered after the input.
        #[arg(long, default_value_t = 0.0)]
        tail: f64,
        /// Keep the plugin latency in the outputs instead of compensating it.
        #[arg(long)]
        no_latency_compensation: bool,
        /// Host tempo in BPM.
        #[arg(long, default_value_t = 120.0)]
        tempo: f64,
        /// CLAP id, if the file holds several plugins.
        #[arg(long)]
        id: Option<String>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Render a multitrack training/evaluation dataset from procedurally composed songs.
    Dataset {
        /// Output folder.
        #[arg(long, default_value = "data/synth")]
        out: PathBuf,
        /// Songs in the train split.
        #[arg(long, default_value_t = 200)]
        train: usize,
        /// Songs in the validation split (training timbres, new songs).
        #[arg(long, default_value_t = 30)]
        val: usize,
        /// Songs in the test split (held-out timbres: MuseScore General, AVL kits).
        #[arg(long, default_value_t = 40)]
        test: usize,
        /// Songs in the real-recording split (held-out recorded timbres: the freepats GUS
        /// patches and the Hydrogen kits BJA_Pacific, ColomboAcousticDrumkit,
        /// Millo_MultiLayered3; never trained or tuned on).
        #[arg(long, default_value_t = 0)]
        real: usize,
        /// Seconds per song.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Sample rate of the written audio.
        #[arg(long, default_value_t = 22_050)]
        rate: u32,
        /// Master seed (same seed, same arguments: bit-identical files).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Also write one stem per instrument class.
        #[arg(long)]
        stems: bool,
        /// Train-split augmentations: gain,eq,reverb,compress,pitch | all | none.
        #[arg(long, default_value = "all")]
        augment: String,
        /// Train-split recording chain (xtask/src/dataset/chain.rs): room,mic,comp,drive,noise,
        /// velocity,mix,repitch | all | none.
        #[arg(long, default_value = "none")]
        chain: String,
        /// Fraction of the training songs rendered without the recording chain (0–1).
        #[arg(long, default_value_t = 0.0)]
        chain_clean: f64,
        /// Folder holding the .sf2 files.
        #[arg(long, default_value = "/usr/share/sounds/sf2")]
        sf2_dir: PathBuf,
        /// Folder of Hydrogen drum kits for the train/val splits ("none": SoundFont kits only).
        /// "The Black Pearl 1.0" (an AVL test kit) and the real-recording split's kits are never
        /// training kits; the real split reads its kits here (default folder with "none").
        #[arg(long, default_value = xtask::dataset::hydrogen::HYDROGEN_DIR)]
        hydrogen: String,
        /// Probability that a train/val melodic track plays a variation preset of its class
        /// (GM bank 8, sf_GMbank's MT-32 bank 127) instead of its GM program; 0: GM only.
        #[arg(long, default_value_t = xtask::dataset::render::DEFAULT_VARIATION_PROB)]
        variations: f64,
        /// Folder of the GUS patches (freepats: Tone_000/NNN_Name.pat) the real-recording split
        /// plays; they are never training timbres.
        #[arg(long, default_value = xtask::dataset::gus::FREEPATS_DIR)]
        freepats: PathBuf,
        /// SoundFont synthesizer for the train/val splits: oxisynth (FluidSynth's engine, with
        /// the fonts' modulators; the test split always uses it), rustysynth (faster, no
        /// modulators) or mixed (a fair coin per track between the two).
        #[arg(long, default_value = "oxisynth")]
        synth: String,
        /// Import a MUSDB18-HQ folder from this path instead of rendering.
        #[arg(long)]
        musdb: Option<PathBuf>,
    },
    /// Render the drum transcriber's synthesizer templates: each training kit's component
    /// one-shots (kick, snare, closed/open hi-hat, tom, crash, ride) to OUT/templates.npy + .json.
    DrumTemplates {
        /// Output folder.
        #[arg(long, default_value = "data/drum-templates")]
        out: PathBuf,
        /// Sample rate in Hz (the drum model's).
        #[arg(long, default_value_t = 16_000)]
        rate: u32,
        /// Length of each one-shot in seconds.
        #[arg(long, default_value_t = 0.5)]
        seconds: f64,
        /// Instrument draws per Hydrogen kit (kits with several kicks, snares… give distinct rows).
        #[arg(long, default_value_t = 4)]
        variants: usize,
        /// Seed of the instrument draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder of the training SoundFonts.
        #[arg(long, default_value = xtask::dataset::render::SF2_DIR)]
        sf2_dir: PathBuf,
        /// Folder of Hydrogen drum kits ("none": SoundFont kits only).
        #[arg(long, default_value = xtask::dataset::hydrogen::HYDROGEN_DIR)]
        hydrogen: String,
    },
    /// Decode unlabeled real music from installable packages (wesnoth-1.16-music) to mono WAV
    /// at the models' rate, for semi-supervised training (`--unlabeled DIR`); arguments go to
    /// `python -m mirsuite.unlabeled` (--out DIR [--src FOLDER] [--rate HZ]).
    Unlabeled {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Train a model in PyTorch (arguments after the model name go to mirsuite.train).
    Train {
        /// Model name (`activity`, `separator`, `melody`).
        model: String,
        /// Arguments for `python -m mirsuite.train <model>` (e.g. --steps 6000 --device cuda).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Export a trained model to models/<name>/ (ONNX checked against ONNX Runtime, golden
    /// data, card, README).
    Export {
        /// Model name (`activity`, `separator`, `melody`).
        model: String,
        /// Arguments for `python -m mirsuite.export <model>` (e.g. --run runs/activity).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Evaluate a shipped model with the Rust (tract) inference path on the held-out test split
    /// (the melody model: its two graphs through ONNX Runtime, one measure per call).
    Eval {
        /// Model name (`activity`, `separator`, `drums`, `melody`).
        model: String,
        /// Dataset folder (default data/synth; data/melody for the melody model).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Split to evaluate.
        #[arg(long, default_value = "test")]
        split: String,
        /// Write {"model", "split", "metrics"} JSON here (default target/eval/<model>.json).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Model folder (default models/<model>).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Do not write the metrics into the model card and README.
        #[arg(long)]
        no_update_card: bool,
        /// Evaluate at most this many songs.
        #[arg(long, default_value_t = 0)]
        max_songs: usize,
        /// Evaluate only these songs of the split (comma-separated folder names).
        #[arg(long, value_delimiter = ',')]
        songs: Vec<String>,
        /// Tune on this split (use `--split val`, never test). Activity: the per-class thresholds
        /// of every response setting (averaging 0, 0.5, 1 and 2 s) into the card's `responses`,
        /// with `--averaging` as the default. Drums: the timing compensation, measured through
        /// the plugin's own path (per class the median signed error of the matched notes is
        /// added to the card's `onset_offset_ms`).
        #[arg(long)]
        tune: bool,
        /// With --tune: the card's default averaging time in seconds.
        #[arg(long, default_value_t = 1.0)]
        averaging: f32,
        /// Also run this model folder (e.g. the shipped model, copied aside) on the same songs with
        /// its own default response, and report a paired song-bootstrap interval of the 1 s AUROC
        /// and F1 differences (this model minus the baseline). Separator: the run folder of the
        /// Open-Unmix-style baseline (`cargo xtask train separator --arch umx`), scored as `umx`.
        #[arg(long)]
        baseline: Option<PathBuf>,
    },
    /// tract vs ONNX Runtime (single thread) per model, and plugin CPU cost at 48 kHz stereo.
    Bench {
        /// Write {"model", "split", "metrics"} JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Benchmark the model folders (model.onnx + card.json + golden.json) under this folder
        /// instead of `models/`, e.g. candidates before they ship (an activity model also gets its
        /// runner cost); plugins are skipped.
        #[arg(long)]
        models: Option<PathBuf>,
        /// Also print each model's tract time per plan node (median of 300 runs), slowest first.
        #[arg(long)]
        nodes: bool,
    },
    /// Render the demo song through every plugin (release bundles, the CLAP host, offline) and
    /// write stems, the activity timeline, the drum transcription, a generated melody and a
    /// report (target/demo/README.md).
    Demo {
        /// Output folder.
        #[arg(long, default_value = "target/demo")]
        out: PathBuf,
        /// Another song (WAV, FLAC or AIFF) instead of demo/demo-song.flac.
        #[arg(long)]
        song: Option<PathBuf>,
        /// Host tempo in BPM (the demo song's is 169).
        #[arg(long)]
        tempo: Option<f64>,
        /// Use the bundles in target/bundled as they are (no `bundle-all` first).
        #[arg(long)]
        no_build: bool,
        /// Use the debug libraries (the test build: `cargo build --workspace --lib`) instead of
        /// the release bundles; quicker to build, slower to run (CI's check of this command).
        #[arg(long)]
        debug: bool,
    },
    /// Stress-test every plugin crate (or the named ones) in the CLAP host: random rates, block
    /// sizes, automation, transport, MIDI, state and test signals from silence to NaN, on the
    /// debug build (allocation guard on). Exits non-zero if any check failed.
    Fuzz {
        /// Plugin crate names (default: every crate under plugins/).
        plugins: Vec<String>,
        /// Sessions per plugin.
        #[arg(long, default_value_t = 50)]
        sessions: u64,
        /// Master seed; each failure is printed with the command that replays its session.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Start at this session (with --sessions 1: replay one session a failure names).
        #[arg(long, default_value_t = 0)]
        first: u64,
        /// Do not build the workspace first (use the debug libraries as they are).
        #[arg(long)]
        no_build: bool,
        /// Write the summary as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// One child process of `fuzz` (internal).
    #[command(hide = true)]
    FuzzChild {
        #[arg(long)]
        lib: PathBuf,
        #[arg(long)]
        plugin: String,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        first: u64,
        #[arg(long)]
        sessions: u64,
    },
    /// Passed through to nice-plug-xtask (bundle, bundle-universal, known-packages).
    #[command(external_subcommand)]
    Other(Vec<String>),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    // Relative paths in arguments are relative to the workspace root, whatever the caller's cwd.
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    match cli.command {
        Command::BundleAll { cargo_args } => bundle_all(&root, cargo_args),
        Command::Install { clap_dir, vst3_dir } => install(&root, clap_dir, vst3_dir),
        Command::Render {
            plugin,
            input,
            params,
            realtime,
            offline: _,
            block,
            random_blocks,
            tail,
            no_latency_compensation,
            tempo,
            id,
            out,
        } => {
            let opts = RenderOptions {
                mode: if realtime { Mode::Realtime } else { Mode::Offline },
                block,
                random_blocks,
                tail_seconds: tail,
                compensate_latency: !no_latency_compensation,
                tempo,
                cues: Vec::new(),
            };
            render(&root, &plugin, &input, &params, id.as_deref(), &opts, &out, false).map(|_| ())
        }
        Command::Dataset {
            out,
            train,
            val,
            test,
            real,
            seconds,
            rate,
            seed,
            jobs,
            stems,
            augment,
            chain,
            chain_clean,
            sf2_dir,
            hydrogen,
            variations,
            freepats,
            synth,
            musdb,
        } => {
            if let Some(src) = musdb {
                let n = xtask::dataset::musdb::import(&src, &out, rate)?;
                println!("imported {n} MUSDB18-HQ tracks into {}", out.display());
                return Ok(());
            }
            if !(0.0..=1.0).contains(&chain_clean) {
                bail!("--chain-clean {chain_clean}: a fraction of the songs, 0 to 1");
            }
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let opts = xtask::dataset::DatasetOptions {
                out,
                songs: [train, val, test, real],
                seconds,
                rate,
                seed,
                jobs,
                stems,
                augment: xtask::dataset::render::Augment {
                    chain: xtask::dataset::chain::Chain::parse(&chain)?,
                    chain_clean,
                    ..xtask::dataset::render::Augment::parse(&augment)?
                },
                sf2_dir,
                hydrogen_dir: (hydrogen != "none").then(|| PathBuf::from(hydrogen)),
                variations,
                gus_dir: Some(freepats),
                synth: xtask::dataset::render::Engine::parse(&synth)?,
            };
            xtask::dataset::generate(&opts).map(|_| ())
        }
        Command::DrumTemplates { out, rate, seconds, variants, seed, sf2_dir, hydrogen } => {
            let h = (hydrogen != "none").then(|| PathBuf::from(hydrogen));
            let t = xtask::dataset::templates::write_templates(
                &out,
                &sf2_dir,
                h.as_deref(),
                rate,
                seconds,
                variants,
                seed,
            )?;
            println!("{} kit templates in {} ({} skipped)", t.kits.len(), out.display(), t.skipped.len());
            for s in &t.skipped {
                println!("  skipped {s}");
            }
            Ok(())
        }
        Command::Unlabeled { args } => {
            let mut cmd = xtask::python::module(&root, "unlabeled")?;
            cmd.args(args);
            xtask::python::run(cmd, "mirsuite.unlabeled")
        }
        Command::Train { model, args } => python_step(&root, "train", &model, args),
        Command::Export { model, args } => python_step(&root, "export", &model, args),
        Command::Eval {
            model,
            data,
            split,
            json,
            model_dir,
            no_update_card,
            max_songs,
            songs,
            tune,
            averaging,
            baseline,
        } => {
            if tune && split == "test" {
                bail!("--tune tunes thresholds; use a validation split (--split val), never the held-out test split");
            }
            if tune && baseline.is_some() {
                bail!("--baseline compares tuned models; tune each first, then compare them without --tune");
            }
            let json = json.unwrap_or_else(|| root.join("target/eval").join(format!("{model}.json")));
            let plot = json.with_extension("png");
            let model_dir = model_dir.unwrap_or_else(|| root.join("models").join(&model));
            let data =
                data.unwrap_or_else(|| PathBuf::from(if model == "melody" { "data/melody" } else { "data/synth" }));
            let opts = xtask::eval::EvalOptions {
                data: if data.is_absolute() { data } else { root.join(data) },
                split,
                model_dir,
                json,
                plot,
                update_card: !no_update_card,
                max_songs,
                songs,
                tune: tune.then_some(averaging),
                baseline: baseline.map(|b| if b.is_absolute() { b } else { root.join(b) }),
                model: model.clone(),
            };
            xtask::models::get(&opts.model)?.eval(&root, &opts)
        }
        Command::Bench { json, models, nodes } => xtask::bench::bench(&root, json, models, nodes),
        Command::Demo { out, song, tempo, no_build, debug } => demo(&root, &out, song, tempo, no_build, debug),
        Command::Fuzz { plugins, sessions, seed, first, no_build, json } => {
            fuzz(&root, plugins, first, sessions, seed, no_build, json)
        }
        Command::FuzzChild { lib, plugin, seed, first, sessions } => {
            xtask::fuzz::child(&lib, &plugin, seed, first, sessions)
        }
        Command::Other(args) => nice_plug_xtask::main_with_args("cargo xtask", args),
    }
}

/// `cargo xtask train|export <model> ARGS`: the model's Python step (`python -m mirsuite.<step>
/// <model> ARGS`, which picks the model's package by name).
fn python_step(root: &Path, step: &str, model: &str, args: Vec<String>) -> Result<()> {
    xtask::models::get(model)?;
    let mut cmd = xtask::python::module(root, step)?;
    cmd.arg(model).args(args);
    xtask::python::run(cmd, &format!("mirsuite.{step} {model}"))
}

/// The plugins the demo shows, in order, with what it writes for each.
const DEMO_PLUGINS: [(&str, &str); 4] = [
    ("stem-separator", "stems (WAV)"),
    ("activity-meter", "activity timeline (PNG + CSV)"),
    ("drum-transcriber", "drum transcription (.mid)"),
    ("melody-generator", "generated melody (.mid)"),
];

/// System packages the plugin bundles need to build (X11/GL headers for the editors).
const BUILD_PACKAGES: [&str; 8] = [
    "pkg-config",
    "libx11-dev",
    "libxcb1-dev",
    "libx11-xcb-dev",
    "libxcursor-dev",
    "libgl-dev",
    "libxcb-icccm4-dev",
    "libxkbcommon-dev",
];

fn missing_packages(packages: &[&str]) -> Vec<String> {
    packages
        .iter()
        .filter(|p| {
            let out = std::process::Command::new("dpkg-query").args(["-W", "-f=${Status}", p]).output();
            // "<want> <flag> <status>": installed whatever the want (install, hold, …).
            !matches!(out, Ok(o) if String::from_utf8_lossy(&o.stdout).split_whitespace().nth(2) == Some("installed"))
        })
        .map(|p| p.to_string())
        .collect()
}

fn demo(root: &Path, out: &Path, song: Option<PathBuf>, tempo: Option<f64>, no_build: bool, debug: bool) -> Result<()> {
    let started = std::time::Instant::now();
    if !no_build {
        let missing = missing_packages(&BUILD_PACKAGES);
        if !missing.is_empty() && std::process::Command::new("dpkg-query").arg("--version").output().is_ok() {
            bail!(
                "the plugin build needs these system packages: {}\n  install them with: sudo apt-get install -y {}\n  (or run `bash .ci/setup`, which installs everything the project's tests need)",
                missing.join(" "),
                missing.join(" ")
            );
        }
        if debug {
            cargo_build_debug_libs(root)?;
        } else {
            println!("building the plugin bundles (release; the first build takes ~10 minutes on 2 cores)");
            bundle_all(root, vec![])?;
        }
    }
    // The activity timeline's picture is drawn by matplotlib in the project's .venv; set it up
    // only because this step needs it (the CSV is written either way).
    if !root.join(".venv/bin/python").is_file() {
        println!("setting up the project's Python environment for the timeline plot (bash xtask/python/venv.sh)");
        let ok = std::process::Command::new("bash")
            .arg(root.join("xtask/python/venv.sh"))
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            println!("note: the Python environment could not be set up; the demo goes on without the timeline PNG");
        }
    }
    let built_at = started.elapsed().as_secs_f64();
    let song = song.unwrap_or_else(|| root.join("demo/demo-song.flac"));
    let audio = xtask::audio::read_audio(&song)?;
    let tempo = tempo.unwrap_or(if song.ends_with("demo/demo-song.flac") { 169.0 } else { 120.0 });
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    // What an earlier run wrote goes first, so that nothing stale passes for this run's output.
    for (krate, _) in DEMO_PLUGINS {
        let _ = std::fs::remove_dir_all(out.join(krate));
    }
    for f in ["README.md", "drums.mid", "melody.mid", "input.wav"] {
        let _ = std::fs::remove_file(out.join(f));
    }
    let input = out.join("input.wav");
    write_wav(&input, &audio)?;
    let seconds = audio.frames() as f64 / audio.sample_rate as f64;
    println!(
        "demo song: {} ({seconds:.1} s, {} Hz, {} channels, {tempo} BPM)",
        song.display(),
        audio.sample_rate,
        audio.channels.len()
    );
    let have = plugin_packages(root)?;
    let names = display_names(root);
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut report = String::new();
    for (krate, what) in DEMO_PLUGINS {
        let display = names.get(krate).cloned().unwrap_or_else(|| krate.to_string());
        if !have.contains(&krate.to_string()) {
            rows.push([display, "not built yet (no crate under plugins/)".into(), "-".into(), "-".into(), "-".into()]);
            continue;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("{display}: rendering {seconds:.0} s offline through the CLAP host"));
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let dir = out.join(krate);
        let opts =
            RenderOptions { mode: Mode::Offline, block: 512, tempo, tail_seconds: 0.5, ..RenderOptions::default() };
        let plugin = if debug {
            let lib = xtask::fuzz::debug_library(root, krate);
            if !lib.is_file() {
                bail!("{} is missing: build it with `cargo build --workspace --lib`", lib.display());
            }
            lib.display().to_string()
        } else {
            krate.to_string()
        };
        let result = render(root, &plugin, &input, &[], None, &opts, &dir, true);
        bar.finish_and_clear();
        let summary = match result {
            Ok(s) => s,
            Err(e) => {
                rows.push([display, format!("failed: {e:#}"), "-".into(), "-".into(), "-".into()]);
                continue;
            }
        };
        let latency_ms = summary["latency_frames"].as_f64().unwrap_or(0.0) * 1000.0 / audio.sample_rate as f64;
        let rtf = summary["realtime_factor"].as_f64().unwrap_or(0.0);
        let notes = summary["note_ons"].as_u64().unwrap_or(0);
        let files: Vec<PathBuf> = summary["files"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f.as_str().map(PathBuf::from)).collect())
            .unwrap_or_default();
        let rel = |p: &Path| p.strip_prefix(out).unwrap_or(p).display().to_string();
        let did = match krate {
            "stem-separator" => {
                let stems: Vec<String> = summary["outputs"]
                    .as_array()
                    .map(|a| a.iter().skip(1).filter_map(|o| o.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                format!("{} stems: {} (+ the remix on the main output)", stems.len(), stems.join(", "))
            }
            "activity-meter" => {
                let csv = dir.join("cc_timeline.csv");
                let header = std::fs::read_to_string(&csv).ok().and_then(|t| t.lines().next().map(String::from));
                let classes = header.map(|h| h.split(',').skip(1).count()).unwrap_or(0);
                format!("activity of {classes} instrument classes every 100 ms (MIDI CC)")
            }
            "drum-transcriber" => {
                std::fs::copy(dir.join("midi.mid"), out.join("drums.mid"))
                    .context("the transcriber wrote no midi.mid")?;
                format!("{notes} drum notes (GM map) in drums.mid")
            }
            "melody-generator" => {
                std::fs::copy(dir.join("midi.mid"), out.join("melody.mid"))
                    .context("the melody generator wrote no midi.mid")?;
                format!("{notes} melody notes at {tempo} BPM in melody.mid")
            }
            _ => String::new(),
        };
        report.push_str(&format!(
            "## {display}\n\n{did}. Latency {latency_ms:.1} ms, {:.3}× real time (offline, 512-frame blocks).\n\n",
            rtf
        ));
        for f in &files {
            let r = rel(f);
            if r.ends_with(".png") {
                report.push_str(&format!("![{display}]({r})\n\n"));
            }
        }
        let list: Vec<String> = files.iter().map(|f| format!("[{}]({})", rel(f), rel(f))).collect();
        report.push_str(&format!("Files: {}\n\n", list.join(", ")));
        rows.push([display, did, what.to_string(), format!("{latency_ms:.1} ms"), format!("{rtf:.3}×")]);
    }
    let header = ["plugin", "what it did", "writes", "latency", "real-time factor"];
    let mut table = format!("| {} |\n|{}|\n", header.join(" | "), header.map(|_| "---").join("|"));
    for r in &rows {
        table.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    let md = format!(
        "# MIR Suite demo\n\nThe demo song ({}, {seconds:.1} s at {} Hz, {tempo} BPM) rendered offline through every plugin's \
         {} in the project's CLAP host (`cargo xtask demo`). Real-time factor: seconds spent inside the \
         plugin's process calls per second of audio on this machine (below 1 runs faster than real time).\n\n{table}\n{report}",
        song.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        audio.sample_rate,
        if debug { "debug library (the test build)" } else { "release CLAP bundle" }
    );
    let report_path = out.join("README.md");
    std::fs::write(&report_path, md)?;
    println!();
    for r in &rows {
        println!("{:<18} {:<66} {:>9} {:>8}", r[0], r[1], r[3], r[4]);
    }
    println!(
        "\nreport: {} (build {built_at:.0} s, renders {:.0} s)",
        report_path.display(),
        started.elapsed().as_secs_f64() - built_at
    );
    let failed: Vec<&str> = rows.iter().filter(|r| r[1].starts_with("failed")).map(|r| r[0].as_str()).collect();
    if !failed.is_empty() {
        bail!("the demo could not render through {}", failed.join(", "));
    }
    Ok(())
}

/// `cargo build --workspace --lib`: the dev profile with the whole workspace's features, i.e.
/// the test build's artifacts (plugins with nice-plug's allocation guard).
fn cargo_build_debug_libs(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--workspace", "--lib"])
        .current_dir(root)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build --workspace --lib failed");
    }
    Ok(())
}

fn fuzz(
    root: &Path,
    plugins: Vec<String>,
    first: u64,
    sessions: u64,
    seed: u64,
    no_build: bool,
    json: Option<PathBuf>,
) -> Result<()> {
    let all = plugin_packages(root)?;
    let chosen = if plugins.is_empty() { all.clone() } else { plugins };
    for p in &chosen {
        if !all.contains(p) {
            bail!("no plugin crate {p:?} (plugin crates: {all:?})");
        }
    }
    if !no_build {
        cargo_build_debug_libs(root)?;
    }
    // The libraries and this binary are copied aside first, so that a rebuild during a long
    // run cannot swap the code under it (a fresh instance would load the new file).
    let snapshot = root.join("target/fuzz").join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&snapshot)?;
    // Removed however this function returns.
    struct Remove<'a>(&'a Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _remove = Remove(&snapshot);
    let exe = snapshot.join("xtask");
    std::fs::copy(std::env::current_exe().context("cannot find this executable")?, &exe)?;
    let mut libs = Vec::new();
    for p in &chosen {
        let built = xtask::fuzz::debug_library(root, p);
        if !built.is_file() {
            bail!("{} is missing (build with `cargo build --workspace`)", built.display());
        }
        let lib = snapshot.join(built.file_name().context("library name")?);
        std::fs::copy(&built, &lib)?;
        libs.push(lib);
    }
    let mut rows = Vec::new();
    for (p, lib) in chosen.iter().zip(&libs) {
        println!("fuzzing {p}: {sessions} sessions, seed {seed}");
        rows.push(xtask::fuzz::fuzz_plugin(&exe, p, lib, first, sessions, seed)?);
    }
    xtask::fuzz::print_table(&rows);
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
    }
    let failed: u64 = rows.iter().map(|r| r.failed_sessions).sum();
    if failed > 0 {
        bail!("{failed} fuzz sessions failed (each kind of failure above comes with the command that replays it)");
    }
    Ok(())
}

fn bundle_all(root: &Path, cargo_args: Vec<String>) -> Result<()> {
    let packages = plugin_packages(root)?;
    if packages.is_empty() {
        println!("no plugin crates under plugins/ yet: nothing to bundle");
        return Ok(());
    }
    let mut args = vec!["bundle".to_string()];
    for p in &packages {
        args.push("-p".into());
        args.push(p.clone());
    }
    if !cargo_args.iter().any(|a| a == "--release" || a.starts_with("--profile")) {
        args.push("--release".into());
    }
    args.extend(cargo_args);
    nice_plug_xtask::main_with_args("cargo xtask", args)?;
    let names = display_names(root);
    for p in &packages {
        let name = names.get(p).unwrap_or(p);
        for ext in ["clap", "vst3"] {
            let path = root.join("target/bundled").join(format!("{name}.{ext}"));
            if !path.exists() {
                bail!("bundling {p} did not produce {}", path.display());
            }
            println!("bundled {}", path.display());
        }
    }
    Ok(())
}

fn install(root: &Path, clap_dir: Option<PathBuf>, vst3_dir: Option<PathBuf>) -> Result<()> {
    let home =
        std::env::var_os("HOME").map(PathBuf::from).context("HOME is not set; pass --clap-dir and --vst3-dir")?;
    let clap_dir = clap_dir.unwrap_or_else(|| home.join(".clap"));
    let vst3_dir = vst3_dir.unwrap_or_else(|| home.join(".vst3"));
    let bundled = root.join("target/bundled");
    let names = display_names(root);
    let packages = plugin_packages(root)?;
    let mut copied = 0;
    for p in &packages {
        let name = names.get(p).unwrap_or(p);
        for (ext, dest) in [("clap", &clap_dir), ("vst3", &vst3_dir)] {
            let src = bundled.join(format!("{name}.{ext}"));
            if !src.exists() {
                bail!("{} is missing: run `cargo xtask bundle-all` first", src.display());
            }
            std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
            let dst = dest.join(src.file_name().unwrap_or_default());
            copy_recursive(&src, &dst)?;
            println!("installed {}", dst.display());
            copied += 1;
        }
    }
    if copied == 0 {
        println!("no plugin crates under plugins/ yet: nothing to install");
    }
    Ok(())
}

fn copy_recursive(src: &Path, dst: &Path) -> Result<()> {
    if src.is_dir() {
        if dst.exists() {
            std::fs::remove_dir_all(dst).with_context(|| format!("cannot replace {}", dst.display()))?;
        }
        std::fs::create_dir_all(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &dst.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(src, dst).with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn render(
    root: &Path,
    plugin: &str,
    input: &Path,
    params: &[String],
    id: Option<&str>,
    opts: &RenderOptions,
    out: &Path,
    quiet: bool,
) -> Result<serde_json::Value> {
    let path = resolve_plugin(root, plugin)?;
    let audio = read_wav(input)?;
    let mut host = PluginHost::load(&path, id)?;
    for p in params {
        let (k, v) = p.split_once('=').with_context(|| format!("--param {p:?} is not id=value"))?;
        host.set_param(k.trim(), v.trim())?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let rendered = host.render(&audio, opts)?;
    let mut written = Vec::new();
    let mut used = std::collections::HashSet::new();
    for (i, (name, a)) in rendered.outputs.iter().enumerate() {
        let mut stem: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '_' })
            .collect();
        if stem.is_empty() || !used.insert(stem.clone()) {
            stem = format!("{stem}{i}");
        }
        let p = out.join(format!("{stem}.wav"));
        write_wav(&p, a)?;
        written.push(p);
    }
    let midi_path = out.join("midi.mid");
    if !rendered.midi.is_empty() {
        write_smf(&midi_path, audio.sample_rate, &rendered.midi)?;
        written.push(midi_path.clone());
    }
    if rendered.midi.iter().any(|e| matches!(e, xtask::smf::MidiOut::Cc { .. })) {
        let names = cc_names(root, &mut host)?;
        let csv = out.join("cc_timeline.csv");
        write_cc_timeline(&csv, audio.sample_rate, audio.frames(), &rendered.midi, &names)?;
        written.push(csv.clone());
        let png = out.join("cc_timeline.png");
        let status = xtask::python::module(root, "timeline").and_then(|mut cmd| {
            cmd.arg(&csv).arg(&png);
            Ok(cmd.status()?)
        });
        match status {
            Ok(s) if s.success() => written.push(png),
            _ => eprintln!(
                "note: could not plot {} (the project venv with matplotlib is needed: bash xtask/python/venv.sh); the CSV is complete",
                png.display()
            ),
        }
    }
    let seconds = audio.frames() as f64 / audio.sample_rate as f64;
    let summary = serde_json::json!({
        "plugin": host.description(),
        "input": input,
        "sample_rate": audio.sample_rate,
        "mode": opts.mode,
        "block": opts.block,
        "latency_frames": rendered.latency,
        "latency_compensated": opts.compensate_latency,
        "midi_events": rendered.midi.len(),
        "note_ons": rendered.midi.iter().filter(|e| matches!(e, xtask::smf::MidiOut::NoteOn { .. })).count(),
        "outputs": rendered.outputs.iter().map(|o| o.0.clone()).collect::<Vec<_>>(),
        "process_calls": rendered.process_calls,
        "process_seconds": rendered.process_seconds,
        "realtime_factor": if seconds > 0.0 { rendered.process_seconds / seconds } else { 0.0 },
        "files": written,
        "plugin_log": host.log(),
    });
    std::fs::write(out.join("render.json"), serde_json::to_string_pretty(&summary)?)?;
    if !quiet {
        for w in &written {
            println!("wrote {}", w.display());
        }
        println!(
            "latency {} frames, {} MIDI events, {:.3}x real time",
            rendered.latency,
            rendered.midi.len(),
            summary["realtime_factor"]
        );
    }
    Ok(summary)
}

/// Column names for the CCs a plugin sends: what the plugin's model tooling names them (the
/// Activity Meter: its classes from its base CC on), else `ccN`.
fn cc_names(root: &Path, host: &mut PluginHost) -> Result<Vec<(u8, String)>> {
    let id = host.description().id.clone();
    if let Some(names) = xtask::models::for_plugin(&id).map(|m| m.cc_names(root, host)).transpose()?.flatten() {
        return Ok(names);
    }
    Ok((0..128u8).map(|cc| (cc, format!("cc{cc}"))).collect())
}

/// Writes the CC values every 100 ms as CSV: `time_s,<name>,…` (only CCs that occur).
fn write_cc_timeline(
    path: &Path,
    rate: u32,
    frames: usize,
    midi: &[xtask::smf::MidiOut],
    names: &[(u8, String)],
) -> Result<()> {
    use std::fmt::Write as _;
    let used: Vec<&(u8, String)> = names
        .iter()
        .filter(|(cc, _)| midi.iter().any(|e| matches!(e, xtask::smf::MidiOut::Cc { cc: c, .. } if c == cc)))
        .collect();
    let mut events: Vec<(u64, u8, u8)> = midi
        .iter()
        .filter_map(|e| match *e {
            xtask::smf::MidiOut::Cc { frame, cc, value, .. } => Some((frame, cc, value)),
            _ => None,
        })
        .collect();
    events.sort();
    let mut state = [0u8; 128];
    let mut text = String::from("time_s");
    for (_, n) in &used {
        let _ = write!(text, ",{n}");
    }
    text.push('\n');
    let step = rate as u64 / 10;
    let mut next = 0usize;
    let mut t = 0u64;
    while t < frames as u64 {
        while next < events.len() && events[next].0 <= t {
            state[events[next].1 as usize & 127] = events[next].2;
            next += 1;
        }
        let _ = write!(text, "{:.1}", t as f64 / rate as f64);
        for (cc, _) in &used {
            let _ = write!(text, ",{}", state[*cc as usize & 127]);
        }
        text.push('\n');
        t += step;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
