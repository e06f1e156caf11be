//! Upload benchmark: a file (1 GiB by default; pass the size in MiB) through an upload session
//! to the simulated Graph on loopback, against a raw streamed PUT of the same bytes to the same
//! server in the same run. Prints both throughputs, their ratio (target >= 0.9) and the peak RSS
//! growth of the process during the session upload (target < 32 MiB whatever the size).
//!
//! Run: `cargo run --release --example upload_bench [MiB]` (Linux: reads /proc/self/status and
//! resets the peak with /proc/self/clear_refs).

use std::io::Write;
use std::time::Instant;

use futures_util::StreamExt;
use mfp_kiosk::auth::entra::{EntraClient, EntraSettings};
use mfp_kiosk::graph::{
    BoxedTokenFuture, DriveTarget, GraphClient, RetryPolicy, TokenSource, UploadRequest, Uploader,
};
use mfp_kiosk::sim::{SimCloud, SimOptions};
use secrecy::SecretString;

struct Fixed(SecretString);

impl TokenSource for Fixed {
    fn token(&self, _refresh: bool) -> BoxedTokenFuture<'_> {
        let t = self.0.clone();
        Box::pin(async move { Ok(t) })
    }
}

/// (current RSS, peak RSS) in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn reset_peak() {
    // "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let dir = tempfile::tempdir()?;
        let sim = SimCloud::start(SimOptions::demo(dir.path().join("drive"))).await?;
        let entra = EntraClient::connect(EntraSettings {
            authority_host: sim.authority_host(),
            tenant: sim.tenant_id().to_string(),
            client_id: sim.client_id().to_string(),
            scopes: vec!["offline_access".into(), "Files.ReadWrite".into()],
            allowed_tenants: Vec::new(),
        })
        .await?;
        let pending = entra.start_device_code().await?;
        sim.approve_pending(None);
        let tokens = entra.wait_for_device_code(pending).await?;

        // The test file, written in 1 MiB chunks of varying bytes.
        let path = dir.path().join("big.bin");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
            let mut chunk = vec![0u8; 1024 * 1024];
            for i in 0..mib {
                chunk
                    .iter_mut()
                    .enumerate()
                    .for_each(|(j, b)| *b = (i as usize * 31 + j) as u8);
                f.write_all(&chunk)?;
            }
        }
        let bytes = mib * 1024 * 1024;
        let mb = bytes as f64 / 1e6;

        // Baseline: one streamed PUT of the same file to the same server.
        let http = reqwest::Client::new();
        let raw_url = format!("{}raw/sink", sim.authority_host());
        let started = Instant::now();
        let file = tokio::fs::File::open(&path).await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
        let resp = http
            .put(&raw_url)
            .header("Content-Length", bytes)
            .body(reqwest::Body::wrap_stream(stream.map(|c| c)))
            .send()
            .await?;
        assert!(resp.status().is_success(), "raw PUT: {}", resp.status());
        let raw_secs = started.elapsed().as_secs_f64();

        // The product's path: upload session, 10 MiB fragments, streamed from disk.
        let uploader = Uploader::new(
            GraphClient::new(sim.graph_endpoint())?,
            RetryPolicy::default(),
        );
        let source = Fixed(tokens.access_token.clone());
        let req = UploadRequest::new(&DriveTarget::Me, "Bench", "big.bin", &path);
        reset_peak();
        let (before, _) = rss_kib();
        let started = Instant::now();
        let item = uploader.upload(&req, &source).await?;
        let session_secs = started.elapsed().as_secs_f64();
        let (_, peak) = rss_kib();
        assert_eq!(item.size, bytes);

        let raw_rate = mb / raw_secs;
        let session_rate = mb / session_secs;
        let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
        println!("file:               {mib} MiB");
        println!("raw PUT:            {raw_secs:.2} s, {raw_rate:.0} MB/s");
        println!(
            "upload session:     {session_secs:.2} s, {session_rate:.0} MB/s ({} fragments)",
            sim.stats().fragments
        );
        println!(
            "ratio:              {:.2} (target >= 0.90)",
            session_rate / raw_rate
        );
        println!("peak RSS growth:    {growth_mib:.1} MiB (target < 32 MiB)");
        println!(
            "SUMMARY\t{mib} MiB through an upload session (RSS growth {growth_mib:.1} MiB)\t{session_rate:.0} MB/s\traw PUT {raw_rate:.0} MB/s\t{:.2}x\t>= 0.95x, < 32 MiB",
            session_rate / raw_rate
        );
        sim.shutdown().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
