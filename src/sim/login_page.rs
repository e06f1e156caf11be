//! The simulated `devicelogin` page: where a demo user "finishes on their phone". It lists the
//! simulated users; entering the code shown on the panel and pressing Approve or Decline settles
//! the pending device code exactly as `SimCloud::approve_pending` would.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;

use super::state::{CodeStatus, Shared};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/devicelogin", get(page).post(submit))
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn layout(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign in (simulated)</title>\
         <style>body{{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}\
         input,select,button{{font-size:1.2rem;margin:.4rem 0;width:100%}}</style></head>\
         <body><h1>Enter code</h1><p>Simulated Microsoft sign-in for the kiosk demo.</p>{body}</body></html>"
    ))
}

async fn page(State(shared): State<Arc<Shared>>) -> Html<String> {
    let options: String = shared
        .state()
        .users
        .iter()
        .map(|u| {
            let disabled = if u.account_enabled { "" } else { " (disabled)" };
            format!(
                "<option value=\"{}\">{} &lt;{}&gt;{disabled}</option>",
                escape(&u.oid),
                escape(&u.display_name),
                escape(&u.upn)
            )
        })
        .collect();
    layout(&format!(
        "<form method=\"post\" action=\"/devicelogin\">\
         <label>Code <input name=\"code\" autocomplete=\"off\" autofocus required></label>\
         <label>Account <select name=\"oid\">{options}</select></label>\
         <button name=\"action\" value=\"approve\">Approve</button>\
         <button name=\"action\" value=\"decline\">Decline</button></form>"
    ))
}

async fn submit(State(shared): State<Arc<Shared>>, body: Bytes) -> Html<String> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let code = form.get("code").map(String::as_str).unwrap_or("");
    let oid = form.get("oid").cloned().unwrap_or_default();
    let approve = form.get("action").map(String::as_str) != Some("decline");
    let mut state = shared.state();
    if approve && state.user(&oid).is_none() {
        return layout("<p>Unknown account.</p><p><a href=\"/devicelogin\">Back</a></p>");
    }
    let status = if approve {
        CodeStatus::Approved { oid }
    } else {
        CodeStatus::Declined
    };
    if state.settle_user_code(code, status) {
        let what = if approve {
            "You have signed in to the kiosk. You can close this window."
        } else {
            "You declined the sign-in. You can close this window."
        };
        layout(&format!("<p>{what}</p>"))
    } else {
        layout(
            "<p>That code is not valid or has expired. Check the code on the panel.</p>\
             <p><a href=\"/devicelogin\">Try again</a></p>",
        )
    }
}
