"""16-bit / 32-bit-float PCM WAV reading with the standard library (no soundfile needed, so the
same code runs on the GPU machine)."""

import struct
import wave

import numpy as np


def read(path: str):
    """Returns (float32 array [channels, frames] in [-1, 1], sample_rate)."""
    try:
        with wave.open(path, "rb") as w:
            ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
        if width == 2:
            x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        elif width == 4:
            x = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
        else:
            raise ValueError(f"{path}: {8 * width}-bit PCM is not supported")
        return x.reshape(-1, ch).T.copy(), rate
    except wave.Error:
        return _read_float(path)


def _read_float(path: str):
    """IEEE-float WAV (format 3), which the wave module refuses."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path} is not a WAV file")
    pos, fmt, audio = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            audio = body
        pos += 8 + size + (size & 1)
    if fmt is None or audio is None or fmt[0] not in (3, 0xFFFE) or fmt[5] != 32:
        raise ValueError(f"{path}: unsupported WAV format")
    ch, rate = fmt[1], fmt[2]
    x = np.frombuffer(audio, dtype="<f4")
    return x.reshape(-1, ch).T.copy(), rate
