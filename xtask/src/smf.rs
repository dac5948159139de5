//! Standard MIDI Files whose ticks are audio samples.
//!
//! The file's resolution and tempo are chosen so one tick is exactly one sample at the render's
//! sample rate: `ppq = rate / k` (the smallest integer `k` that keeps `ppq` within 15 bits) and
//! a tempo of `1e6 / k` µs per quarter note. Event positions therefore survive exactly.

use std::path::Path;

use anyhow::{bail, Context, Result};
use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// A MIDI message a plugin emitted, at a sample position of the rendered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum MidiOut {
    /// Note on (velocity 1–127).
    NoteOn { frame: u64, channel: u8, key: u8, velocity: u8 },
    /// Note off.
    NoteOff { frame: u64, channel: u8, key: u8 },
    /// Control change.
    Cc { frame: u64, channel: u8, cc: u8, value: u8 },
}

impl MidiOut {
    /// Sample position of the event.
    pub fn frame(&self) -> u64 {
        match *self {
            MidiOut::NoteOn { frame, .. } | MidiOut::NoteOff { frame, .. } | MidiOut::Cc { frame, .. } => frame,
        }
    }

    /// Parses a raw 3-byte MIDI 1.0 message.
    pub fn from_bytes(frame: u64, data: [u8; 3]) -> Option<Self> {
        let (status, channel) = (data[0] & 0xF0, data[0] & 0x0F);
        match status {
            0x90 if data[2] > 0 => Some(MidiOut::NoteOn { frame, channel, key: data[1], velocity: data[2] }),
            0x80 | 0x90 => Some(MidiOut::NoteOff { frame, channel, key: data[1] }),
            0xB0 => Some(MidiOut::Cc { frame, channel, cc: data[1], value: data[2] }),
            _ => None,
        }
    }
}

/// Ticks per quarter note and tempo (µs per quarter) for which one tick is one sample.
pub fn sample_timing(sample_rate: u32) -> Result<(u16, u32)> {
    for k in 1..=64u32 {
        if sample_rate.is_multiple_of(k) && sample_rate / k <= 0x7FFF && 1_000_000u32.is_multiple_of(k) {
            return Ok(((sample_rate / k) as u16, 1_000_000 / k));
        }
    }
    bail!("no sample-exact MIDI timing for {sample_rate} Hz")
}

/// Writes `events` (any order) as a type-0 MIDI file with one tick per sample.
pub fn write_smf(path: &Path, sample_rate: u32, events: &[MidiOut]) -> Result<()> {
    let (ppq, tempo) = sample_timing(sample_rate)?;
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| e.frame());
    let mut track =
        vec![TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(tempo))) }];
    let mut last = 0u64;
    for e in &sorted {
        let delta = e.frame() - last;
        last = e.frame();
        let (channel, message) = match *e {
            MidiOut::NoteOn { channel, key, velocity, .. } => {
                (channel, MidiMessage::NoteOn { key: u7::new(key & 0x7F), vel: u7::new(velocity.clamp(1, 127)) })
            }
            MidiOut::NoteOff { channel, key, .. } => {
                (channel, MidiMessage::NoteOff { key: u7::new(key & 0x7F), vel: u7::new(0) })
            }
            MidiOut::Cc { channel, cc, value, .. } => {
                (channel, MidiMessage::Controller { controller: u7::new(cc & 0x7F), value: u7::new(value & 0x7F) })
            }
        };
        if delta > u28::max_value().as_int() as u64 {
            bail!("gap of {delta} samples between MIDI events is too long for one delta");
        }
        track.push(TrackEvent {
            delta: u28::new(delta as u32),
            kind: TrackEventKind::Midi { channel: u4::new(channel & 0x0F), message },
        });
    }
    track.push(TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
    let smf = Smf { header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(ppq))), tracks: vec![track] };
    smf.save(path).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads back a file written by [`write_smf`] (used by tests and `eval`): events with frames.
pub fn read_smf(path: &Path, sample_rate: u32) -> Result<Vec<MidiOut>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let smf = Smf::parse(&bytes).with_context(|| format!("{} is not a MIDI file", path.display()))?;
    let Timing::Metrical(ppq) = smf.header.timing else { bail!("SMPTE timing is not supported") };
    let mut tempo = 500_000u64;
    let mut out = Vec::new();
    for track in &smf.tracks {
        let mut ticks = 0u64;
        let mut secs = 0f64;
        let mut last_tick = 0u64;
        for ev in track {
            ticks += ev.delta.as_int() as u64;
            secs += (ticks - last_tick) as f64 * tempo as f64 / 1e6 / ppq.as_int() as f64;
            last_tick = ticks;
            let frame = (secs * sample_rate as f64).round() as u64;
            match ev.kind {
                TrackEventKind::Meta(MetaMessage::Tempo(t)) => tempo = t.as_int() as u64,
                TrackEventKind::Midi { channel, message } => {
                    let ch = channel.as_int();
                    match message {
                        MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                            out.push(MidiOut::NoteOn { frame, channel: ch, key: key.as_int(), velocity: vel.as_int() })
                        }
                        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                            out.push(MidiOut::NoteOff { frame, channel: ch, key: key.as_int() })
                        }
                        MidiMessage::Controller { controller, value } => {
                            out.push(MidiOut::Cc { frame, channel: ch, cc: controller.as_int(), value: value.as_int() })
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_at_exact_sample_positions() {
        let dir = std::env::temp_dir().join(format!("xtask-smf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for rate in [22_050, 44_100, 48_000, 96_000, 192_000] {
            let ev = vec![
                MidiOut::NoteOn { frame: 12_345, channel: 0, key: 36, velocity: 100 },
                MidiOut::Cc { frame: 12_346, channel: 9, cc: 20, value: 127 },
                MidiOut::NoteOff { frame: 99_999, channel: 0, key: 36 },
            ];
            let p = dir.join(format!("t{rate}.mid"));
            write_smf(&p, rate, &ev).unwrap();
            assert_eq!(read_smf(&p, rate).unwrap(), ev, "{rate} Hz");
        }
    }
}
