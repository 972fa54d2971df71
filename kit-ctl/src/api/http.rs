//! The small HTTP vocabulary the API speaks: a parsed request, a reply, and
//! an error that always becomes a JSON body with the status it names. No
//! handler ever builds a raw tiny_http response.

use serde::Serialize;

/// The most a request body may hold. Tasks are a few hundred bytes; 1 MiB
/// leaves room for large `env` tables while bounding what one request costs.
pub const BODY_LIMIT: usize = 1 << 20;

/// A request as the handlers see it: decoded path, query pairs, headers we
/// care about, and the (size-limited) body.
#[derive(Debug, Default)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// `Idempotency-Key` (a trigger's key, as webhooks send it).
    pub idempotency_key: Option<String>,
    pub body: Vec<u8>,
}

impl Req {
    /// The value of query parameter `key`; the last one wins if repeated.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses query parameters the route does not know: a typo such as
    /// `?staus=failed` must not silently return everything.
    pub fn only_params(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .query
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            None => Ok(()),
            Some((k, _)) => Err(ApiError::bad_request(
                k,
                format!(
                    "unknown query parameter {k:?} (this route takes: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
        }
    }

    /// A positive integer parameter with a bound, or its default.
    pub fn int_param(&self, key: &str, default: i64, max: i64) -> Result<i64, ApiError> {
        match self.param(key) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(
                    key,
                    format!("{key}={v:?}: expected an integer from 1 to {max}"),
                )),
            },
        }
    }

    pub fn opt_id_param(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.param(key) {
            None | Some("") => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => Err(ApiError::bad_request(
                    key,
                    format!("{key}={v:?}: expected a positive integer"),
                )),
            },
        }
    }

    /// Bodies must be JSON when they say what they are (a form post or a
    /// text/plain body is refused rather than guessed at).
    pub fn require_json(&self) -> Result<(), ApiError> {
        match &self.content_type {
            None => Ok(()),
            Some(ct) => {
                let mime = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if mime == "application/json" || mime.ends_with("+json") || mime.is_empty() {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        415,
                        format!("Content-Type {ct:?} is not supported: send application/json"),
                    ))
                }
            }
        }
    }
}

/// What a handler answers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json<T: Serialize>(status: u16, v: &T) -> Reply {
        let mut body = serde_json::to_vec_pretty(v).unwrap_or_else(|e| {
            format!("{{\"error\":\"cannot encode the reply: {e}\",\"status\":500}}").into_bytes()
        });
        body.push(b'\n');
        Reply {
            status,
            content_type: "application/json",
            body,
            headers: Vec::new(),
        }
    }

    pub fn ok<T: Serialize>(v: &T) -> Reply {
        Reply::json(200, v)
    }

    pub fn text(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// An error answer: status, a sentence for people, and the field at fault
/// when there is one (`schedule`, `limits.nofile`, `since`...).
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip)]
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: None,
            allow: None,
        }
    }
    pub fn bad_request(field: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(400, error).with_field(field)
    }
    pub fn unprocessable(field: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(422, error).with_field(field)
    }
    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(404, error)
    }
    pub fn with_field(mut self, field: &str) -> ApiError {
        if !field.is_empty() {
            self.field = Some(field.to_string());
        }
        self
    }

    pub fn into_reply(self) -> Reply {
        #[derive(Serialize)]
        struct Body<'a> {
            status: u16,
            #[serde(flatten)]
            e: &'a ApiError,
        }
        let mut r = Reply::json(
            self.status,
            &Body {
                status: self.status,
                e: &self,
            },
        );
        if let Some(allow) = &self.allow {
            r = r.header("Allow", allow.clone());
        }
        if self.status == 401 {
            r = r.header("WWW-Authenticate", "Bearer realm=\"kit\"");
        }
        r
    }
}

/// Maps the library's errors to statuses: a missing task is 404, a bad value
/// 422, a conflict 409, a payload over its cap 413. Anything else is the server's own failure (500),
/// with its message, never a panic.
impl From<kit_db::Error> for ApiError {
    fn from(e: kit_db::Error) -> ApiError {
        use kit_db::Error as E;
        match &e {
            E::NoSuchTask { .. } => ApiError::not_found(e.to_string()),
            E::Invalid(_) => ApiError::new(422, e.to_string()),
            E::Conflict(_) => ApiError::new(409, e.to_string()),
            E::TooLarge(_) => ApiError::new(413, e.to_string()),
            E::Sqlite(s) if is_busy(s) => ApiError::new(503, e.to_string()),
            _ => ApiError::new(500, e.to_string()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        match e.downcast::<kit_db::Error>() {
            Ok(k) => k.into(),
            Err(e) => ApiError::new(500, kit_db::cli::describe(&e)),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        kit_db::Error::from(e).into()
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// Splits a request target into its decoded path and query pairs.
pub fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect();
    (decode(path, false), query)
}

/// Percent-decoding (and `+` as space in queries). Invalid escapes are kept
/// as written; invalid UTF-8 becomes U+FFFD, which no route or name matches.
pub fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_decoded() {
        let (p, q) =
            split_target("/v1/executions?task=a-b&since=2025-01-01T00%3A00%3A00%2B02%3A00&x=a+b");
        assert_eq!(p, "/v1/executions");
        assert_eq!(q[0], ("task".into(), "a-b".into()));
        assert_eq!(q[1].1, "2025-01-01T00:00:00+02:00");
        assert_eq!(q[2].1, "a b");
        assert_eq!(decode("%zz%4", false), "%zz%4");
        assert_eq!(decode("100%", false), "100%");
    }
}
