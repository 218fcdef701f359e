//! A Docker token server of our own, for `TestRegistry::start_token_auth`: it grants whatever
//! scope is asked, signs RS256 JWTs with a key and certificate it generates (openssl) and logs
//! every request, so tests assert which tokens a client asked for against a registry that
//! enforces them. It serves from a thread of its own, so sync and async tests both use it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The registry's `service` name the tokens are issued for.
pub const TOKEN_SERVICE: &str = "relkit-test-registry";
/// The issuer the registry trusts.
pub const TOKEN_ISSUER: &str = "relkit-test-issuer";

/// One token request as the issuer received it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The `scope` parameters, in order.
    pub scopes: Vec<String>,
    /// Whether it carried `Authorization`.
    pub authorized: bool,
    /// `grant_type` and `refresh_token` of an OAuth2 POST (an identity token exchange).
    pub grant: Option<(String, String)>,
}

/// A running token server; stops when dropped.
pub struct TokenIssuer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Holds `key.pem` and `root.crt` (the registry's `rootcertbundle`).
    pub dir: TempDir,
    /// Every request, in arrival order.
    pub log: Arc<Mutex<Vec<TokenRequest>>>,
    /// `expires_in` of the answers.
    pub expires_in: Arc<AtomicU64>,
    /// When false, tokens name another audience: the registry refuses a token the client
    /// believes valid (as when a registry revokes one early).
    pub valid: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TokenIssuer {
    /// Generates the key and certificate and starts serving `/token`. `None` without openssl
    /// (outside CI).
    pub fn start(test: &str) -> Option<Self> {
        if !crate::tools::require_tool(test, "openssl") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        crate::tools::self_signed_certificate(dir.path(), "/CN=relkit-test-issuer", "key.pem", "root.crt");
        let der = crate::tools::openssl(dir.path(), &["x509", "-outform", "DER", "-in", "root.crt"]);
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let expires_in = Arc::new(AtomicU64::new(300));
        let valid = Arc::new(AtomicBool::new(true));
        let key = dir.path().join("key.pem");
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (l, e, v) = (log.clone(), expires_in.clone(), valid.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let serial = AtomicU64::new(0);
                loop {
                    let accepted = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => accepted,
                    };
                    let Ok((mut stream, _)) = accepted else { return };
                    let Some(request) = read_request(&mut stream).await else { continue };
                    l.lock().unwrap().push(request.clone());
                    let jti = serial.fetch_add(1, Ordering::SeqCst);
                    let token = sign_jwt(&key, &x5c, &request.scopes, v.load(Ordering::SeqCst), jti);
                    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": e.load(Ordering::SeqCst)})
                        .to_string();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
            });
        });
        Some(Self { port, dir, log, expires_in, valid, stop: Some(stop) })
    }

    /// The issuer and a registry (distribution with `auth: token`) that accepts only its tokens.
    /// `None` when a tool is missing (outside CI).
    pub fn with_registry(test: &str) -> Option<(Self, crate::registry::TestRegistry)> {
        let issuer = Self::start(test)?;
        let root = issuer.dir.path().join("root.crt");
        let registry = crate::registry::TestRegistry::start_token_auth(
            test,
            &issuer.realm(),
            TOKEN_SERVICE,
            TOKEN_ISSUER,
            &root,
        )?;
        Some((issuer, registry))
    }

    /// The realm URL.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.log.lock().unwrap().clone()
    }
}

/// Reads one token request (GET with query scopes, or an OAuth2 form POST).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<TokenRequest> {
    let mut buf = vec![0u8; 16384];
    let mut read = 0;
    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf[read..]).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => read += n,
        }
    }
    let text = String::from_utf8_lossy(&buf[..read]).to_string();
    let (head, mut body) =
        text.split_once("\r\n\r\n").map(|(h, b)| (h.to_string(), b.to_string())).unwrap_or_default();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while body.len() < length {
        let mut more = vec![0u8; length - body.len()];
        match stream.read(&mut more).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.push_str(&String::from_utf8_lossy(&more[..n])),
        }
    }
    let target = head.split(' ').nth(1).unwrap_or("/").to_string();
    let url = url::Url::parse(&format!("http://x{target}")).unwrap();
    let mut scopes: Vec<String> =
        url.query_pairs().filter(|(k, _)| k == "scope").map(|(_, v)| v.to_string()).collect();
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let grant =
        form.get("grant_type").map(|g| (g.clone(), form.get("refresh_token").cloned().unwrap_or_default()));
    if let Some(scope) = form.get("scope") {
        scopes.extend(scope.split(' ').map(str::to_string));
    }
    let authorized = head.lines().any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
    Some(TokenRequest { scopes, authorized, grant })
}

fn sign_jwt(key: &Path, x5c: &str, scopes: &[String], valid: bool, serial: u64) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.split(':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": "relkit", "aud": if valid { TOKEN_SERVICE } else { "another-registry" },
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}-{serial}", std::process::id()),
        "access": access,
    });
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let signature = child.wait_with_output().unwrap().stdout;
    format!("{input}.{}", b64(&signature))
}
