//! The take as a Standard MIDI File (midly): the whole take or its last N bars, on the host's
//! bar grid when the host reported song positions, else on the take's own clock at its tempo.

use crate::core::Hit;

/// Ticks per quarter note in the exported files.
pub const PPQ: u16 = 480;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Every hit of the take.
    Whole,
    /// The last `n` 4/4 bars up to and including the bar of the latest hit.
    LastBars(u32),
}

/// Each hit's position in quarter notes: the host's song position when every hit has one,
/// else its take time at `tempo`.
fn positions(hits: &[Hit], rate: f64, tempo: f64) -> Vec<f64> {
    if hits.iter().all(|h| h.beats.is_some()) {
        hits.iter().map(|h| h.beats.unwrap_or(0.0)).collect()
    } else {
        hits.iter().map(|h| h.frame as f64 / rate * tempo / 60.0).collect()
    }
}

/// The hits of `span` as a format-0 SMF: tempo, 4/4, each hit a note on `channel` (0-based)
/// of `note_ms`. Time zero is the first bar of the span (the bar line at or before the first
/// hit for the whole take). `None` when the span holds no hit.
pub fn take_to_smf(hits: &[Hit], span: Span, rate: f64, tempo: f64, channel: u8, note_ms: f64) -> Option<Vec<u8>> {
    use midly::num::{u15, u24, u28, u4, u7};
    use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
    if hits.is_empty() {
        return None;
    }
    let tempo = if tempo.is_finite() && tempo > 0.0 { tempo.clamp(20.0, 999.0) } else { 120.0 };
    let pos = positions(hits, rate.max(1.0), tempo);
    let last = pos.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let first = pos.iter().cloned().fold(f64::INFINITY, f64::min);
    let origin = match span {
        Span::Whole => (first / 4.0).floor() * 4.0,
        Span::LastBars(n) => ((last / 4.0).floor() - (n.max(1) as f64 - 1.0)) * 4.0,
    };
    let ppq = PPQ as f64;
    let len = ((note_ms / 1000.0 * tempo / 60.0 * ppq).round() as u32).max(1);
    let ch = u4::new(channel.min(15));
    // (absolute tick, order, kind): at equal ticks note-offs go before note-ons.
    let mut events: Vec<(u32, u8, TrackEventKind<'static>)> = Vec::new();
    for (h, p) in hits.iter().zip(&pos) {
        if *p < origin - 1e-9 {
            continue;
        }
        let on = ((p - origin) * ppq).round() as u32;
        let (key, vel) = (u7::new(h.key.min(127)), u7::new(h.velocity.clamp(1, 127)));
        events.push((on, 1, TrackEventKind::Midi { channel: ch, message: MidiMessage::NoteOn { key, vel } }));
        events.push((
            on + len,
            0,
            TrackEventKind::Midi { channel: ch, message: MidiMessage::NoteOff { key, vel: u7::new(0) } },
        ));
    }
    if events.is_empty() {
        return None;
    }
    events.sort_by_key(|e| (e.0, e.1));
    let end_bars = ((events.last().map_or(0, |e| e.0) as f64 / ppq) / 4.0).ceil().max(1.0);
    let end = (end_bars * 4.0 * ppq) as u32;
    let mut track = vec![
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new((60_000_000.0 / tempo).round() as u32))),
        },
        TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::TimeSignature(4, 2, 24, 8)) },
        TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::TrackName(b"Drum Transcriber")) },
    ];
    let mut now = 0;
    for (t, _, kind) in events {
        track.push(TrackEvent { delta: u28::new(t - now), kind });
        now = t;
    }
    track.push(TrackEvent {
        delta: u28::new(end.saturating_sub(now)),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let smf = Smf { header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(PPQ))), tracks: vec![track] };
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    smf.write_std(&mut bytes).expect("write a MIDI file into memory");
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(frame: u64, beats: Option<f64>, key: u8) -> Hit {
        Hit { frame, beats, class: 0, key, velocity: 100 }
    }

    /// (tick, key) of each note-on.
    fn ons(bytes: &[u8]) -> Vec<(u32, u8)> {
        let smf = midly::Smf::parse(bytes).unwrap();
        let mut t = 0;
        let mut out = Vec::new();
        for e in &smf.tracks[0] {
            t += e.delta.as_int();
            if let midly::TrackEventKind::Midi { message: midly::MidiMessage::NoteOn { key, vel }, .. } = e.kind {
                if vel > 0 {
                    out.push((t, key.as_int()));
                }
            }
        }
        out
    }

    #[test]
    fn host_song_positions_put_notes_on_the_bar_grid() {
        let hits = [hit(0, Some(5.0), 36), hit(0, Some(6.5), 38), hit(0, Some(13.25), 42)];
        let all = take_to_smf(&hits, Span::Whole, 48_000.0, 120.0, 9, 50.0).unwrap();
        // The take starts in bar 2 (beat 4): beat 5 is tick 480.
        assert_eq!(ons(&all), [(480, 36), (1200, 38), (4440, 42)]);
        let last = take_to_smf(&hits, Span::LastBars(1), 48_000.0, 120.0, 9, 50.0).unwrap();
        assert_eq!(ons(&last), [(600, 42)], "the bar of the last hit starts at beat 12");
        assert!(take_to_smf(&[], Span::Whole, 48_000.0, 120.0, 9, 50.0).is_none());
    }

    #[test]
    fn without_song_positions_the_take_clock_and_tempo_place_notes() {
        // 100 BPM: a quarter note is 0.6 s = 28 800 frames at 48 kHz.
        let hits = [hit(28_800, None, 36), hit(43_200, Some(1.0), 38)];
        let b = take_to_smf(&hits, Span::Whole, 48_000.0, 100.0, 9, 50.0).unwrap();
        assert_eq!(ons(&b), [(480, 36), (720, 38)]);
        let smf = midly::Smf::parse(&b).unwrap();
        assert!(smf.tracks[0].iter().any(
            |e| matches!(e.kind, midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(t)) if t.as_int() == 600_000)
        ));
    }
}
