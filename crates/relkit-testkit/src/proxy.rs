//! An HTTP/1.1 proxy in front of the test registry that misbehaves on purpose: it fails a
//! share of requests (a 500, a connection dropped before or after the registry handled it),
//! delays requests at random, answers in the shapes hosted registries use, rewrites answers
//! (an upload `Location` or a `Link` on another host), and records every request it saw.

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
}

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
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let n = roll(counter.fetch_add(1, Ordering::SeqCst));
                let (client, inj, log, config) = (client.clone(), inj.clone(), log.clone(), config.clone());
                tokio::spawn(async move {
                    let _ = serve_one(stream, port, n, &config, client, inj, log).await;
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

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    own: u16,
    dice: u64,
    config: &ProxyConfig,
    client: reqwest::Client,
    injected: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Seen>>>,
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
    let response = match request.body(body).send().await {
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
    if let Some(rewrite) = &config.rewrite {
        rewrite(&seen, &mut answer);
    }
    write_answer(&mut stream, &method, answer).await
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
