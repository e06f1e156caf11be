//! The SCIM HTTP endpoint: accept loop (plain on loopback, rustls elsewhere), per-request
//! order of checks (rate limit, then the bearer token, then everything else: an
//! unauthenticated caller learns nothing, not even which paths exist), body limit, JSON
//! parsing, routing to the [`Provider`] and RFC 7644 responses. HTTP/1.1 on hyper; no web
//! framework, so the board build carries only what this needs.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use super::auth::{bearer, RateLimiter, TokenHash};
use super::discovery::{self, list, MAX_RESULTS};
use super::error::ScimError;
use super::provider::{Projection, Provider};
use super::writer::Writer;

/// The path the endpoint serves under; Entra's tenant URL is `https://host:port/scim/v2`.
pub const BASE_PATH: &str = "/scim/v2";
/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default page size of a listing without `count`.
const DEFAULT_COUNT: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Pem {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Everything a request needs.
pub struct Scim {
    pub provider: Arc<Provider>,
    /// Runs every write, one at a time.
    pub writer: Writer<Provider>,
    pub token: TokenHash,
    pub limiter: RateLimiter,
    pub max_body: usize,
}

/// A TLS acceptor from PEM files, with the ring provider (no second crypto stack).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| ServerError::File {
            path: p.to_path_buf(),
            source,
        })
    };
    let pem_err = |p: &Path, e: rustls::pki_types::pem::Error| ServerError::Pem {
        path: p.to_path_buf(),
        reason: e.to_string(),
    };
    let cert_pem = read(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(cert, e))?;
    if chain.is_empty() {
        return Err(ServerError::Pem {
            path: cert.to_path_buf(),
            reason: "no certificate in the file".into(),
        });
    }
    let key_pem = read(key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| pem_err(key, e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ServerError> {
    let bind = |addr| {
        let listener = std::net::TcpListener::bind(addr)?;
        // The runtime that serves it takes it over (TcpListener::from_std) non-blocking.
        listener.set_nonblocking(true)?;
        Ok(listener)
    };
    bind(addr).map_err(|source| ServerError::Bind { addr, source })
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
    scim: Arc<Scim>,
    shutdown: impl Future<Output = ()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the SCIM endpoint cannot take over its socket");
            return;
        }
    };
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "SCIM accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let scim = scim.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let scim = scim.clone();
                async move { Ok::<_, Infallible>(handle(&scim, peer, req).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            http.serve_connection(TokioIo::new(stream), service).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "SCIM TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => http.serve_connection(TokioIo::new(tcp), service).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "SCIM connection ended with an error");
            }
        });
    }
}

fn respond(status: StatusCode, body: Option<&Value>) -> Response<Full<Bytes>> {
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let mut r = Response::new(Full::new(bytes));
    *r.status_mut() = status;
    if body.is_some() {
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json"),
        );
    }
    r
}

fn error_response(e: &ScimError) -> Response<Full<Bytes>> {
    let mut r = respond(e.status(), Some(&e.body()));
    match e {
        ScimError::Unauthorized => {
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        ScimError::RateLimited(s) | ScimError::Busy(s) => {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
        }
        ScimError::Internal(detail) => tracing::error!(detail, "SCIM request failed"),
        _ => {}
    }
    r
}

async fn handle(
    scim: &Arc<Scim>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let writes = matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let response = match checked(scim, peer, &req) {
        Err(e) => error_response(&e),
        Ok(()) => match route(scim, req).await {
            Ok(r) => r,
            Err(e) => {
                // A full queue is not recorded: that would be one more write while behind.
                if writes
                    && !matches!(
                        e,
                        ScimError::NotFound(_) | ScimError::Internal(_) | ScimError::Busy(_)
                    )
                {
                    let request = format!("{method} {path}");
                    let err = e.clone();
                    let _ = scim
                        .writer
                        .run(move |p| {
                            p.record_refusal(&request, &err);
                            Ok(())
                        })
                        .await;
                }
                error_response(&e)
            }
        },
    };
    tracing::debug!(%method, path, status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64, "SCIM request");
    response
}

/// Rate limit, then authentication: both before anything else is looked at.
fn checked(scim: &Scim, peer: SocketAddr, req: &Request<Incoming>) -> Result<(), ScimError> {
    scim.limiter
        .check(peer.ip(), Instant::now())
        .map_err(|wait| ScimError::RateLimited(wait.as_secs().max(1)))?;
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match bearer(header) {
        Some(token) if scim.token.verify(token) => Ok(()),
        _ => Err(ScimError::Unauthorized),
    }
}

async fn body_json(scim: &Scim, req: Request<Incoming>) -> Result<Value, ScimError> {
    let limit = scim.max_body;
    if let Some(ct) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/scim+json")
            && !mime.eq_ignore_ascii_case("application/json")
        {
            return Err(ScimError::UnsupportedMediaType);
        }
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ScimError::TooLarge(limit));
    }
    let bytes = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|_| ScimError::TooLarge(limit))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::InvalidSyntax(format!(
            "malformed JSON at line {}, column {}",
            e.line(),
            e.column()
        ))
    })
}

struct Query {
    filter: Option<String>,
    start: usize,
    count: usize,
    projection: Projection,
}

