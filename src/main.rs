//! Command line of mfp-kiosk: runs the panel, renders screenshots, checks configs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use slint::ComponentHandle;

use mfp_kiosk::admin;
use mfp_kiosk::app::window_bridge::{self, WindowState};
use mfp_kiosk::app::{self, cli_cards, cli_directory, cli_jobs, cli_scim, Input, ViewSink};
use mfp_kiosk::config::Config;

/// The config the device uses when no --config is given.
const DEVICE_CONFIG: &str = "/etc/mfp-kiosk/kiosk.toml";

#[derive(Parser)]
#[command(
    name = "mfp-kiosk",
    version,
    about = "Sign-in and scan-to-cloud panel for multifunction printers"
)]
struct Cli {
    /// Config file (TOML). Default: /etc/mfp-kiosk/kiosk.toml, or the embedded demo config with --demo.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Run against the simulated Entra, Graph, card reader and scanner on loopback (no account needed).
    #[arg(long, global = true)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the panel (the default).
    Run,
    /// Render one page with the software renderer into a PNG, without a display.
    Screenshot {
        /// idle, pin, device-code, busy, home, scanning, uploading, result, or a service-menu
        /// page: service-menu, service-pick-user, service-tap-badge, service-conflict,
        /// service-cards, service-readers, service-outbox, service-health, service-audit, or
        /// the scan settings sheet: scan-sheet, scan-sheet-rename, another-page.
        #[arg(long)]
        page: String,
        /// Size in pixels, e.g. 1024x600.
        #[arg(long, default_value = "1024x600")]
        size: String,
        /// Language of the texts: en, de, fr, es, nl or ja.
        #[arg(long, default_value = "en")]
        lang: String,
        /// Where to write the PNG.
        out: PathBuf,
    },
    /// Validate the config and print a summary.
    CheckConfig,
    /// Check the config, Entra (discovery, signing keys, app registration) and Microsoft Graph,
    /// and say what to fix. Exits non-zero when something must be fixed.
    Doctor {
        /// Also run one Microsoft sign-in (finished on a phone) to check consent and policies.
        #[arg(long)]
        sign_in: bool,
    },
    /// Sign in with Microsoft in the terminal and provision the user exactly as the panel would.
    Signin,
    /// Scan with a workflow for a user cached on this panel, deliver it, print the job's state.
    Scan {
        /// Workflow id or label.
        #[arg(long)]
        workflow: String,
        /// The user's UPN (they must have signed in on the panel once).
        #[arg(long)]
        user: String,
    },
    /// List the outbox: jobs with their state, attempts and last error.
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
    /// Users' badges: list, enroll, revoke (audited as actor `cli`; numbers are never shown).
    Cards {
        #[command(subcommand)]
        action: CardsAction,
    },
    /// Directory sync with the app credential: `keygen`, `sync`.
    Directory {
        #[command(subcommand)]
        action: DirectoryAction,
    },
    /// The SCIM endpoint Microsoft Entra provisions through: `token`, `serve`.
    Scim {
        #[command(subcommand)]
        action: ScimAction,
    },
    /// Reports: `provisioning` (directory sync runs and offboarding checks).
    Report {
        #[command(subcommand)]
        report: ReportKind,
    },
    /// The audit log, newest first.
    Audit(cli_cards::AuditArgs),
    /// Ask for a new service PIN twice (not shown) and print its `[service] pin_hash` line.
    ServicePin,
    /// Measure argon2id here and print the `[pin]` cost lines for ~250 ms per PIN check.
    CalibratePin {
        /// Time one PIN check should take, in milliseconds.
        #[arg(long, default_value_t = 250)]
        target_ms: u64,
    },
    /// Local accounts for people without an Entra account (audited as actor `cli`).
    LocalUsers {
        #[command(subcommand)]
        action: LocalUsersAction,
    },
}

#[derive(Subcommand)]
enum LocalUsersAction {
    /// Create one; prints its id. The PIN is set at the first badge tap or with `set-pin`.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Last day it may sign in (panel clock, UTC), YYYY-MM-DD.
        #[arg(long)]
        expires: Option<String>,
        /// A `delivery = "app"` SharePoint workflow it may use (repeat); none = all of them.
        #[arg(long = "workflow")]
        workflows: Vec<String>,
    },
    /// List local accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Move the expiry day (YYYY-MM-DD, or `never`).
    Extend {
        id: String,
        #[arg(long)]
        expires: String,
    },
    /// Stop it from signing in.
    Disable { id: String },
    /// Let a disabled account sign in again.
    Enable { id: String },
    /// Delete it with its badges and PIN.
    Delete { id: String },
    /// Set its PIN (typed twice, not shown).
    SetPin { id: String },
}

