//! The app's binary as a child process, for the tests of its command line: which binary (the
//! one cargo built, or `MFP_KIOSK_BIN`, e.g. a private copy or a QEMU wrapper for a board
//! build), and one run of it with its exit code and output.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary under test: `MFP_KIOSK_BIN` when set, else the one cargo built with the tests.
pub fn kiosk_bin() -> PathBuf {
    std::env::var_os("MFP_KIOSK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mfp-kiosk")))
}

/// What one run printed and how it ended.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `mfp-kiosk --config <cfg> args...` to its end, feeding `stdin`, with warnings-only logs.
pub fn run(cfg: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(kiosk_bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
