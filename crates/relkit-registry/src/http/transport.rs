//! The transport: requests built with the registry's URL scheme and authorization, sent through
//! the one retry policy, answers read whole with a size limit, and the one-line errors for
//! unexpected answers.

use std::time::Duration;

use relkit_core::{Error, Result};
use reqwest::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Access, HttpRegistry, MAX_API_BODY, Request, Response};
use crate::retry::Attempt;

impl HttpRegistry {
    /// Sends a request built by `build` with retries on connection errors, 429 and 5xx.
    pub(super) async fn send_with_retry<F>(&self, build: F) -> Result<Response>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        self.retry
            .run(|| async {
                let response = self.send_once(build()).await?;
                classify(response)
            })
            .await
    }

    pub(super) async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
    ) -> std::result::Result<Response, Attempt> {
        let response = request.send().await.map_err(|e| self.transport_attempt(&e))?;
        self.read(response, MAX_API_BODY).await
    }

    pub(super) fn transport_attempt(&self, e: &reqwest::Error) -> Attempt {
        // reqwest errors name the URL, never headers, so no credential can leak here.
        Attempt { error: self.transport_error(e), retry: true, after: None }
    }

    pub(super) fn transport_error(&self, e: &reqwest::Error) -> Error {
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut detail = e.to_string();
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        Error::failed(format!("cannot reach registry {}: {detail}", self.registry))
    }

    /// Executes an authorized request with retries and reads the whole answer.
    pub(super) async fn execute(&self, request: &Request) -> Result<Response> {
        self.execute_resending(request, 0, |_| false).await
    }

    /// Like [`Self::execute`], and sends the request again, at most `times` more, when an answer
    /// is one `transient` picks out that is not retried anyway (an idempotent request refused
    /// by a passing state of the registry).
    pub(super) async fn execute_resending(
        &self,
        request: &Request,
        times: usize,
        transient: impl Fn(&Response) -> bool,
    ) -> Result<Response> {
        let resent = AtomicUsize::new(0);
        self.retry
            .run(|| async {
                let response = self.attempt(request).await?;
                let response = self.read(response, request.limit).await?;
                if transient(&response) && resent.fetch_add(1, Ordering::Relaxed) < times {
                    return Err(retry_attempt(&response));
                }
                Ok(response)
            })
            .await
    }

    /// Executes an authorized request with retries, leaving the body unread (blob downloads).
    pub(super) async fn execute_streaming(&self, request: &Request) -> Result<reqwest::Response> {
        self.retry.run(|| self.attempt(request)).await
    }

    /// One attempt. A 401 re-authorizes once with the challenge it carries (an expired token,
    /// or a registry whose `/v2/` is open but whose repositories are not).
    pub(super) async fn attempt(&self, request: &Request) -> std::result::Result<reqwest::Response, Attempt> {
        let own = self.is_own_origin(&request.url);
        let authorization = self.authorization_for(request).await.map_err(Attempt::fatal)?;
        let mut response = self
            .build(request, authorization.as_deref())
            .send()
            .await
            .map_err(|e| self.transport_attempt(&e))?;
        if own && response.status() == StatusCode::BAD_REQUEST && self.speaks_tls().await {
            // An insecure registry that serves TLS: use https from now on and send again.
            self.plain_http.store(false, Ordering::Relaxed);
            return Err(Attempt {
                error: Error::failed(format!("registry {} serves TLS", self.registry)),
                retry: true,
                after: Some(Duration::ZERO),
            });
        }
        if own {
            self.announce_plain_loopback();
        }
        // Only the registry itself may teach the challenge: another host's 401 is its answer.
        if own && response.status() == StatusCode::UNAUTHORIZED {
            let header = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
            let challenge = self.parse_challenge(header.unwrap_or_default()).map_err(Attempt::fatal)?;
            let _ = self.challenge.set(challenge.clone());
            // A refused token is stale: fetch a new one (once, however many requests it failed).
            let fresh = self
                .authorize(&challenge, &request.access, authorization.as_deref())
                .await
                .map_err(Attempt::fatal)?;
            if fresh.is_some() && fresh != authorization {
                response = self
                    .build(request, fresh.as_deref())
                    .send()
                    .await
                    .map_err(|e| self.transport_attempt(&e))?;
            }
        }
        if retryable_status(response.status()) {
            let response = self.read(response, MAX_API_BODY).await?;
            let mut attempt = retry_attempt(&response);
            attempt.error = attempt.error.context(format!(
                "registry {} ({} {})",
                self.registry,
                request.method,
                request.url.path()
            ));
            return Err(attempt);
        }
        Ok(response)
    }

    /// True when a registry reached over plain HTTP answers, as TLS servers do to a plain HTTP
    /// request (Go's `net/http`, nginx), that it speaks TLS. Asked after a 400 only.
    pub(super) async fn speaks_tls(&self) -> bool {
        if !self.plain_http.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(response) = self.client.get(self.url("v2/")).send().await else { return false };
        let Ok(answer) = self.read(response, MAX_API_BODY).await else { return false };
        let text = String::from_utf8_lossy(&answer.body);
        text.contains("HTTP request to an HTTPS server")
            || text.contains("plain HTTP request was sent to HTTPS port")
    }

    pub(super) fn build(&self, request: &Request, authorization: Option<&str>) -> reqwest::RequestBuilder {
        let mut builder = self.client.request(request.method.clone(), self.current(&request.url));
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(a) = authorization.filter(|_| self.is_own_origin(&request.url)) {
            builder = builder.header("Authorization", a);
        }
        match &request.body {
            Some(body) => builder.header("Content-Length", body.len().to_string()).body(body.clone()),
            // Google Artifact Registry answers 411 to a body-less POST without a length.
            None if request.method == Method::POST => builder.header("Content-Length", "0"),
            None => builder,
        }
    }

    pub(super) fn request(&self, method: Method, path: &str, access: Access) -> Request {
        Request { method, url: self.url(path), access, headers: Vec::new(), body: None, limit: MAX_API_BODY }
    }

    /// The one-line error for an unexpected answer.
    pub(super) fn unexpected(&self, what: &str, request: &Request, response: &Response) -> Error {
        let kind = match response.status {
            StatusCode::UNAUTHORIZED => {
                return Error::failed(format!(
                    "registry {} answered 401 Unauthorized to {what}: log in with `docker login {}` (or set GITHUB_TOKEN for ghcr.io)",
                    self.registry, self.registry
                ));
            }
            StatusCode::FORBIDDEN => "403 Forbidden (the credentials lack permission)".to_string(),
            s => s.to_string(),
        };
        let detail = describe_body(response);
        Error::failed(format!(
            "registry {} answered {kind} to {what} ({} {}){detail}",
            self.registry,
            request.method,
            request.url.path()
        ))
    }

    pub(super) fn check_not_html(&self, what: &str, response: &Response) -> Result<()> {
        let content_type = response.header("content-type").unwrap_or_default();
        if content_type.starts_with("text/html") || response.body.starts_with(b"<") {
            return Err(Error::failed(format!(
                "registry {} answered an HTML page instead of {what}; check that {} is an OCI registry and the repository name is right",
                self.registry, self.registry
            )));
        }
        Ok(())
    }
}