#[derive(Subcommand)]
enum CardsAction {
    /// Cards with masked suffix, bound when and by whom, last use.
    List {
        /// Only this user's cards (UPN, username or object id).
        #[arg(long)]
        user: Option<String>,
    },
    /// Bind a card number to a user, through `readers.normalise` as a tap would.
    Enroll {
        #[arg(long)]
        user: String,
        /// The card number, or `-` to read it from stdin (not echoed; keeps it out of shell
        /// history and the process list).
        #[arg(long, value_name = "N|-")]
        number: String,
        /// Move the card if it belongs to another user.
        #[arg(long = "move")]
        move_card: bool,
    },
    /// Unbind one card (by the suffix `cards list` shows) or all of a user's cards.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["suffix", "all"])))]
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long)]
        suffix: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum DirectoryAction {
    /// Write the app credential: a private key and a self-signed certificate to upload.
    Keygen {
        /// Replace an existing key and certificate.
        #[arg(long)]
        force: bool,
    },
    /// Run one directory sync now.
    Sync,
}

#[derive(Subcommand)]
enum ScimAction {
    /// Print a new random bearer token once, and the `[scim] token_hash` line to configure.
    Token,
    /// Serve SCIM without the panel (same store). First line: `{"base_url": ...}` (with
    /// --demo: on loopback over the demo state, plus a one-time `token`).
    Serve,
}

