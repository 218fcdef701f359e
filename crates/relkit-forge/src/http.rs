//! The HTTP layer shared by the GitHub and Forgejo clients: authentication, JSON, paging by `Link`
//! header, and a retry policy that honours rate-limit headers and never repeats a request the
//! server may already have carried out.
//!
//! Retry rules:
//! - A rate-limit rejection (429, or 403 with `x-ratelimit-remaining: 0` or `retry-after`) means
//!   the server did nothing: every request is retried after `retry-after`, else after
//!   `x-ratelimit-reset`, else after a minute (GitHub's advice for secondary limits). A wait longer
//!   than the configured maximum fails at once with the time the limit resets.
//! - A 5xx answer or a transport error is retried with exponential backoff only for requests that
//!   are safe to repeat ([`Replay::Safe`]: GET, PATCH, DELETE, read-only GraphQL POSTs). A POST
//!   that creates something ([`Replay::OnlyIfRejected`]) is never repeated after such a failure:
//!   the caller looks the object up again instead.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use relkit_core::{Error, Result};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

/// Whether a request may be sent again after a failure whose effect is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Repeating it has no further effect (reads, PATCH, DELETE, GraphQL queries).
    Safe,
    /// It creates something: repeat only after an explicit rate-limit rejection.
    OnlyIfRejected,
}

/// How the token is sent: GitHub takes `Bearer`, Forgejo and Gitea take `token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Bearer <token>`
    Bearer,
    /// `Authorization: token <token>`
    Token,
}

/// Retry limits.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: usize,
    /// First backoff delay for 5xx and transport errors (doubles each time).
    pub backoff_base: Duration,
    /// The longest wait for a rate limit to reset before giving up.
    pub max_rate_limit_wait: Duration,
    /// How long a request may make no progress (no byte of an upload taken, no answer, no byte
    /// of the answer read) before it counts as failed. There is no total timeout: a large
    /// upload takes as long as it needs while it moves.
    pub stall_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            backoff_base: Duration::from_secs(1),
            max_rate_limit_wait: Duration::from_secs(300),
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// An authenticated JSON client for one API root.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    token: Option<String>,
    scheme: AuthScheme,
    extra_headers: HeaderMap,
    policy: RetryPolicy,
    service: &'static str,
}

/// A finished HTTP exchange: status, headers and the body text.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// Parses the body as JSON, naming `what` in the error.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_str(&self.body)
            .map_err(|e| Error::failed(format!("unexpected {what} response (HTTP {}): {e}", self.status)))
    }

    /// The `rel="next"` URL of a `Link` header, if any.
    pub fn next_page(&self) -> Option<String> {
        let link = self.headers.get("link")?.to_str().ok()?;
        next_link(link)
    }
}

/// The body of a request, built again for every attempt.
pub enum Payload<'a> {
    /// No body.
    Empty,
    /// A JSON document.
    Json(&'a serde_json::Value),
    /// A file streamed from disk with its content type and exact length.
    File { path: &'a std::path::Path, content_type: &'a str, len: u64 },
}

/// The outcome of a request that creates something and is not repeated blindly.
#[derive(Debug)]
pub enum Sent {
    /// The server answered (any status below 500 that is not a rate limit).
    Reply(Reply),
    /// A 5xx answer, a dropped connection or a stall: the request may or may not have taken
    /// effect, and the caller checks before sending it again.
    Unclear(String),
}

/// Why one attempt failed.
#[derive(Debug)]
enum Attempt {
    /// The server rejected the request because of a rate limit; wait this long.
    RateLimited(Duration),
    /// A 5xx answer or a transport error: the request may or may not have taken effect.
    Transient(String),
    /// Anything else: give up.
    Fatal(Error),
}

impl Http {
    /// A client for `service` ("GitHub", "Forgejo") with an optional token.
    pub fn new(
        service: &'static str,
        token: Option<String>,
        scheme: AuthScheme,
        policy: RetryPolicy,
    ) -> Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("relkit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .read_timeout(policy.stall_timeout)
            .build()
            .map_err(|e| Error::failed(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client, token, scheme, extra_headers: HeaderMap::new(), policy, service })
    }

