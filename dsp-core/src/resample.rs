//! Fixed-ratio block resampling between the host rate and a model's rate.
//!
//! Built on rubato's synchronous FFT resampler with both chunk sizes fixed, so each call turns
//! exactly [`input_len`](BlockResampler::input_len) frames into exactly
//! [`output_len`](BlockResampler::output_len) frames with a constant, integer
//! [`delay`](BlockResampler::delay). Equal rates bypass rubato entirely (zero delay, bit exact).
//! Allocation-free after construction.

use audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

use crate::error::RunnerError;

/// Resamples planar blocks of a fixed size from one rate to another.
pub struct BlockResampler {
    inner: Option<Fft<f32>>,
    channels: usize,
    input_len: usize,
    output_len: usize,
    in_buf: Vec<Vec<f32>>,
    out_buf: Vec<Vec<f32>>,
}

impl BlockResampler {
    /// Builds a resampler from `from` Hz to `to` Hz for `channels` channels. `chunk_hint` is the
    /// wanted input block size; the actual sizes are the nearest that fit the ratio exactly.
    pub fn new(from: u32, to: u32, chunk_hint: usize, channels: usize) -> Result<Self, RunnerError> {
        if from == 0 || to == 0 || channels == 0 || chunk_hint == 0 {
            return Err(RunnerError::Config(format!(
                "resampler needs non-zero rates, channels and chunk ({from} -> {to} Hz, {channels} ch, {chunk_hint} frames)"
            )));
        }
        if from == to {
            return Ok(BlockResampler {
                inner: None,
                channels,
                input_len: chunk_hint,
                output_len: chunk_hint,
                in_buf: Vec::new(),
                out_buf: Vec::new(),
            });
        }
        let fft = Fft::<f32>::new(from as usize, to as usize, chunk_hint, channels, FixedSync::Both)
            .map_err(|e| RunnerError::Resampler { from, to, reason: e.to_string() })?;
        let input_len = fft.input_frames_next();
        let output_len = fft.output_frames_next();
        Ok(BlockResampler {
            inner: Some(fft),
            channels,
            input_len,
            output_len,
            in_buf: vec![vec![0.0; input_len]; channels],
            out_buf: vec![vec![0.0; output_len]; channels],
        })
    }

    /// Frames consumed per call.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Frames produced per call.
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    /// Delay in output frames (0 when the rates are equal).
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Clears the filter state.
    pub fn reset(&mut self) {
        if let Some(r) = &mut self.inner {
            r.reset();
        }
    }

    /// Resamples one block: `input[ch]` holds [`input_len`](Self::input_len) frames and
    /// `output[ch]` receives [`output_len`](Self::output_len) frames.
    pub fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        let Some(r) = &mut self.inner else {
            for (o, i) in output.iter_mut().zip(input) {
                o[..self.input_len].copy_from_slice(&i[..self.input_len]);
            }
            return;
        };
        for (b, i) in self.in_buf.iter_mut().zip(input) {
            b.copy_from_slice(&i[..self.input_len]);
        }
        let n_out = self.output_len;
        let ok = match (
            SequentialSliceOfVecs::new(&self.in_buf, self.channels, self.input_len),
            SequentialSliceOfVecs::new_mut(&mut self.out_buf, self.channels, n_out),
        ) {
            (Ok(a), Ok(mut b)) => r.process_into_buffer(&a, &mut b, None).is_ok(),
            _ => false,
        };
        for (o, b) in output.iter_mut().zip(&self.out_buf) {
            if ok {
                o[..n_out].copy_from_slice(b);
            } else {
                o[..n_out].fill(0.0);
            }
        }
    }
}

/// Resamples whole planar signals offline (files, datasets): same filter as the streaming path,
/// with the delay trimmed so output frame `j` is at time `j / to`. Returns
/// `ceil(len · to / from)` frames per channel.
pub fn resample_offline(input: &[Vec<f32>], from: u32, to: u32) -> Result<Vec<Vec<f32>>, RunnerError> {
    let channels = input.len().max(1);
    let len = input.first().map_or(0, |c| c.len());
    if from == to {
        return Ok(input.to_vec());
    }
    let mut r = BlockResampler::new(from, to, 4096, channels)?;
    let (il, ol, delay) = (r.input_len(), r.output_len(), r.delay());
    let want = (len as u64 * to as u64).div_ceil(from as u64) as usize;
    let mut out = vec![Vec::with_capacity(want + delay + ol); channels];
    let mut block_in = vec![vec![0.0f32; il]; channels];
    let mut block_out = vec![vec![0.0f32; ol]; channels];
    let mut pos = 0;
    while out[0].len() < want + delay {
        for (b, ch) in block_in.iter_mut().zip(input) {
            b.fill(0.0);
            if pos < len {
                let end = (pos + il).min(len);
                b[..end - pos].copy_from_slice(&ch[pos..end]);
            }
        }
        let ins: Vec<&[f32]> = block_in.iter().map(|v| v.as_slice()).collect();
        let mut outs: Vec<&mut [f32]> = block_out.iter_mut().map(|v| v.as_mut_slice()).collect();
        r.process(&ins, &mut outs);
        for (o, b) in out.iter_mut().zip(&block_out) {
            o.extend_from_slice(b);
        }
        pos += il;
    }
    for o in &mut out {
        o.drain(..delay);
        o.truncate(want);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_the_ratio_and_delay_is_constant() {
        for &(a, b) in &[(48_000, 22_050), (44_100, 16_000), (96_000, 44_100), (22_050, 44_100)] {
            let r = BlockResampler::new(a, b, 1024, 2).unwrap();
            assert_eq!(r.input_len() as u64 * b as u64, r.output_len() as u64 * a as u64, "{a}->{b}");
        }
        let same = BlockResampler::new(44_100, 44_100, 512, 1).unwrap();
        assert_eq!((same.input_len(), same.output_len(), same.delay()), (512, 512, 0));
    }

    #[test]
    fn offline_resampling_keeps_time_alignment() {
        let (a, b) = (44_100u32, 22_050u32);
        let mut x = vec![0.0f32; 44_100];
        x[10_000] = 1.0;
        let y = resample_offline(&[x], a, b).unwrap();
        assert_eq!(y[0].len(), 22_050);
        let peak = y[0].iter().enumerate().max_by(|p, q| p.1.total_cmp(q.1)).unwrap().0;
        assert_eq!(peak, 5_000);
    }

    #[test]
    fn a_sine_survives_resampling() {
        let (a, b) = (48_000u32, 16_000u32);
        let mut r = BlockResampler::new(a, b, 960, 1).unwrap();
        let f = 440.0f32;
        let blocks = 20;
        let input: Vec<f32> =
            (0..r.input_len() * blocks).map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / a as f32).sin()).collect();
        let mut out = vec![0.0; r.output_len() * blocks];
        let (il, ol) = (r.input_len(), r.output_len());
        for k in 0..blocks {
            let mut o = [&mut out[k * ol..(k + 1) * ol]];
            r.process(&[&input[k * il..(k + 1) * il]], &mut o);
        }
        let d = r.delay();
        for (j, y) in out.iter().enumerate().skip(d + ol) {
            let t = (j - d) as f32 / b as f32;
            let want = (2.0 * std::f32::consts::PI * f * t).sin();
            assert!((y - want).abs() < 1e-3, "sample {j}: {y} vs {want}");
        }
    }
}
