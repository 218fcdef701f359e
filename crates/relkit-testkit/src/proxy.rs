//! An HTTP/1.1 proxy in front of the test registry that misbehaves on purpose: it fails a
//! share of requests (a 500, a connection dropped before or after the registry handled it),
//! delays requests at random, answers in the shapes hosted registries use, rewrites answers
//! (an upload `Location` or a `Link` on another host), and records every request it saw. With
//! `referrers_api` it adds the OCI 1.1 referrers API that Debian's distribution 2.8 lacks, as
//! the distribution spec defines it (see [`ProxyConfig::referrers_api`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One request as the proxy received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PUT`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Every header as sent (names lowercase).
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An answer the proxy sends back.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers (without `content-length`, which the proxy sets).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// Sets (replaces) a header.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_ascii_lowercase(), value.into()));
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Answers a request instead of the registry (`None`: forward it).
pub type Intercept = Arc<dyn Fn(&Seen) -> Option<Answer> + Send + Sync>;
/// Changes the registry's answer before it goes back.
pub type Rewrite = Arc<dyn Fn(&Seen, &mut Answer) + Send + Sync>;

/// How the proxy misbehaves.
#[derive(Clone, Default)]
pub struct ProxyConfig {
    /// The registry's port on 127.0.0.1.
    pub upstream: u16,
    /// Share of requests (percent) that fail.
    pub fail_percent: u64,
    /// Seed of the failure and delay rolls (runs are reproducible).
    pub seed: u64,
    /// Each request waits a random time up to this before it is forwarded.
    pub max_delay: Duration,
    /// `Authorization` sent upstream in place of the client's (a storage host that accepts
    /// pre-signed URLs).
    pub upstream_authorization: Option<String>,
    /// Answers some requests itself.
    pub intercept: Option<Intercept>,
    /// Rewrites answers.
    pub rewrite: Option<Rewrite>,
    /// Serve the referrers API (distribution spec 1.1) over the registry: a stored manifest with a
    /// `subject` is answered with `OCI-Subject` and listed by `GET /v2/<name>/referrers/<digest>`
    /// (`?artifactType=` filters, with `OCI-Filters-Applied`) until it is deleted; as registries
    /// with the API (Docker Hub, ECR, ACR, GAR, Harbor, zot) behave.
    pub referrers_api: bool,
}

/// Referrer descriptors by repository and subject digest.
type ReferrerIndex = Arc<Mutex<BTreeMap<(String, String), Vec<serde_json::Value>>>>;

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// The proxy's port on 127.0.0.1.
    pub port: u16,
    /// Failures injected so far.
    pub injected: Arc<AtomicU64>,
    /// Every request received, in arrival order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A pseudo-random number from a seed (xorshift).
fn roll(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

impl Proxy {
    /// Starts the proxy on a free loopback port (inside a tokio runtime).
    pub async fn start(config: ProxyConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let injected = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let counter = Arc::new(AtomicU64::new(config.seed));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let (inj, log) = (injected.clone(), seen.clone());
        let config = Arc::new(config);
        let referrers = ReferrerIndex::default();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let n = roll(counter.fetch_add(1, Ordering::SeqCst));
                let (client, inj, log, config) = (client.clone(), inj.clone(), log.clone(), config.clone());
                let referrers = referrers.clone();
                tokio::spawn(async move {
                    let _ = serve_one(stream, port, n, &config, client, inj, log, referrers).await;
                });
            }
        });
        Self { port, injected, seen, task }
    }

    /// The requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_one(
    mut stream: tokio::net::TcpStream,
    own: u16,
    dice: u64,
    config: &ProxyConfig,
    client: reqwest::Client,
    injected: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Seen>>>,
    referrers: ReferrerIndex,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or("GET").to_string(), parts.next().unwrap_or("/").to_string());
    let mut headers = Vec::new();
    let mut length = 0usize;
    for line in lines.filter(|l| !l.is_empty()) {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    let seen = Seen { method: method.clone(), path: path.clone(), headers };
    log.lock().unwrap().push(seen.clone());

    if !config.max_delay.is_zero() {
        let max = config.max_delay.as_micros() as u64;
        tokio::time::sleep(Duration::from_micros(roll(dice ^ 0x5555) % (max + 1))).await;
    }
    if let Some(answer) = config.intercept.as_ref().and_then(|i| i(&seen)) {
        return write_answer(&mut stream, &method, answer).await;
    }
    if config.referrers_api
        && let Some(answer) = list_referrers(&method, &path, &referrers)
    {
        return write_answer(&mut stream, &method, answer).await;
    }
    let percent_roll = dice % 100;
    let fail = percent_roll < config.fail_percent;
    let mode = (dice / 100) % 3;
    if fail && mode == 0 {
        injected.fetch_add(1, Ordering::SeqCst);
        let answer = Answer { status: 500, ..Default::default() };
        return write_answer(&mut stream, &method, answer).await;
    }
    if fail && mode == 1 {
        injected.fetch_add(1, Ordering::SeqCst);
        return Ok(()); // dropped before the registry saw it
    }
    let url = format!("http://127.0.0.1:{}{path}", config.upstream);
    let mut request = client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url);
    for (k, v) in &seen.headers {
        let skip = matches!(k.as_str(), "host" | "content-length" | "connection")
            || (k == "authorization" && config.upstream_authorization.is_some());
        if !skip {
            request = request.header(k, v);
        }
    }
    if let Some(a) = &config.upstream_authorization {
        request = request.header("authorization", a);
    }
    let response = match request.body(body.clone()).send().await {
        Ok(r) => r,
        Err(_) => return Ok(()),
    };
    let mut answer = Answer { status: response.status().as_u16(), ..Default::default() };
    let mut upstream_length = None;
    for (k, v) in response.headers() {
        let k = k.as_str();
        let v = v
            .to_str()
            .unwrap_or_default()
            .replace(&format!("127.0.0.1:{}", config.upstream), &format!("127.0.0.1:{own}"));
        match k {
            "connection" | "transfer-encoding" => {}
            "content-length" => upstream_length = Some(v),
            _ => answer.headers.push((k.to_string(), v)),
        }
    }
    answer.body = response.bytes().await.unwrap_or_default().to_vec();
    if fail {
        injected.fetch_add(1, Ordering::SeqCst);
        return Ok(()); // the registry handled it; the answer is lost
    }
    if method == "HEAD" {
        answer.set_header("content-length", upstream_length.unwrap_or_else(|| "0".into()));
    }
    if config.referrers_api {
        track_referrers(&seen, &body, &mut answer, &referrers);
    }
    if let Some(rewrite) = &config.rewrite {
        rewrite(&seen, &mut answer);
    }
    write_answer(&mut stream, &method, answer).await
}