    /// Adds a header sent with every request.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.extra_headers.insert(name, HeaderValue::from_static(value));
        self
    }

    /// True when a token was given.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The retry limits.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Sends a request and returns the reply for any status below 500 that is not a rate limit;
    /// the caller decides what a 404 or 422 means.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        payload: Payload<'_>,
        replay: Replay,
    ) -> Result<Reply> {
        match self.send_checked(method.clone(), url, payload, replay).await? {
            Sent::Reply(reply) => Ok(reply),
            Sent::Unclear(msg) => Err(Error::failed(format!(
                "{} {method} {} failed: {msg}{}",
                self.service,
                redact_query(url),
                if replay == Replay::OnlyIfRejected {
                    " (not repeated: it may have taken effect)"
                } else {
                    ""
                }
            ))),
        }
    }

    /// [`Http::send`], with the failure whose effect is unknown (after the retries `replay`
    /// allows) returned as [`Sent::Unclear`], for a caller that can check what happened.
    pub async fn send_checked(
        &self,
        method: Method,
        url: &str,
        payload: Payload<'_>,
        replay: Replay,
    ) -> Result<Sent> {
        let attempt = || async { self.attempt(method.clone(), url, &payload).await };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.backoff_base)
            .with_max_times(self.policy.max_retries)
            .with_jitter();
        let max_wait = self.policy.max_rate_limit_wait;
        let result = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e| match e {
                Attempt::RateLimited(wait) => *wait <= max_wait,
                Attempt::Transient(_) => replay == Replay::Safe,
                Attempt::Fatal(_) => false,
            })
            .adjust(|e, delay| match e {
                Attempt::RateLimited(wait) => delay.map(|_| *wait),
                _ => delay,
            })
            .notify(|e, delay| {
                if let Attempt::RateLimited(_) | Attempt::Transient(_) = e {
                    eprintln!(
                        "notes-gen: {} {method} {}: {}; retrying in {:.1}s",
                        self.service,
                        redact_query(url),
                        describe(e),
                        delay.as_secs_f64()
                    );
                }
            })
            .await;
        match result {
            Ok(reply) => Ok(Sent::Reply(reply)),
            Err(Attempt::Transient(msg)) => Ok(Sent::Unclear(msg)),
            Err(Attempt::Fatal(err)) => Err(err),
            Err(Attempt::RateLimited(wait)) => Err(Error::failed(format!(
                "{} rate limit exhausted for {method} {}: it resets in {}s, longer than the {}s this run waits; \
                 re-run later or use a token with a higher limit",
                self.service,
                redact_query(url),
                wait.as_secs(),
                max_wait.as_secs()
            ))),
        }
    }

    /// GETs a JSON document, following `Link: rel="next"` pages and concatenating arrays.
    pub async fn get_all_pages<T: DeserializeOwned>(&self, first_url: &str, what: &str) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut url = Some(first_url.to_string());
        while let Some(current) = url {
            let reply = self.send(Method::GET, &current, Payload::Empty, Replay::Safe).await?;
            if !reply.status.is_success() {
                return Err(self.unexpected(&reply, what));
            }
            let page: Vec<T> = reply.json(what)?;
            items.extend(page);
            url = reply.next_page();
        }
        Ok(items)
    }

    /// An error for an answer the caller did not expect, with the server's message.
    pub fn unexpected(&self, reply: &Reply, what: &str) -> Error {
        let message = serde_json::from_str::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| reply.body.chars().take(200).collect());
        let hint = match reply.status {
            StatusCode::UNAUTHORIZED => "; check that the token is valid",
            StatusCode::FORBIDDEN => {
                "; the token lacks permission (GitHub needs `contents: write` to publish)"
            }
            StatusCode::NOT_FOUND if self.token.is_none() => {
                "; no token was given, private repositories need one"
            }
            _ => "",
        };
        Error::failed(format!("{} {what} failed: HTTP {}: {message}{hint}", self.service, reply.status))
    }

    async fn attempt(&self, method: Method, url: &str, payload: &Payload<'_>) -> Result<Reply, Attempt> {
        let mut request = self.client.request(method, url).headers(self.extra_headers.clone());
        if let Some(token) = &self.token {
            let value = match self.scheme {
                AuthScheme::Bearer => format!("Bearer {token}"),
                AuthScheme::Token => format!("token {token}"),
            };
            let mut header = HeaderValue::from_str(&value).map_err(|_| {
                Attempt::Fatal(Error::usage("the token contains characters not allowed in a header"))
            })?;
            header.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, header);
        }
        let stall = self.policy.stall_timeout;
        let progress = Progress::default();
        request = match payload {
            // Small requests: no answer within the stall time is a failure.
            Payload::Empty => request.timeout(stall),
            Payload::Json(value) => request.json(value).timeout(stall),
            Payload::File { path, content_type, len } => {
                let file = tokio::fs::File::open(path).await.map_err(|e| {
                    Attempt::Fatal(Error::failed(format!("cannot open asset {}: {e}", path.display())))
                })?;
                let stream = tokio_util::io::ReaderStream::new(progress.watch(file));
                request
                    .header(reqwest::header::CONTENT_TYPE, *content_type)
                    .header(reqwest::header::CONTENT_LENGTH, *len)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        };
        // An upload may take as long as it needs while its bytes move; it fails once nothing
        // moved (no byte taken, then no answer) for the stall time.
        let send = request.send();
        tokio::pin!(send);
        let response = loop {
            tokio::select! {
                sent = &mut send => break sent.map_err(|e| Attempt::Transient(transport_error(&e)))?,
                () = tokio::time::sleep(stall / 4) => {
                    if progress.idle() >= stall {
                        return Err(Attempt::Transient(format!(
                            "stalled: nothing moved for {}s",
                            stall.as_secs_f64()
                        )));
                    }
                }
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| Attempt::Transient(transport_error(&e)))?;
        if let Some(wait) = rate_limit_wait(status, &headers, now_epoch()) {
            return Err(Attempt::RateLimited(wait));
        }
        if status.is_server_error() {
            return Err(Attempt::Transient(format!("HTTP {status}")));
        }
        Ok(Reply { status, headers, body })
    }
}

