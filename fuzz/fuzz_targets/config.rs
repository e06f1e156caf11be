//! The config file (`/etc/mfp-kiosk/kiosk.toml`, written by hand): any text loads or is
//! refused with an error; a config that loads gives its derived settings without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml_str(text) {
        Ok(c) => {
            let _ = c.readers.pipeline();
            if let Some(wedge) = &c.readers.keyboard_wedge {
                let _ = wedge.device_selector();
            }
            let _ = c.readers.pcsc.apdu_bytes();
            let _ = c.entra.authority_host_url();
            let _ = c.directory.card_pipeline();
            let _ = c.scim.listen_addr();
            let _ = c.pin.policy();
            let _ = (c.session.inactivity_timeout(), c.session.countdown());
            let _ = c.pin.lockout_base();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
