//! The audition voice: one sine-and-octave voice with a short attack and release, so the melody
//! can be heard without routing MIDI to an instrument. Allocation-free.

use std::f32::consts::TAU;

/// A monophonic voice.
#[derive(Debug, Clone)]
pub struct Voice {
    rate: f32,
    phase: f32,
    freq: f32,
    velocity: f32,
    key: Option<u8>,
    env: f32,
    attack: f32,
    release: f32,
}

impl Voice {
    /// A silent voice at `rate` Hz (5 ms attack, −60 dB 120 ms after release).
    pub fn new(rate: f32) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 48_000.0 };
        Voice {
            rate,
            phase: 0.0,
            freq: 440.0,
            velocity: 0.0,
            key: None,
            env: 0.0,
            attack: 1.0 / (0.005 * rate),
            release: (-6.9 / (0.12 * rate)).exp(), // −60 dB in 120 ms
        }
    }

    /// Starts `key` (MIDI) at `velocity` (1–127).
    pub fn note_on(&mut self, key: u8, velocity: u8) {
        self.key = Some(key);
        self.freq = 440.0 * 2f32.powf((key as f32 - 69.0) / 12.0);
        self.velocity = velocity as f32 / 127.0;
    }

    /// Releases `key` if it is the one sounding.
    pub fn note_off(&mut self, key: u8) {
        if self.key == Some(key) {
            self.key = None;
        }
    }

    /// Silences at once.
    pub fn reset(&mut self) {
        self.key = None;
        self.env = 0.0;
        self.phase = 0.0;
    }

    /// Adds the voice, times `level`, to every channel of `out` for `frames` samples from `start`.
    pub fn render(&mut self, out: &mut [&mut [f32]], start: usize, frames: usize, level: f32) {
        if self.key.is_none() && self.env < 1e-5 {
            self.env = 0.0;
            return;
        }
        let step = self.freq / self.rate;
        for i in start..start + frames {
            if self.key.is_some() {
                self.env = (self.env + self.attack).min(1.0);
            } else {
                self.env *= self.release;
            }
            let s = (TAU * self.phase).sin() + 0.3 * (2.0 * TAU * self.phase).sin();
            self.phase = (self.phase + step).fract();
            let y = 0.6 * s * self.env * self.velocity * level;
            for ch in out.iter_mut() {
                if let Some(x) = ch.get_mut(i) {
                    *x += y;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sounds_while_held_and_dies_away_after() {
        let mut v = Voice::new(48_000.0);
        let mut buf = vec![0.0f32; 48_000];
        v.render(&mut [&mut buf], 0, 1000, 1.0);
        assert!(buf.iter().all(|x| *x == 0.0), "silent before a note");
        v.note_on(69, 127);
        v.render(&mut [&mut buf], 0, 24_000, 1.0);
        let peak = buf[..24_000].iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak > 0.5 && peak < 1.0, "peak {peak}");
        v.note_off(69);
        v.render(&mut [&mut buf], 24_000, 24_000, 1.0);
        let tail = buf[47_000..].iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(tail < 1e-3, "tail {tail}");
        assert!(buf.iter().all(|x| x.is_finite()));
    }
}