/// When an upload last moved: a file read is a chunk the connection asked for.
#[derive(Clone)]
struct Progress(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl Default for Progress {
    fn default() -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(std::time::Instant::now())))
    }
}

impl Progress {
    fn touch(&self) {
        if let Ok(mut last) = self.0.lock() {
            *last = std::time::Instant::now();
        }
    }

    /// Time since the last progress.
    fn idle(&self) -> Duration {
        self.0.lock().map(|last| last.elapsed()).unwrap_or_default()
    }

    fn watch<R>(&self, inner: R) -> Watched<R> {
        Watched { inner, progress: self.clone() }
    }
}

/// A reader that records progress on every read.
struct Watched<R> {
    inner: R,
    progress: Progress,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if poll.is_ready() {
            self.progress.touch();
        }
        poll
    }
}

fn describe(e: &Attempt) -> String {
    match e {
        Attempt::RateLimited(_) => "rate limited".to_string(),
        Attempt::Transient(m) => m.clone(),
        Attempt::Fatal(e) => e.to_string(),
    }
}

/// A transport error without the URL (which reqwest includes and which may carry a query).
fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_string() } else { format!("{kind}: {detail}") }
}

fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn now_epoch() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How long to wait when the answer is a rate-limit rejection, or `None` when it is not one.
pub fn rate_limit_wait(status: StatusCode, headers: &HeaderMap, now: u64) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok());
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (exhausted || retry_after.is_some()));
    if !limited {
        return None;
    }
    if let Some(seconds) = retry_after {
        return Some(Duration::from_secs(seconds));
    }
    if exhausted && let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    Some(Duration::from_secs(60))
}

/// The `rel="next"` target of an RFC 8288 `Link` header value.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    type Headers = &'static [(&'static str, &'static str)];

    #[test]
    fn rate_limit_rules() {
        let cases: &[(u16, Headers, Option<u64>)] = &[
            (200, &[("x-ratelimit-remaining", "0")], None),
            (403, &[], None),
            (403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1030")], Some(31)),
            (403, &[("retry-after", "7")], Some(7)),
            (429, &[], Some(60)),
            (429, &[("retry-after", "2"), ("x-ratelimit-reset", "5000")], Some(2)),
            (500, &[("retry-after", "2")], None),
        ];
        for (status, hs, expected) in cases {
            let got = rate_limit_wait(StatusCode::from_u16(*status).unwrap(), &headers(hs), 1000);
            assert_eq!(got, expected.map(Duration::from_secs), "status {status} headers {hs:?}");
        }
    }

    #[test]
    fn next_link_is_found_among_others() {
        let link = r#"<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=3>; rel="next", <https://api.github.com/x?page=9>; rel="last""#;
        assert_eq!(next_link(link).as_deref(), Some("https://api.github.com/x?page=3"));
        assert_eq!(next_link(r#"<https://a/x?page=1>; rel="first""#), None);
    }
}
