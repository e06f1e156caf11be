//! Every kind of bad configuration value yields its own error that names the key and says how to
//! fix it; the shipped example and the embedded demo configuration are valid.

use mfp_kiosk::config::{
    Config, ConfigError, Destination, LoginMode, WedgeDevice, DEMO_PLACEHOLDER_CLIENT_ID,
    DEMO_PLACEHOLDER_TENANT,
};

const BASE: &str = r#"[device]
name = "test-panel"
state_dir = "/var/lib/mfp-kiosk"

[entra]
tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
client_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

[session]
inactivity_timeout_secs = 60
countdown_secs = 10

[pin]
min_length = 4
max_length = 8

[readers]
normalise = ["trim", "hex_to_dec"]

[[workflows]]
id = "onedrive"
label = "Scan to OneDrive"
destination = "onedrive"
folder = "Scans/{date}"
file_name = "Scan {date}.pdf"

[[workflows]]
id = "finance"
label = "Finance"
destination = "sharepoint"
site = "contoso.sharepoint.com:/sites/Finance"
library = "Documents"
"#;

enum Want {
    /// `Invalid` for this key, with the message containing the text.
    Invalid(&'static str, &'static str),
    /// `UnknownKey` with key, line and suggestion.
    Unknown(&'static str, usize, Option<&'static str>),
    Missing(&'static str),
    Syntax(usize),
}

/// `(find, replace)` pairs applied to BASE.
type Edits = Vec<(&'static str, &'static str)>;

/// Applies `(find, replace)` edits to BASE; each `find` must occur exactly once.
fn edited(edits: &[(&str, &str)]) -> String {
    let mut s = BASE.to_string();
    for (from, to) in edits {
        assert_eq!(
            s.matches(from).count(),
            1,
            "edit target {from:?} must be unique"
        );
        s = s.replacen(from, to, 1);
    }
    s
}

#[test]
fn base_config_is_valid() {
    let c = Config::from_toml_str(BASE).unwrap();
    assert_eq!(c.workflows.len(), 2);
    assert_eq!(c.workflows[1].destination, Destination::Sharepoint);
    assert_eq!(c.pin.login_mode, LoginMode::CardOrPin);
    assert_eq!(c.identity.offline_grace_hours, 72);
    assert!(c.entra.scopes.iter().any(|s| s == "offline_access"));
    assert_eq!(c.spool_dir().to_str(), Some("/var/lib/mfp-kiosk/spool"));
}

#[test]
fn loopback_http_is_accepted_for_test_servers() {
    for host in [
        "http://127.0.0.1:8080",
        "http://[::1]:9000",
        "http://localhost:1234",
    ] {
        let s = edited(&[(
            "[entra]\n",
            &format!("[entra]\nauthority_host = \"{host}\"\n"),
        )]);
        Config::from_toml_str(&s).unwrap_or_else(|e| panic!("{host}: {e}"));
    }
}

#[test]
fn each_bad_value_names_its_key() {
    let cases: Vec<(&str, Edits, Want)> =
        vec![
        (
            "bad client GUID",
            vec![("\"3fa85f64-5717-4562-b3fc-2c963f66afa6\"", "\"abc\"")],
            Want::Invalid(
                "entra.client_id",
                "must be a GUID (the Application (client) ID of the app registration), got \"abc\"",
            ),
        ),
        (
            "a language the panel does not speak",
            vec![(
                "state_dir = \"/var/lib/mfp-kiosk\"\n",
                "state_dir = \"/var/lib/mfp-kiosk\"\nlanguage = \"pt\"\n",
            )],
            Want::Invalid("device.language", "must be one of en, de, fr, es, nl, ja, got \"pt\""),
        ),
        (
            "a language tag instead of the panel's code",
            vec![(
                "state_dir = \"/var/lib/mfp-kiosk\"\n",
                "state_dir = \"/var/lib/mfp-kiosk\"\nlanguage = \"de-DE\"\n",
            )],
            Want::Invalid("device.language", "got \"de-DE\""),
        ),
        (
            "bad tenant",
            vec![("\"72f988bf-86f1-41af-91ab-2d7cd011db47\"", "\"contoso\"")],
            Want::Invalid("entra.tenant", "verified domain"),
        ),
        (
            "common tenant",
            vec![("\"72f988bf-86f1-41af-91ab-2d7cd011db47\"", "\"common\"")],
            Want::Invalid("entra.tenant", "personal Microsoft accounts"),
        ),
        (
            "http authority on a public host",
            vec![(
                "[entra]\n",
                "[entra]\nauthority_host = \"http://login.microsoftonline.com\"\n",
            )],
            Want::Invalid("entra.authority_host", "must use https"),
        ),
        (
            "http graph endpoint on a public host",
            vec![(
                "[session]",
                "[graph]\nendpoint = \"http://graph.microsoft.com/v1.0\"\n\n[session]",
            )],
            Want::Invalid("graph.endpoint", "must use https"),
        ),
        (
            "unknown key with a typo",
            vec![(
                "inactivity_timeout_secs = 60",
                "inactivity_timout_secs = 60",
            )],
            Want::Unknown(
                "session.inactivity_timout_secs",
                10,
                Some("inactivity_timeout_secs"),
            ),
        ),
        (
            "unknown section",
            vec![("[session]", "[sesion]")],
            Want::Unknown("sesion", 9, Some("session")),
        ),
        (
            "unknown key in an array-of-tables element",
            vec![(
                "library = \"Documents\"",
                "library = \"Documents\"\nlibary = \"x\"",
            )],
            Want::Unknown("workflows[1].libary", 33, Some("library")),
        ),
        (
            "unknown key in an inline table",
            vec![(
                "[readers]\n",
                "[readers]\nkeyboard_wedge = { devise = \"usb:0c27:3bfa\" }\n",
            )],
            Want::Unknown("readers.keyboard_wedge.devise", 18, Some("device")),
        ),
        (
            "missing offline_access",
            vec![(
                "[entra]\n",
                "[entra]\nscopes = [\"openid\", \"User.Read\", \"Files.ReadWrite\"]\n",
            )],
            Want::Invalid("entra.scopes", "must contain \"offline_access\""),
        ),
        (
            "multi-tenant without allowed tenants",
            vec![(
                "\"72f988bf-86f1-41af-91ab-2d7cd011db47\"",
                "\"organizations\"",
            )],
            Want::Missing("entra.allowed_tenants"),
        ),
        (
            "bad username prefix",
            vec![("[entra]\n", "[entra]\nusername_prefix = \"MSP \"\n")],
            Want::Invalid("entra.username_prefix", "a-z, 0-9"),
        ),
        (
            "timeout out of range",
            vec![(
                "inactivity_timeout_secs = 60",
                "inactivity_timeout_secs = 5",
            )],
            Want::Invalid("session.inactivity_timeout_secs", "between 10 and 3600"),
        ),
        (
            "countdown not shorter than timeout",
            vec![("countdown_secs = 10", "countdown_secs = 60")],
            Want::Invalid(
                "session.countdown_secs",
                "shorter than session.inactivity_timeout_secs (60)",
            ),
        ),
        (
            "pin min above max",
            vec![
                ("min_length = 4", "min_length = 8"),
                ("max_length = 8", "max_length = 6"),
            ],
            Want::Invalid("pin.min_length", "must not exceed pin.max_length (6)"),
        ),
        (
            "pin length out of range",
            vec![("max_length = 8", "max_length = 13")],
            Want::Invalid("pin.max_length", "between 4 and 12"),
        ),
        (
            "card-only login without a reader",
            vec![
                ("[pin]\n", "[pin]\nlogin_mode = \"card\"\n"),
                ("[readers]\n", "[readers]\npcsc = { enabled = false }\n"),
            ],
            Want::Invalid("pin.login_mode", "needs a card reader"),
        ),
        (
            "bad normalise step",
            vec![("\"hex_to_dec\"]", "\"hex2dec\"]")],
            Want::Invalid("readers.normalise[1]", "unknown step `hex2dec`"),
        ),
        (
            "bad wedge device",
            vec![(
                "[readers]\n",
                "[readers]\nkeyboard_wedge = { device = \"usb:0c27\" }\n",
            )],
            Want::Invalid("readers.keyboard_wedge.device", "4 hex digits"),
        ),
        (
            "bad apdu",
            vec![("[readers]\n", "[readers]\npcsc = { apdu = \"FFCA0\" }\n")],
            Want::Invalid("readers.pcsc.apdu", "command APDU in hex"),
        ),
        (
            "duplicate workflow id",
            vec![("id = \"finance\"", "id = \"onedrive\"")],
            Want::Invalid(
                "workflows[1].id",
                "\"onedrive\" is already used by workflows[0]",
            ),
        ),
        (
            "workflow id not a slug",
            vec![("id = \"finance\"", "id = \"Finance Team\"")],
            Want::Invalid("workflows[1].id", "must be a slug"),
        ),
        (
            "sharepoint without site",
            vec![("site = \"contoso.sharepoint.com:/sites/Finance\"\n", "")],
            Want::Missing("workflows[1].site"),
        ),
        (
            "sharepoint site in the wrong form",
            vec![(
                "\"contoso.sharepoint.com:/sites/Finance\"",
                "\"https://contoso.sharepoint.com/sites/Finance\"",
            )],
            Want::Invalid("workflows[1].site", "<hostname>:/<site path>"),
        ),
        (
            "site on a onedrive workflow",
            vec![(
                "destination = \"onedrive\"",
                "destination = \"onedrive\"\nsite = \"contoso.sharepoint.com:/sites/X\"",
            )],
            Want::Invalid("workflows[0].site", "only applies to SharePoint"),
        ),
        (
            "bad template placeholder",
            vec![("folder = \"Scans/{date}\"", "folder = \"Scans/{dat}\"")],
            Want::Invalid("workflows[0].folder", "unknown placeholder `{dat}`"),
        ),
        (
            "file name without .pdf",
            vec![("\"Scan {date}.pdf\"", "\"Scan {date}.png\"")],
            Want::Invalid("workflows[0].file_name", "must end with \".pdf\""),
        ),
        (
            "resolution out of range",
            vec![(
                "destination = \"onedrive\"",
                "destination = \"onedrive\"\nresolution_dpi = 1200",
            )],
            Want::Invalid("workflows[0].resolution_dpi", "between 75 and 600"),
        ),
        (
            "wrong value type",
            vec![(
                "inactivity_timeout_secs = 60",
                "inactivity_timeout_secs = \"60\"",
            )],
            Want::Invalid("session.inactivity_timeout_secs", "invalid type"),
        ),
        (
            "unknown enum value",
            vec![(
                "destination = \"onedrive\"",
                "destination = \"onedrive\"\ncolor_mode = \"colour\"",
            )],
            Want::Invalid("workflows[0].color_mode", "unknown variant `colour`"),
        ),
        (
            "missing client id",
            vec![("client_id = \"3fa85f64-5717-4562-b3fc-2c963f66afa6\"\n", "")],
            Want::Missing("entra.client_id"),
        ),
        (
            "missing entra section",
            vec![
                ("[entra]\n", ""),
                ("tenant = \"72f988bf-86f1-41af-91ab-2d7cd011db47\"\n", ""),
                ("client_id = \"3fa85f64-5717-4562-b3fc-2c963f66afa6\"\n", ""),
            ],
            Want::Missing("entra"),
        ),
        (
            "syntax error",
            vec![("countdown_secs = 10", "countdown_secs = ")],
            Want::Syntax(11),
        ),
        (
            "unclosed table header",
            vec![("[pin]", "[pin")],
            Want::Syntax(13),
        ),
    ];

    let mut failures = Vec::new();
    for (name, edits, want) in cases {
        let text = edited(&edits);
        let err = match Config::from_toml_str(&text) {
            Ok(_) => {
                failures.push(format!("{name}: accepted"));
                continue;
            }
            Err(e) => e,
        };
        let msg = err.to_string();
        println!("{name}: {msg}");
        let ok = match (&want, &err) {
            (Want::Invalid(key, text), ConfigError::Invalid { key: k, .. }) => {
                k == key && msg.contains(text) && msg.contains(&format!("`{key}`"))
            }
            (
                Want::Unknown(key, line, sugg),
                ConfigError::UnknownKey {
                    key: k,
                    line: l,
                    suggestion,
                },
            ) => k == key && l == line && suggestion.as_deref() == *sugg,
            (Want::Missing(key), ConfigError::Missing { key: k, .. }) => {
                k == key && msg.contains(&format!("`{key}`"))
            }
            (Want::Syntax(line), ConfigError::Syntax { line: l, .. }) => {
                l == line && msg.contains(&format!("line {line}"))
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: got {err:?} / {msg}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err = Config::load("/nonexistent/kiosk.toml").unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/kiosk.toml"));
}

#[test]
fn example_config_parses_and_validates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/device/kiosk.example.toml");
    let c = Config::load(path).unwrap();
    assert_eq!(c.device.name, "mfp-3rd-floor");
    assert_eq!(c.workflows.len(), 2);
    assert!(c.workflow("finance-invoices").is_some());
    let wedge = c.readers.keyboard_wedge.as_ref().unwrap();
    assert_eq!(
        wedge.device_selector().unwrap(),
        WedgeDevice::Usb {
            vendor: 0x0c27,
            product: 0x3bfa
        }
    );
    assert_eq!(c.readers.pcsc.apdu_bytes().unwrap(), [0xFF, 0xCA, 0, 0, 0]);
    assert_eq!(
        c.readers.pipeline().unwrap().apply("04A1B2C3\r\n").unwrap(),
        "0077705923"
    );
    assert_eq!(c.pin.policy().max_length, 8);
    assert_eq!(c.identity.offboarding_interval().as_secs(), 4 * 3600);
    assert!(c.workflows[1].allows(&["Kiosk.Finance".to_string()]));
    assert!(!c.workflows[1].allows(&["Kiosk.User".to_string()]));
    assert!(c.workflows[0].allows(&[]));
}

#[test]
fn demo_default_parses_and_validates() {
    let c = Config::demo_default();
    c.validate().unwrap();
    assert_eq!(c.entra.tenant, DEMO_PLACEHOLDER_TENANT);
    assert_eq!(c.entra.client_id, DEMO_PLACEHOLDER_CLIENT_ID);
    assert!(c.device.state_dir.as_os_str().is_empty());
    let state = c.state_dir();
    assert!(state.is_absolute(), "{state:?}");
    assert_eq!(c.spool_dir(), state.join("spool"));
    assert_eq!(c.demo_drive_dir(), state.join("demo-drive"));
    let onedrive = c.workflow("scan-to-onedrive").unwrap();
    assert_eq!(onedrive.label, "Scan to OneDrive");
    assert_eq!(onedrive.folder, "Scans/{date}");
    assert!(c
        .workflows
        .iter()
        .any(|w| w.destination == Destination::Sharepoint));
}

#[test]
fn demo_default_revalidates_after_the_simulator_is_wired_in() {
    let mut c = Config::demo_default();
    c.entra.authority_host = "http://127.0.0.1:40123".into();
    c.graph.endpoint = "http://127.0.0.1:40124/v1.0".into();
    c.entra.tenant = "9188040d-6c67-4c5b-b112-36a304b66dad".into();
    c.validate().unwrap();
    c.entra.client_id = "not-a-guid".into();
    assert!(c.validate().is_err());
}