/// `(repository, reference)` of a `/v2/<name>/<kind>/<reference>` path (query dropped).
fn split_path<'a>(path: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let path = path.split('?').next()?.strip_prefix("/v2/")?;
    path.rsplit_once(&format!("/{kind}/"))
}

/// The referrers API answer for `GET /v2/<name>/referrers/<digest>`, or `None` for other paths.
fn list_referrers(method: &str, path: &str, referrers: &ReferrerIndex) -> Option<Answer> {
    if method != "GET" {
        return None;
    }
    let (repo, digest) = split_path(path, "referrers")?;
    let wanted = path.split_once('?').and_then(|(_, q)| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("artifactType="))
            .map(|t| t.replace("%2B", "+").replace("%2F", "/"))
    });
    let listed: Vec<serde_json::Value> = referrers
        .lock()
        .unwrap()
        .get(&(repo.to_string(), digest.to_string()))
        .into_iter()
        .flatten()
        .filter(|d| wanted.as_ref().is_none_or(|t| d["artifactType"] == t.as_str()))
        .cloned()
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": listed,
    });
    let mut answer = Answer { status: 200, body: index.to_string().into_bytes(), ..Default::default() };
    answer.set_header("content-type", "application/vnd.oci.image.index.v1+json");
    if wanted.is_some() {
        answer.set_header("oci-filters-applied", "artifactType");
    }
    Some(answer)
}

/// After the registry stored a manifest with a `subject`: list it and answer `OCI-Subject`.
/// After it deleted a manifest: list it no more.
fn track_referrers(seen: &Seen, body: &[u8], answer: &mut Answer, referrers: &ReferrerIndex) {
    let Some((repo, _)) = split_path(&seen.path, "manifests") else { return };
    if seen.method == "DELETE" && answer.status == 202 {
        let (_, digest) = split_path(&seen.path, "manifests").unwrap_or_default();
        for ((r, _), list) in referrers.lock().unwrap().iter_mut() {
            if r == repo {
                list.retain(|d| d["digest"] != digest);
            }
        }
        return;
    }
    if seen.method != "PUT" || answer.status != 201 {
        return;
    }
    let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let Some(subject) = manifest["subject"]["digest"].as_str() else { return };
    let digest = answer
        .header("docker-content-digest")
        .map(str::to_string)
        .unwrap_or_else(|| crate::tools::sha256_digest(body));
    let media_type = manifest["mediaType"].as_str().or(seen.header("content-type")).unwrap_or_default();
    let artifact_type = manifest["artifactType"].as_str().or(manifest["config"]["mediaType"].as_str());
    let mut descriptor = serde_json::json!({"mediaType": media_type, "digest": digest, "size": body.len()});
    if let Some(t) = artifact_type {
        descriptor["artifactType"] = t.into();
    }
    if manifest["annotations"].is_object() {
        descriptor["annotations"] = manifest["annotations"].clone();
    }
    let mut index = referrers.lock().unwrap();
    let list = index.entry((repo.to_string(), subject.to_string())).or_default();
    if !list.iter().any(|d| d["digest"] == digest.as_str()) {
        list.push(descriptor);
    }
    answer.set_header("oci-subject", subject);
}

async fn write_answer(
    stream: &mut tokio::net::TcpStream,
    method: &str,
    answer: Answer,
) -> std::io::Result<()> {
    let reason =
        reqwest::StatusCode::from_u16(answer.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    let mut has_length = false;
    for (k, v) in &answer.headers {
        has_length |= k.eq_ignore_ascii_case("content-length");
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length {
        out.push_str(&format!("content-length: {}\r\n", answer.body.len()));
    }
    out.push_str("connection: close\r\n\r\n");
    stream.write_all(out.as_bytes()).await?;
    if method != "HEAD" {
        stream.write_all(&answer.body).await?;
    }
    stream.flush().await
}