#[derive(Subcommand)]
enum ReportKind {
    /// Sync runs and offboarding checks, newest first, with per-user changes.
    Provisioning {
        /// Only runs that changed this user (UPN or object id).
        #[arg(long)]
        user: Option<String>,
        /// Only runs since: `7d`, `24h` or a date `YYYY-MM-DD` (UTC).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Put a failed job back in the queue.
    Retry { id: String },
    /// Delete a queued or failed job and its scanned file (it will not be sent).
    Delete { id: String },
    /// Deliver queued jobs now, waiting for scheduled retries up to --max-wait-secs.
    Run {
        #[arg(long, default_value_t = 600)]
        max_wait_secs: u64,
        /// Upload session fragment size in units of 320 KiB (1..=191).
        #[arg(long, hide = true)]
        fragment_units: Option<u32>,
        /// Files of at least this many KiB use an upload session.
        #[arg(long, hide = true)]
        session_threshold_kib: Option<u64>,
    },
}

fn main() -> Result<()> {
    let allocator = mfp_kiosk::alloc::tame();
    let logs = mfp_kiosk::logging::init();
    tracing::debug!(?allocator, ?logs, "allocator and logging set up");
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            run_panel(config, cli.demo)
        }
        Command::Screenshot {
            page,
            size,
            lang,
            out,
        } => screenshot(&page, &size, &lang, &out),
        Command::Doctor { sign_in } => doctor(cli.config.as_deref(), cli.demo, sign_in),
        Command::Signin => signin(cli.config.as_deref(), cli.demo),
        Command::Scan { workflow, user } => {
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            let code =
                cli_jobs::scan_command(config, cli.demo, &workflow, &user, &mut std::io::stdout())?;
            std::process::exit(code)
        }
        Command::Outbox { action } => {
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            let out = &mut std::io::stdout();
            let code = match action {
                None => cli_jobs::list_command(config, out)?,
                Some(OutboxAction::Retry { id }) => cli_jobs::retry_command(config, &id, out)?,
                Some(OutboxAction::Delete { id }) => cli_jobs::delete_command(config, &id, out)?,
                Some(OutboxAction::Run {
                    max_wait_secs,
                    fragment_units,
                    session_threshold_kib,
                }) => {
                    let mut opts = cli_jobs::RunOptions {
                        max_wait: std::time::Duration::from_secs(max_wait_secs),
                        ..Default::default()
                    };
                    if let Some(units) = fragment_units {
                        opts.fragment = mfp_kiosk::graph::FragmentSize::from_units(units)
                            .with_context(|| {
                                format!("--fragment-units must be 1..=191, got {units}")
                            })?;
                    }
                    if let Some(kib) = session_threshold_kib {
                        opts.session_threshold = kib * 1024;
                    }
                    cli_jobs::run_command(config, opts, out)?
                }
            };
            std::process::exit(code)
        }
        Command::Cards { action } => {
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            let out = &mut std::io::stdout();
            let code = match action {
                CardsAction::List { user } => {
                    cli_cards::list_command(config, user.as_deref(), out)?
                }
                CardsAction::Enroll {
                    user,
                    number,
                    move_card,
                } => {
                    let number = cli_cards::card_number(number)?;
                    cli_cards::enroll_command(config, &user, &number, move_card, out)?
                }
                CardsAction::Revoke { user, suffix, all } => {
                    let which = match suffix {
                        Some(s) if !all => admin::cards::Revoke::Suffix(s),
                        _ => admin::cards::Revoke::All,
                    };
                    cli_cards::revoke_command(config, &user, &which, out)?
                }
            };
            std::process::exit(code)
        }
        Command::ServicePin => {
            app::cli_service::service_pin_command(
                &mut std::io::stdin().lock(),
                &mut std::io::stdout(),
            )?;
            Ok(())
        }
        Command::CalibratePin { target_ms } => {
            app::cli_calibrate::calibrate_command(target_ms, &mut std::io::stdout())?;
            Ok(())
        }
        Command::LocalUsers { action } => {
            use app::cli_local_users::Action;
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            let action = match action {
                LocalUsersAction::Add {
                    name,
                    email,
                    expires,
                    workflows,
                } => Action::Add {
                    name,
                    email,
                    expires,
                    workflows,
                },
                LocalUsersAction::List { json } => Action::List { json },
                LocalUsersAction::Extend { id, expires } => Action::Extend { id, expires },
                LocalUsersAction::Disable { id } => Action::Disable { id },
                LocalUsersAction::Enable { id } => Action::Enable { id },
                LocalUsersAction::Delete { id } => Action::Delete { id },
                LocalUsersAction::SetPin { id } => Action::SetPin { id },
            };
            let code = app::cli_local_users::command(
                config,
                action,
                &mut std::io::stdin().lock(),
                &mut std::io::stdout(),
            )?;
            std::process::exit(code)
        }
        Command::Audit(args) => {
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            let code = cli_cards::audit_command(config, &args, &mut std::io::stdout())?;
            std::process::exit(code)
        }
        Command::Directory { action } => {
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            let out = &mut std::io::stdout();
            let code = match action {
                DirectoryAction::Keygen { force } => {
                    cli_directory::keygen_command(config, force, out)?
                }
                DirectoryAction::Sync => cli_directory::sync_command(config, cli.demo, out)?,
            };
            std::process::exit(code)
        }
        Command::Scim { action } => {
            let out = &mut std::io::stdout();
            let code = match action {
                ScimAction::Token => cli_scim::token_command(out)?,
                ScimAction::Serve => {
                    let config = load_config(cli.config.as_deref(), cli.demo)?;
                    cli_scim::serve_command(config, cli.demo, out)?
                }
            };
            std::process::exit(code)
        }
        Command::Report {
            report:
                ReportKind::Provisioning {
                    user,
                    since,
                    json,
                    limit,
                },
        } => {
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            let args = cli_directory::ReportArgs {
                user,
                since,
                json,
                limit,
            };
            let code = cli_directory::report_command(config, &args, &mut std::io::stdout())?;
            std::process::exit(code)
        }
        Command::CheckConfig => {
            let config = load_config(cli.config.as_deref(), cli.demo)?;
            println!(
                "config OK: device `{}`, {} workflow(s)",
                config.device.name,
                config.workflows.len()
            );
            for w in &config.workflows {
                println!(
                    "  {} — {} ({})",
                    w.id,
                    w.label,
                    app::services::destination_name(w.destination)
                );
            }
            Ok(())
        }
    }
}

fn load_config(path: Option<&Path>, demo: bool) -> Result<Config> {
    let config = match path {
        Some(path) => Config::load(path)?,
        None if demo => Config::demo_default(),
        None if Path::new(DEVICE_CONFIG).exists() => Config::load(Path::new(DEVICE_CONFIG))?,
        None => bail!("no config: pass --config PATH (see device/kiosk.example.toml) or --demo"),
    };
    Ok(config)
}

