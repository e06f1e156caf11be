//! QuickXorHash: the content hash OneDrive for Business and SharePoint report for every file
//! (`file.hashes.quickXorHash`), so the outbox can tell "this exact file already landed" without
//! downloading it.
//!
//! The hash is a 160-bit register; byte number `k` of the content is XORed into it starting at
//! bit `(11 * k) mod 160`, wrapping around the end of the register. Finally the content length
//! (64-bit little endian) is XORed into the last 8 of its 20 bytes, and the 20 bytes are base64.

use std::io::Read;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const WIDTH_BITS: u64 = 160;
const SHIFT: u64 = 11;

/// An incremental QuickXorHash.
///
/// Every byte whose index is the same modulo 160 lands at the same bit offset, so bytes are
/// first XORed into 160 lanes (a loop the compiler vectorises) and placed into the register
/// only when the digest is taken.
#[derive(Debug, Clone)]
pub struct QuickXorHash {
    lanes: [u8; LANES],
    length: u64,
}

const LANES: usize = WIDTH_BITS as usize;

impl Default for QuickXorHash {
    fn default() -> Self {
        QuickXorHash {
            lanes: [0; LANES],
            length: 0,
        }
    }
}

impl QuickXorHash {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        let mut lane = (self.length % WIDTH_BITS) as usize;
        self.length += data.len() as u64;
        // Up to the next lane-0 boundary byte by byte, then whole blocks of 160.
        while lane != 0 && !data.is_empty() {
            self.lanes[lane] ^= data[0];
            data = &data[1..];
            lane = (lane + 1) % LANES;
        }
        let mut blocks = data.chunks_exact(LANES);
        for block in &mut blocks {
            for (acc, b) in self.lanes.iter_mut().zip(block) {
                *acc ^= b;
            }
        }
        for (acc, b) in self.lanes.iter_mut().zip(blocks.remainder()) {
            *acc ^= b;
        }
    }

    /// The 20 hash bytes.
    pub fn digest(&self) -> [u8; 20] {
        // The 160-bit register as three little-endian cells (the last holds 32 bits).
        let mut cells = [0u64; 3];
        for (lane, &byte) in self.lanes.iter().enumerate() {
            let pos = (lane as u64 * SHIFT % WIDTH_BITS) as u32;
            xor_at(&mut cells, pos, u64::from(byte));
        }
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&cells[0].to_le_bytes());
        out[8..16].copy_from_slice(&cells[1].to_le_bytes());
        out[16..].copy_from_slice(&cells[2].to_le_bytes()[..4]);
        for (o, l) in out[12..].iter_mut().zip(self.length.to_le_bytes()) {
            *o ^= l;
        }
        out
    }

    /// The hash as Graph reports it (base64).
    pub fn finish_base64(&self) -> String {
        STANDARD.encode(self.digest())
    }
}

/// XORs 8 bits at bit `pos` of the circular 160-bit register.
fn xor_at(cells: &mut [u64; 3], pos: u32, byte: u64) {
    let cell = (pos / 64) as usize;
    let off = pos % 64;
    if cell < 2 {
        cells[cell] ^= byte << off;
        if off > 56 {
            cells[cell + 1] ^= byte >> (64 - off);
        }
    } else if off <= 24 {
        cells[2] ^= byte << off;
    } else {
        // The last cell holds 32 bits; what sticks out wraps to bit 0.
        cells[2] ^= (byte << off) & 0xFFFF_FFFF;
        cells[0] ^= byte >> (32 - off);
    }
}

/// The QuickXorHash (base64) of `data`.
pub fn hash_bytes(data: &[u8]) -> String {
    let mut h = QuickXorHash::new();
    h.update(data);
    h.finish_base64()
}

/// The QuickXorHash (base64) of a file, read in 1 MiB chunks. Blocking: call from
/// `spawn_blocking`.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut h = QuickXorHash::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish_base64());
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        STANDARD.decode(s).unwrap()
    }

    #[test]
    fn published_vectors() {
        // Input and expected hash, both base64, as used by other OneDrive clients.
        for (input, expected) in [
            ("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            ("Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="),
            ("tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="),
            ("0pZP", "0rDEEwAAAAAAAAAAAwAAAAAAAAA="),
            ("jRRDVA==", "jaDAEKgAAAAAAAAABAAAAAAAAAA="),
        ] {
            assert_eq!(hash_bytes(&b64(input)), expected, "input {input}");
        }
    }

    /// The definition, bit by bit, to check the word-wise version on long inputs.
    fn reference(data: &[u8]) -> [u8; 20] {
        let mut bits = [false; 160];
        for (k, byte) in data.iter().enumerate() {
            let start = (k as u64 * 11 % 160) as usize;
            for b in 0..8 {
                if byte >> b & 1 == 1 {
                    bits[(start + b) % 160] ^= true;
                }
            }
        }
        let mut out = [0u8; 20];
        for (i, bit) in bits.iter().enumerate() {
            if *bit {
                out[i / 8] |= 1 << (i % 8);
            }
        }
        for (o, l) in out[12..].iter_mut().zip((data.len() as u64).to_le_bytes()) {
            *o ^= l;
        }
        out
    }

    #[test]
    fn matches_the_definition_and_is_incremental() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut whole = QuickXorHash::new();
        whole.update(&data);
        assert_eq!(whole.digest(), reference(&data));
        let mut parts = QuickXorHash::new();
        for chunk in data.chunks(333).chain(std::iter::once(&[][..])) {
            parts.update(chunk);
        }
        assert_eq!(parts.digest(), whole.digest());
    }

    #[test]
    fn files_hash_like_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(hash_file(&path).unwrap(), hash_bytes(&data));
    }
}
