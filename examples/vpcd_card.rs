//! Puts a virtual contactless card on a vpcd reader, for trying the panel's PC/SC path
//! without hardware: `device/ci-pcsc.sh start`, run the panel, then
//!
//! ```text
//! cargo run --example vpcd_card -- [--port 35963] [--uid 04A1B2C3D4E5F6] [--no-get-data]
//! ```
//!
//! The card stays on the reader until Enter is pressed (or standard input closes); each
//! further Enter taps it again (removes it and puts it back).

#[path = "../tests/support/vcard.rs"]
mod vcard;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn main() -> ExitCode {
    let mut port = vcard::VPCD_DEFAULT_PORT;
    let mut uid = vec![0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
    let mut get_data = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => return usage("--port needs a number"),
            },
            "--uid" => match args.next().as_deref().and_then(parse_hex) {
                Some(u) => uid = u,
                None => return usage("--uid needs hex bytes"),
            },
            "--no-get-data" => get_data = false,
            _ => return usage(&format!("unknown argument {a:?}")),
        }
    }
    let mut card = vcard::VirtualCard::with_uid(&uid);
    card.get_data = get_data;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        let inserted = match card.insert(addr) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cannot reach vpcd on {addr}: {e} (is pcscd running with vpcd?)");
                return ExitCode::FAILURE;
            }
        };
        println!("card on the reader at {addr}; Enter taps again, Ctrl-D takes it off");
        let more = matches!(lines.next(), Some(Ok(_)));
        inserted.remove();
        if !more {
            return ExitCode::SUCCESS;
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("{problem}\nusage: vpcd_card [--port N] [--uid HEX] [--no-get-data]");
    ExitCode::from(2)
}