fn query(req: &Request<Incoming>) -> Result<Query, ScimError> {
    let mut q = Query {
        filter: None,
        start: 1,
        count: DEFAULT_COUNT,
        projection: Projection::default(),
    };
    let (mut attrs, mut excluded) = (None, None);
    for (k, v) in url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        let number = |v: &str| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ScimError::InvalidValue(format!("{k} must be an integer, got {v:?}")))
        };
        match k.as_ref() {
            "filter" => q.filter = Some(v.into_owned()),
            // RFC 7644 §3.4.2.4: below 1 means 1; a negative count means 0.
            "startIndex" => q.start = number(&v)?.max(1) as usize,
            "count" => q.count = number(&v)?.clamp(0, MAX_RESULTS as i64) as usize,
            "attributes" => attrs = Some(v.into_owned()),
            "excludedAttributes" => excluded = Some(v.into_owned()),
            _ => {}
        }
    }
    q.projection = Projection::parse(attrs.as_deref(), excluded.as_deref());
    Ok(q)
}

/// A read, on the blocking pool (reads run concurrently: the store has reader connections).
async fn blocking<T: Send + 'static>(
    scim: &Arc<Scim>,
    f: impl FnOnce(&Provider) -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    let p = scim.provider.clone();
    tokio::task::spawn_blocking(move || f(&p))
        .await
        .map_err(|e| ScimError::Internal(e.to_string()))?
}

fn created(v: Value) -> Response<Full<Bytes>> {
    let location = v["meta"]["location"].as_str().map(str::to_string);
    let mut r = respond(StatusCode::CREATED, Some(&v));
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(LOCATION, l);
    }
    r
}

async fn route(
    scim: &Arc<Scim>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ScimError> {
    let path = req.uri().path().to_string();
    let rest = path
        .strip_prefix(BASE_PATH)
        .or_else(|| path.strip_prefix("/scim"))
        .filter(|r| r.is_empty() || r.starts_with('/'))
        .ok_or_else(|| ScimError::NotFound(format!("path {path}")))?;
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let base = scim.provider.base_url().to_string();
    let ok = |v: Value| Ok(respond(StatusCode::OK, Some(&v)));
    let method = req.method().clone();
    match (method, segs.as_slice()) {
        (Method::GET, ["ServiceProviderConfig"]) => ok(discovery::service_provider_config(&base)),
        (Method::GET, ["ResourceTypes"]) => {
            let all = discovery::resource_types(&base);
            let n = all.len();
            ok(list(all, n, 1))
        }
        (Method::GET, ["ResourceTypes", name]) => discovery::resource_type_by_name(&base, name)
            .map_err(|e| ScimError::NotFound(e.to_string()))
            .and_then(ok),
        (Method::GET, ["Schemas"]) => {
            let all = discovery::schemas(&base);
            let n = all.len();
            ok(list(all, n, 1))
        }
        (Method::GET, ["Schemas", id]) => discovery::schema_by_id(&base, id)
            .map_err(|e| ScimError::NotFound(e.to_string()))
            .and_then(ok),
        (Method::GET, [kind @ ("Users" | "Groups")]) => {
            let q = query(&req)?;
            let users = *kind == "Users";
            let v = blocking(scim, move |p| {
                if users {
                    p.list_users(q.filter.as_deref(), q.start, q.count, &q.projection)
                } else {
                    p.list_groups(q.filter.as_deref(), q.start, q.count, &q.projection)
                }
            })
            .await?;
            ok(v)
        }
        (Method::POST, [kind @ ("Users" | "Groups")]) => {
            let users = *kind == "Users";
            let body = body_json(scim, req).await?;
            let v = scim
                .writer
                .run(move |p| {
                    if users {
                        p.create_user(body)
                    } else {
                        p.create_group(body)
                    }
                })
                .await?;
            Ok(created(v))
        }
        (m, [kind @ ("Users" | "Groups"), id]) => {
            let users = *kind == "Users";
            let id = id.to_string();
            match m {
                Method::GET => {
                    let q = query(&req)?;
                    let v = blocking(scim, move |p| {
                        if users {
                            p.get_user(&id, &q.projection)
                        } else {
                            p.get_group(&id, &q.projection)
                        }
                    })
                    .await?;
                    ok(v)
                }
                Method::PUT => {
                    let body = body_json(scim, req).await?;
                    let v = scim
                        .writer
                        .run(move |p| {
                            if users {
                                p.replace_user(&id, body)
                            } else {
                                p.replace_group(&id, body)
                            }
                        })
                        .await?;
                    ok(v)
                }
                Method::PATCH => {
                    let body = body_json(scim, req).await?;
                    let v = scim
                        .writer
                        .run(move |p| {
                            if users {
                                p.patch_user(&id, &body)
                            } else {
                                p.patch_group(&id, &body)
                            }
                        })
                        .await?;
                    ok(v)
                }
                Method::DELETE => {
                    scim.writer
                        .run(move |p| {
                            if users {
                                p.delete_user(&id)
                            } else {
                                p.delete_group(&id)
                            }
                        })
                        .await?;
                    Ok(respond(StatusCode::NO_CONTENT, None))
                }
                _ => Err(ScimError::MethodNotAllowed),
            }
        }
        (_, ["ServiceProviderConfig" | "ResourceTypes" | "Schemas", ..]) => {
            Err(ScimError::MethodNotAllowed)
        }
        _ => Err(ScimError::NotFound(format!("path {path}"))),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The base URL clients use for `meta.location`.
pub fn base_url(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}{BASE_PATH}", if tls { "https" } else { "http" })
}
