//! SCIM error responses (RFC 7644 §3.12): every refusal the endpoint gives, its HTTP status and
//! `scimType`, and the JSON body. The detail says what to fix and never carries a token, a card
//! number or anything about a user the caller may not see.

use hyper::StatusCode;
use serde_json::{json, Value};

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScimError {
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidSyntax(String),
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    NoTarget(String),
    #[error("{0}")]
    Mutability(String),
    #[error("{0}")]
    Uniqueness(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    #[error("too many requests; retry after {0} s")]
    RateLimited(u64),
    /// The writer's queue is full (see [`super::writer`]).
    #[error("the panel is still applying earlier SCIM changes; retry after {0} s")]
    Busy(u64),
    #[error("Content-Type must be application/scim+json or application/json")]
    UnsupportedMediaType,
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    /// The detail is logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl ScimError {
    pub fn status(&self) -> StatusCode {
        use ScimError::*;
        match self {
            InvalidFilter(_) | InvalidSyntax(_) | InvalidValue(_) | InvalidPath(_)
            | NoTarget(_) | Mutability(_) => StatusCode::BAD_REQUEST,
            Uniqueness(_) => StatusCode::CONFLICT,
            NotFound(_) => StatusCode::NOT_FOUND,
            Unauthorized => StatusCode::UNAUTHORIZED,
            TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RateLimited(_) | Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `scimType` keyword, for the 400 and 409 errors that have one.
    pub fn scim_type(&self) -> Option<&'static str> {
        use ScimError::*;
        Some(match self {
            InvalidFilter(_) => "invalidFilter",
            InvalidSyntax(_) => "invalidSyntax",
            InvalidValue(_) => "invalidValue",
            InvalidPath(_) => "invalidPath",
            NoTarget(_) => "noTarget",
            Mutability(_) => "mutability",
            Uniqueness(_) => "uniqueness",
            _ => return None,
        })
    }

    pub fn body(&self) -> Value {
        let mut v = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status().as_u16().to_string(),
            "detail": self.to_string(),
        });
        if let Some(t) = self.scim_type() {
            v["scimType"] = json!(t);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_rfc7644() {
        let b = ScimError::Uniqueness("userName \"a\" is taken".into()).body();
        assert_eq!(b["status"], "409");
        assert_eq!(b["scimType"], "uniqueness");
        assert_eq!(b["schemas"][0], ERROR_SCHEMA);
        let b = ScimError::Internal("disk on fire at /var/lib".into()).body();
        assert_eq!(b["detail"], "internal error");
        assert!(b.get("scimType").is_none());
    }
}