fn run_panel(config: Config, demo: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let window = mfp_kiosk::MainWindow::new().context("cannot create the panel window")?;
    register_fonts();
    let device_name = config.device.name.clone();
    let idle_keys = app::idle_key_badges(&config, demo);
    let weak = window.as_weak();
    let sink: ViewSink = Box::new(move |view| {
        let state = WindowState::of(view, &device_name, demo);
        let weak = weak.clone();
        // Fails only when the event loop is gone, i.e. during shutdown.
        let _ = slint::invoke_from_event_loop(move || {
            if let Some(window) = weak.upgrade() {
                state.apply(&window);
            }
        });
    });
    let readers_config = config.readers.clone();
    let running = runtime.block_on(app::start(config, demo, sink))?;
    // Badge readers (PC/SC, keyboard wedge) run on their own threads and tap into the machine.
    let readers = app::start_readers(&readers_config, &running.handle, &running.services)
        .context("cannot start the badge readers")?;
    window_bridge::bind(&window, &running.handle, idle_keys);
    tracing::info!("panel ready");
    let _watchdog = app::systemd::on_first_frame("idle page shown");
    let result = window.run().context("the UI event loop failed");
    app::systemd::notify_stopping();
    running.handle.send(Input::Quit);
    // The reader check holds only a weak reference, so the handles are ours alone here.
    match Arc::try_unwrap(readers) {
        Ok(readers) => {
            if let Err(e) = readers.stop() {
                tracing::warn!(error = %e, "a badge reader did not stop cleanly");
            }
        }
        Err(_) => {
            tracing::warn!("badge readers still in use at shutdown; dropped with the process")
        }
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

/// The Japanese font file (not part of the binary): without it the panel runs, with boxes for
/// Japanese text, and the log says where it looked.
fn register_fonts() {
    use mfp_kiosk::ui::fonts;
    match fonts::register_cjk_font() {
        Ok(Some(path)) => tracing::info!(path = %path.display(), "Japanese font registered"),
        Ok(None) => tracing::warn!(
            file = fonts::CJK_FONT_FILE,
            searched = ?fonts::default_search_dirs(),
            "no Japanese font found: Japanese text will show as boxes"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "Japanese font not usable: Japanese text will show as boxes")
        }
    }
}

fn admin_runtime(demo: bool) -> Result<tokio::runtime::Runtime> {
    if demo {
        bail!("doctor and signin check a real tenant: pass --config PATH instead of --demo");
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn doctor(path: Option<&Path>, demo: bool, sign_in: bool) -> Result<()> {
    let runtime = admin_runtime(demo)?;
    let report = match load_config(path, demo) {
        Ok(config) => runtime.block_on(admin::doctor::diagnose(
            &config,
            admin::doctor::DoctorOptions { sign_in },
            &mut std::io::stdout(),
        )),
        Err(err) => match err.downcast_ref::<mfp_kiosk::config::ConfigError>() {
            Some(config_err) => admin::doctor::config_failed(config_err),
            None => return Err(err),
        },
    };
    print!("{report}");
    if !report.is_healthy() {
        std::process::exit(report.exit_code());
    }
    Ok(())
}

fn signin(path: Option<&Path>, demo: bool) -> Result<()> {
    let runtime = admin_runtime(demo)?;
    let config = load_config(path, demo)?;
    let services = admin::signin::services(config)?;
    runtime.block_on(async {
        let mut stdout = std::io::stdout();
        tokio::select! {
            done = admin::signin::run(&services, &mut stdout) => {
                done.map(|_| ()).context("Microsoft sign-in failed")
            }
            _ = tokio::signal::ctrl_c() => bail!("cancelled"),
        }
    })
}

fn screenshot(page: &str, size: &str, lang: &str, out: &Path) -> Result<()> {
    let language = mfp_kiosk::i18n::Language::ALL
        .into_iter()
        .find(|l| l.code() == lang)
        .with_context(|| format!("--lang must be one of en, de, fr, es, nl, ja, got `{lang}`"))?;
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .with_context(|| format!("--size must look like 1024x600, got `{size}`"))?;
    let state = mfp_kiosk::ui::screenshot::sample(page, language).with_context(|| {
        format!(
            "unknown page `{page}`: use one of {}, {}, {}",
            mfp_kiosk::ui::screenshot::SAMPLE_PAGES.join(", "),
            mfp_kiosk::ui::screenshot::SERVICE_SAMPLE_PAGES.join(", "),
            mfp_kiosk::ui::screenshot::SHEET_SAMPLE_PAGES.join(", ")
        )
    })?;
    mfp_kiosk::ui::screenshot::render_png(&state, w, h, out)?;
    println!("wrote {} ({w}x{h}, page {page}, {lang})", out.display());
    Ok(())
}