impl HttpRegistry {
    /// Reads a whole answer, at most `limit` bytes of body: a broken transfer is retried, a
    /// larger answer is refused (a registry never needs to send that much here).
    pub(super) async fn read(
        &self,
        mut response: reqwest::Response,
        limit: usize,
    ) -> std::result::Result<Response, Attempt> {
        let status = response.status();
        let headers = response.headers().clone();
        let path = response.url().path().to_string();
        let too_large = || {
            Attempt::fatal(Error::failed(format!(
                "registry {} sent an answer larger than {limit} bytes for {path}; refusing to read it",
                self.registry
            )))
        };
        if response.content_length().is_some_and(|l| l > limit as u64) {
            return Err(too_large());
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_attempt(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response { status, headers, body: body.freeze() })
    }
}

/// 429 and 5xx (but 501) are worth retrying.
pub(super) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// The retryable attempt for a 429/5xx answer, honouring `Retry-After`.
pub(super) fn retry_attempt(response: &Response) -> Attempt {
    let after = response.header(RETRY_AFTER.as_str()).and_then(parse_retry_after);
    let detail = describe_body(response);
    Attempt { error: Error::failed(format!("answered {}{detail}", response.status)), retry: true, after }
}

/// Turns 429/5xx answers into retryable attempts; everything else is returned as is.
pub(super) fn classify(response: Response) -> std::result::Result<Response, Attempt> {
    if retryable_status(response.status) { Err(retry_attempt(&response)) } else { Ok(response) }
}

/// `Retry-After` in seconds (the HTTP-date form is rare on registries and falls back to backoff).
pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The first OCI error of an error body: its code and message.
fn first_oci_error(response: &Response) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<OciError>,
    }
    #[derive(serde::Deserialize)]
    struct OciError {
        code: String,
        #[serde(default)]
        message: String,
    }
    let envelope = serde_json::from_slice::<Envelope>(&response.body).ok()?;
    envelope.errors.into_iter().next().map(|e| (e.code, e.message))
}

/// The OCI error code of an error answer (`DIGEST_INVALID`, `MANIFEST_BLOB_UNKNOWN`, ...).
pub(super) fn oci_error_code(response: &Response) -> Option<String> {
    first_oci_error(response).map(|(code, _)| code)
}

/// A short description of an error body: the OCI error code and message, or the first words.
pub(super) fn describe_body(response: &Response) -> String {
    if let Some((code, message)) = first_oci_error(response) {
        return format!(": {code} {message}");
    }
    let text = String::from_utf8_lossy(&response.body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        String::new()
    } else if text.starts_with('<') {
        ": an HTML page, not an OCI registry answer".to_string()
    } else {
        format!(": {}", text.chars().take(120).collect::<String>())
    }
}

/// The `next` target of a `Link` header: `<url>; rel="next"`.
pub(super) fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params.split(';').any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next")).then_some(target)
    })
}
