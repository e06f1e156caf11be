//! A private pcscd for tests, with vpcd virtual readers.
//!
//! Each instance runs Debian's real `pcscd` with its own reader configuration directory
//! (`-c`), one vpcd reader per entry, each on free TCP ports. It must not disturb a pcscd the
//! machine may be running, and pcscd's server socket path is compiled in
//! (`/run/pcscd/pcscd.comm`), so:
//!
//! - the test creates the listening socket itself at a private path and hands it over the way
//!   systemd socket activation does (fd 3, `LISTEN_FDS=1`, `LISTEN_PID`); libpcsclite in the
//!   test process is pointed at it with `PCSCLITE_CSOCK_NAME`;
//! - pcscd runs in its own mount namespace (`unshare --mount`) with a tmpfs on `/run/pcscd`,
//!   so the pid file it writes there is its own.
//!
//! This needs root (mount namespace); CI runs as root. Readers are named by pcscd
//! `"<FRIENDLYNAME> <reader index> <slot>"`, both two hex digits.

#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
const PCSCD_CANDIDATES: [&str; 2] = ["/usr/sbin/pcscd", "/usr/bin/pcscd"];

/// Runs pcscd in a private mount namespace with the passed socket as fd 3.
const LAUNCH: &str = r#"exec 3<&0 </dev/null
mkdir -p /run/pcscd && mount -t tmpfs -o mode=0755 tmpfs /run/pcscd || exit 97
LISTEN_FDS=1 LISTEN_PID=$$ exec stdbuf -oL -eL "$1" --foreground --info -c "$2""#;

/// The tests of one binary share libpcsclite's socket path, so they take turns.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn pcscd_binary() -> Option<&'static str> {
    PCSCD_CANDIDATES.into_iter().find(|p| Path::new(p).exists())
}

/// Why a private pcscd with vpcd cannot run here, if it cannot.
pub fn unavailable_reason() -> Option<String> {
    if pcscd_binary().is_none() {
        return Some("pcscd is not installed (apt-get install pcscd)".into());
    }
    if !Path::new(VPCD_DRIVER).exists() {
        return Some(format!(
            "the vpcd driver {VPCD_DRIVER} is missing (apt-get install vsmartcard-vpcd)"
        ));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("a private pcscd needs root for its mount namespace".into());
    }
    let unshare = Command::new("unshare").arg("--version").output();
    if !unshare.is_ok_and(|o| o.status.success()) {
        return Some("unshare (util-linux) is missing".into());
    }
    None
}

/// `true` when the test can run. Without pcscd it prints why and returns `false`, unless
/// `CI` is set: there a missing pcscd is a failure (device/ci-pcsc.sh installs it).
pub fn available(test: &str) -> bool {
    let Some(reason) = unavailable_reason() else {
        return true;
    };
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if ci {
        panic!("{test}: {reason}; CI must run this test (run device/ci-pcsc.sh first)");
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}

/// The private socket path of this test process, exported to libpcsclite before its first
/// use (it reads the variable once and caches it).
pub fn socket_path() -> PathBuf {
    static INIT: Once = Once::new();
    let dir = std::env::temp_dir().join(format!("mfp-pcscd-{}", std::process::id()));
    let path = dir.join("pcscd.comm");
    INIT.call_once(|| {
        fs::create_dir_all(&dir).unwrap();
        // SAFETY (edition 2021 API): set once, before any thread of this process uses
        // libpcsclite; the value never changes afterwards.
        std::env::set_var("PCSCLITE_CSOCK_NAME", &path);
    });
    path
}

/// One vpcd reader: slot `i` listens for its card on `port + i`.
#[derive(Debug, Clone)]
pub struct Vpcd {
    pub name: String,
    pub port: u16,
}

impl Vpcd {
    /// A reader on two free consecutive ports (vpcd's two slots).
    pub fn new(name: &str) -> Vpcd {
        for _ in 0..100 {
            let a = TcpListener::bind("0.0.0.0:0").unwrap();
            let port = a.local_addr().unwrap().port();
            if port < u16::MAX && TcpListener::bind(("0.0.0.0", port + 1)).is_ok() {
                return Vpcd {
                    name: name.to_string(),
                    port,
                };
            }
        }
        panic!("no two free consecutive TCP ports");
    }

    /// Where the card for `slot` connects.
    pub fn slot(&self, slot: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port + slot))
    }

    fn conf(&self) -> String {
        format!(
            "FRIENDLYNAME \"{}\"\nDEVICENAME /dev/null:{}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {}\n",
            self.name, self.port, self.port
        )
    }

    /// The name pcscd gives `slot` of this reader, found in `readers`.
    pub fn reader_name<'a>(&self, readers: &'a [String], slot: u8) -> Option<&'a String> {
        let suffix = format!(" {slot:02X}");
        readers.iter().find(|r| {
            r.strip_prefix(&self.name)
                .and_then(|rest| rest.strip_suffix(&suffix))
                .is_some_and(|idx| idx.len() == 3 && idx.starts_with(' '))
        })
    }
}

/// A running private pcscd.
pub struct Pcscd {
    child: Child,
    _conf: tempfile::TempDir,
    log: PathBuf,
}

impl Pcscd {
    /// Starts pcscd serving `readers`.
    pub fn start(readers: &[&Vpcd]) -> Pcscd {
        let sock = socket_path();
        let _ = fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).expect("bind the pcscd socket");
        let conf = tempfile::tempdir().unwrap();
        for r in readers {
            fs::write(conf.path().join(&r.name), r.conf()).unwrap();
        }
        let log = conf.path().with_extension("log");
        let out = fs::File::create(&log).unwrap();
        let child = Command::new("unshare")
            .arg("--mount")
            .args(["sh", "-c", LAUNCH, "pcscd-test"])
            .arg(pcscd_binary().expect("pcscd"))
            .arg(conf.path())
            .stdin(Stdio::from(OwnedFd::from(listener)))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start pcscd");
        Pcscd {
            child,
            _conf: conf,
            log,
        }
    }

    /// Waits until a client of this pcscd sees `count` readers; returns their names.
    pub fn wait_readers(&mut self, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pcscd exited with {status}:\n{}", self.log());
            }
            let names = pcsc::Context::establish(pcsc::Scope::User)
                .and_then(|c| c.list_readers_owned())
                .map(|n| {
                    n.iter()
                        .map(|s| s.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if names.len() >= count {
                return names;
            }
            assert!(
                Instant::now() < deadline,
                "pcscd shows {names:?}, expected {count} readers:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills pcscd with SIGKILL (a crash or the OOM killer): no clean-up, its socket stays.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops pcscd the way `systemctl stop` does (SIGTERM), SIGKILL if it hangs.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = fs::remove_file(socket_path());
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(socket_path());
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        self.terminate();
        let _ = fs::remove_file(&self.log);
    }
}
