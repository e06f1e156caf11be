//! A contactless card that speaks vpcd's socket protocol, so pcscd's vpcd driver
//! (`vsmartcard-vpcd`) sees it as a card on a reader.
//!
//! vpcd listens on a TCP port per reader slot (35963 by default); a card "is inserted" by
//! connecting to it and "removed" by closing the connection. Every message in both directions
//! is a 2-byte big-endian length and a payload. One-byte messages from vpcd are control
//! messages: 0x00 power off, 0x01 power on, 0x02 reset (no answer), 0x04 "send the ATR"
//! (vpcd asks for it on every presence poll). Anything longer is a command APDU to answer.
//! (Protocol as in vsmartcard's `virtualsmartcard/src/vpcd/vpcd.c`.)
//!
//! Shared by `tests/readers_pcsc.rs` and `examples/vpcd_card.rs`.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// vpcd's default port for the first slot of the first reader.
pub const VPCD_DEFAULT_PORT: u16 = 35963;

const CTRL_OFF: u8 = 0x00;
const CTRL_ON: u8 = 0x01;
const CTRL_RESET: u8 = 0x02;
const CTRL_ATR: u8 = 0x04;

/// ATR of a MIFARE Classic 1K as a PC/SC part 3 contactless reader reports it (T=1).
pub const MIFARE_1K_ATR: [u8; 20] = [
    0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x6A,
];

/// How the card answers.
#[derive(Debug, Clone)]
pub struct VirtualCard {
    pub uid: Vec<u8>,
    pub atr: Vec<u8>,
    /// When false, GET DATA is refused with `6A 81` (function not supported).
    pub get_data: bool,
    /// A further command and its full answer (data and status word).
    pub extra: Option<(Vec<u8>, Vec<u8>)>,
    /// Leaves the field in the middle of the first command: vpcd gets no answer and the
    /// connection closes, as when a badge is pulled away mid-APDU.
    pub pulled_mid_apdu: bool,
}

impl VirtualCard {
    /// A MIFARE-like card whose GET DATA returns `uid`.
    pub fn with_uid(uid: &[u8]) -> Self {
        VirtualCard {
            uid: uid.to_vec(),
            atr: MIFARE_1K_ATR.to_vec(),
            get_data: true,
            extra: None,
            pulled_mid_apdu: false,
        }
    }

    fn answer(&self, apdu: &[u8]) -> Vec<u8> {
        if let Some((cmd, resp)) = &self.extra {
            if apdu == cmd.as_slice() {
                return resp.clone();
            }
        }
        match apdu {
            [0xFF, 0xCA, 0x00, 0x00, le] if self.get_data => {
                let le = usize::from(*le);
                if le != 0 && le != self.uid.len() {
                    // Wrong length: tell the reader the right one.
                    return vec![0x6C, self.uid.len() as u8];
                }
                let mut r = self.uid.clone();
                r.extend_from_slice(&[0x90, 0x00]);
                r
            }
            [0xFF, 0xCA, ..] => vec![0x6A, 0x81],
            _ => vec![0x6D, 0x00],
        }
    }

    /// Puts the card on the vpcd slot listening at `addr`.
    pub fn insert(&self, addr: SocketAddr) -> io::Result<InsertedCard> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        let stats = Arc::new(Stats::default());
        let reader = stream.try_clone()?;
        let card = self.clone();
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::spawn(move || serve(reader, &card, &thread_stats));
        Ok(InsertedCard {
            stream,
            stats,
            thread: Some(thread),
        })
    }
}

/// What vpcd asked of an inserted card.
#[derive(Debug, Default)]
pub struct Stats {
    /// ATR requests: one per presence poll of pcscd and one per power-up.
    pub atr_requests: AtomicU64,
    pub power_ups: AtomicU64,
    /// GET DATA (UID) commands.
    pub uid_requests: AtomicU64,
    /// All command APDUs.
    pub apdus: AtomicU64,
}

/// A card on a reader; dropping it removes it.
pub struct InsertedCard {
    stream: TcpStream,
    stats: Arc<Stats>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl InsertedCard {
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn uid_requests(&self) -> u64 {
        self.stats.uid_requests.load(Ordering::SeqCst)
    }

    /// Waits until pcscd has polled the card `more` further times: proof that pcscd looked
    /// at the reader again and still found this card.
    pub fn wait_for_presence_polls(&self, more: u64, timeout: Duration) -> bool {
        let target = self.stats.atr_requests.load(Ordering::SeqCst) + more;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stats.atr_requests.load(Ordering::SeqCst) >= target {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether vpcd hung up (its pcscd went away).
    pub fn disconnected(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Takes the card off the reader.
    pub fn remove(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for InsertedCard {
    fn drop(&mut self) {
        self.shut();
    }
}

fn serve(mut s: TcpStream, card: &VirtualCard, stats: &Stats) -> io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        if let Err(e) = s.read_exact(&mut len) {
            return if e.kind() == io::ErrorKind::UnexpectedEof {
                Ok(())
            } else {
                Err(e)
            };
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut msg)?;
        let reply = match msg.as_slice() {
            [CTRL_ATR] => {
                stats.atr_requests.fetch_add(1, Ordering::SeqCst);
                Some(card.atr.clone())
            }
            [CTRL_ON] => {
                stats.power_ups.fetch_add(1, Ordering::SeqCst);
                None
            }
            [CTRL_OFF] | [CTRL_RESET] | [] => None,
            [_] => None,
            _ if card.pulled_mid_apdu => {
                stats.apdus.fetch_add(1, Ordering::SeqCst);
                let _ = s.shutdown(Shutdown::Both);
                return Ok(());
            }
            apdu => {
                stats.apdus.fetch_add(1, Ordering::SeqCst);
                if apdu.starts_with(&[0xFF, 0xCA]) {
                    stats.uid_requests.fetch_add(1, Ordering::SeqCst);
                }
                Some(card.answer(apdu))
            }
        };
        if let Some(r) = reply {
            let mut out = (r.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&r);
            s.write_all(&out)?;
        }
    }
}
