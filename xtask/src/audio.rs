//! WAV files in and out (planar `f32`).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Planar audio: `channels[c][frame]`, at `sample_rate` Hz.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// One vector per channel, all the same length.
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    /// Deterministic stereo noise at 0.1 peak (the benchmarks' input, so runs compare).
    pub fn noise(rate: u32, seconds: f64) -> Audio {
        let n = (rate as f64 * seconds) as usize;
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut ch = || -> Vec<f32> {
            (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    ((s >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * 0.1
                })
                .collect()
        };
        Audio { sample_rate: rate, channels: vec![ch(), ch()] }
    }

    /// Frames per channel.
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, |c| c.len())
    }

    /// Silence of the given shape.
    pub fn silence(sample_rate: u32, channels: usize, frames: usize) -> Self {
        Audio { sample_rate, channels: vec![vec![0.0; frames]; channels] }
    }
}

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float) into planar `f32` in [-1, 1].
pub fn read_wav(path: &Path) -> Result<Audio> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("cannot read WAV file {}", path.display()))?;
    let spec = reader.spec();
    if spec.channels == 0 {
        bail!("{} has no channels", path.display());
    }
    let n_ch = spec.channels as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
        }
    }
    .with_context(|| format!("corrupt sample data in {}", path.display()))?;
    let frames = interleaved.len() / n_ch;
    let mut channels = vec![Vec::with_capacity(frames); n_ch];
    for frame in interleaved.chunks_exact(n_ch) {
        for (c, s) in frame.iter().enumerate() {
            channels[c].push(*s);
        }
    }
    Ok(Audio { sample_rate: spec.sample_rate, channels })
}

/// Writes planar audio as a 32-bit float WAV file.
pub fn write_wav(path: &Path, audio: &Audio) -> Result<()> {
    let spec = hound::WavSpec {
        channels: audio.channels.len() as u16,
        sample_rate: audio.sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("cannot create {}", path.display()))?;
    for i in 0..audio.frames() {
        for ch in &audio.channels {
            w.write_sample(ch[i])?;
        }
    }
    w.finalize().with_context(|| format!("cannot finish {}", path.display()))?;
    Ok(())
}

/// Reads a WAV, FLAC or AIFF file (symphonia) as 32-bit float audio.
pub fn read_audio(path: &Path) -> Result<Audio> {
    let (sample_rate, channels) = crate::dataset::hydrogen::decode(path)?;
    Ok(Audio { sample_rate, channels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip_is_exact_for_float() {
        let dir = std::env::temp_dir().join(format!("xtask-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Audio { sample_rate: 44_100, channels: vec![vec![0.5, -0.25, 0.0], vec![1.0, 0.125, -1.0]] };
        let p = dir.join("a.wav");
        write_wav(&p, &a).unwrap();
        assert_eq!(read_wav(&p).unwrap(), a);
        std::fs::write(dir.join("bad.wav"), b"RIFF....not a wav").unwrap();
        assert!(read_wav(&dir.join("bad.wav")).is_err());
        assert!(read_wav(&dir.join("missing.wav")).is_err());
    }
}
