//! Log output fits the device: text on a pipe carries no ANSI escape (while a terminal still
//! gets colours), and under systemd, with stderr being the journal stream, records go to the
//! journal natively with priority, identifier and fields. The journal is a datagram socket this
//! test binds, mounted at /run/systemd/journal in a private mount namespace of the child.

mod bin_support;

use bin_support::kiosk_bin;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};

/// The binary with debug logs on, so its start-up line is written; `--help` then exits.
fn kiosk() -> Command {
    let mut c = Command::new(kiosk_bin());
    c.arg("--help")
        .env("RUST_LOG", "debug")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null());
    c
}

const START_LINE: &str = "allocator and logging set up";

#[test]
fn logs_on_a_pipe_have_no_escape_codes_and_a_terminal_still_gets_colour() {
    let out = kiosk().stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains(START_LINE), "{text}");
    assert!(text.contains("DEBUG"), "{text}");
    assert!(
        !out.stderr.contains(&0x1b),
        "escape byte on a pipe: {text:?}"
    );

    // The reference: the same binary on a pseudo-terminal (util-linux `script`) does colour, so
    // the check above would see escapes if the terminal test were wrong.
    let Ok(script) = Command::new("script")
        .args(["-qec"])
        .arg(format!("{} --help >/dev/null", kiosk_bin().display()))
        .arg("/dev/null")
        .env("RUST_LOG", "debug")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
    else {
        eprintln!("no `script` here: terminal reference skipped");
        return;
    };
    let tty = String::from_utf8_lossy(&script.stdout);
    assert!(tty.contains(START_LINE), "{tty}");
    assert!(
        script.stdout.contains(&0x1b),
        "no colour on a terminal: {tty:?}"
    );
}

#[test]
fn under_systemd_records_go_to_the_journal_with_priority_and_fields() {
    // A private mount namespace needs CAP_SYS_ADMIN (CI runs as root, as device/host.sh does).
    let can_unshare = Command::new("unshare")
        .args(["-m", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !can_unshare {
        eprintln!("skipped: cannot make a mount namespace here (needs root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    std::fs::create_dir(&journal_dir).unwrap();
    let journal = UnixDatagram::bind(journal_dir.join("socket")).unwrap();
    journal.set_nonblocking(true).unwrap();

    // stderr is a file whose device and inode systemd would have put in JOURNAL_STREAM.
    let stderr_path = dir.path().join("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();
    let status = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && \
             mount --bind \"$1\" /run/systemd/journal && exec \"$2\" --help",
        )
        .arg("sh")
        .arg(&journal_dir)
        .arg(kiosk_bin())
        .env("RUST_LOG", "debug")
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "{text}");

    // The child has exited: everything it sent is queued on the socket.
    let mut records = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = journal.recv(&mut buf) {
        records.push(native_fields(&buf[..n]));
    }
    let start = records
        .iter()
        .find(|r| r.contains(&("MESSAGE".into(), START_LINE.into())))
        .unwrap_or_else(|| panic!("no start-up record in {records:?}; stderr: {text}"));
    let has = |k: &str, v: &str| start.contains(&(k.to_string(), v.to_string()));
    // tracing-journald's mapping: debug is "informational".
    assert!(has("PRIORITY", "6"), "{start:?}");
    assert!(has("SYSLOG_IDENTIFIER", "mfp-kiosk"), "{start:?}");
    assert!(
        has("F_ALLOCATOR", "Tamed"),
        "tracing fields as journal fields: {start:?}"
    );
    assert!(has("F_LOGS", "Journal"), "{start:?}");
    // Nothing went to stderr as text on top of it.
    assert!(!text.contains(START_LINE), "{text}");
}

/// The fields of one record in journald's native protocol: `KEY=value\n`, or `KEY\n`, a
/// 64-bit little-endian length, the value and `\n` for values that may hold newlines.
fn native_fields(mut datagram: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    while !datagram.is_empty() {
        let Some(end) = datagram.iter().position(|&b| b == b'\n' || b == b'=') else {
            break;
        };
        let key = String::from_utf8_lossy(&datagram[..end]).into_owned();
        if datagram[end] == b'=' {
            let rest = &datagram[end + 1..];
            let stop = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            fields.push((key, String::from_utf8_lossy(&rest[..stop]).into_owned()));
            datagram = &rest[(stop + 1).min(rest.len())..];
        } else {
            let rest = &datagram[end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            let value = &rest[8..8 + len];
            fields.push((key, String::from_utf8_lossy(value).into_owned()));
            datagram = &rest[(8 + len + 1).min(rest.len())..];
        }
    }
    fields
}
