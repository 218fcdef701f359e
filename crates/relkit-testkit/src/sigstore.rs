//! A private Sigstore instance for tests, and the independent judges of what a signer produces.
//!
//! [`MockSigstore`] runs `tests/sigstore-mock/server.js` (Fulcio, CT log, Rekor v1 and v2, a TSA from
//! the Sigstore project's `@sigstore/mock`, plus a GitHub Actions OIDC token endpoint) on a free
//! loopback port; it writes the matching `trusted_root.json`, `signing_config.json` and
//! sigstore-python client trust config. The judges are tools we did not write:
//! [`sigstore_python_verify_identity`] (sigstore-python 4.5.1), [`js_verify`]
//! (`@sigstore/verify`) and [`in_toto_validate`] (in-toto-attestation). `docs/testing.md` says
//! what each one checks.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tempfile::TempDir;

use crate::tools::{in_ci, require_tool};

/// The `iss` of GitHub Actions tokens, and Fulcio's issuer extension for them.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The certificate identity (SAN) the mock's default token gets: the `job_workflow_ref` of
/// `acme/widget`'s release workflow on tag `v1.0.0`.
pub const DEFAULT_IDENTITY: &str =
    "https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v1.0.0";

/// `tests/sigstore-mock` of this workspace: the server, the sigstore-js scripts, `node_modules`.
pub fn mock_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sigstore-mock")
}

/// A running `server.js`, stopped when dropped.
pub struct MockSigstore {
    /// Base URL of Fulcio and Rekor v1 (`http://127.0.0.1:PORT`); the clients append
    /// `/api/v2/signingCert` and `/api/v1/log/entries`.
    pub url: String,
    /// The full RFC 3161 endpoint URL (`{url}/api/v1/timestamp`).
    pub tsa_url: String,
    /// `trusted_root.json` (v0.1) of this instance: CA, Rekor key, CT log key, TSA chain.
    pub trusted_root: PathBuf,
    /// `signing_config.json` (v0.2): `caUrls`, `rekorTlogUrls` (v1) and `tsaUrls`.
    pub signing_config: PathBuf,
    /// The same with only the instance's Rekor v2 log (hashedrekord 0.0.2, checkpoints, no SET).
    pub signing_config_rekor_v2: PathBuf,
    /// sigstore-python's `--trust-config` (`clienttrustconfig.v0.1`) for this instance.
    pub client_trust_config: PathBuf,
    /// Stand-in for `ACTIONS_ID_TOKEN_REQUEST_URL` (it already has a query string).
    pub oidc_url: String,
    /// Stand-in for `ACTIONS_ID_TOKEN_REQUEST_TOKEN`: the bearer token the endpoint requires.
    pub oidc_request_token: String,
    /// The server's directory: the files above, `claims.json`, `settings.json`, the request log.
    pub dir: TempDir,
    claims_file: PathBuf,
    settings_file: PathBuf,
    request_log: PathBuf,
    child: Child,
    // The server stops when this pipe closes, even if the test process dies without dropping.
    _stdin: ChildStdin,
}

impl MockSigstore {
    /// Starts the server. `None`, after a SKIPPED line naming `test`, when node or the npm
    /// packages (`scripts/install-test-deps`) are missing outside CI; panics under `CI=true`.
    pub fn start(test: &str) -> Option<Self> {
        if !require_tool(test, "node") || !require_npm_packages(test) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("node")
            .arg(mock_dir().join("server.js"))
            .arg("--dir")
            .arg(dir.path())
            .arg("--stop-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("server.log")).unwrap()))
            .spawn()
            .expect("node starts");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        if ready.trim().is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("{test}: the Sigstore mock server did not start: {log}");
        }
        let info: Value = serde_json::from_str(&ready).expect("server.js prints one JSON line");
        let text = |key: &str| info[key].as_str().expect("server.js ready line").to_string();
        let path = |key: &str| PathBuf::from(text(key));
        Some(Self {
            url: text("url"),
            tsa_url: text("tsaUrl"),
            trusted_root: path("trustedRoot"),
            signing_config: path("signingConfig"),
            signing_config_rekor_v2: path("signingConfigRekorV2"),
            client_trust_config: path("clientTrustConfig"),
            oidc_url: text("oidcTokenUrl"),
            oidc_request_token: text("oidcRequestToken"),
            claims_file: path("claimsFile"),
            settings_file: path("settingsFile"),
            request_log: path("requestLog"),
            _stdin: child.stdin.take().unwrap(),
            child,
            dir,
        })
    }

    /// Overrides claims of the tokens the OIDC endpoint issues from now on: each key replaces
    /// the default (acme/widget, release.yml, tag v1.0.0, expiring in 10 minutes), `null` removes
    /// it. Replaces earlier overrides.
    pub fn set_claims(&self, overrides: &Value) {
        assert!(overrides.is_object(), "claims overrides must be a JSON object");
        write_atomically(&self.claims_file, &overrides.to_string());
    }

    /// Makes Fulcio issue certificates as if the clock were `seconds` off (negative: in the
    /// past, so a certificate can be expired before it is used).
    pub fn set_fulcio_clock_offset(&self, seconds: i64) {
        let settings = serde_json::json!({ "fulcioClockOffsetSeconds": seconds });
        write_atomically(&self.settings_file, &settings.to_string());
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN` for a signer's
    /// environment.
    pub fn actions_env(&self) -> [(&'static str, String); 2] {
        [
            ("ACTIONS_ID_TOKEN_REQUEST_URL", self.oidc_url.clone()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", self.oidc_request_token.clone()),
        ]
    }

    /// An identity token for `audience` from the OIDC endpoint, fetched as a runner would.
    pub fn id_token(&self, audience: &str) -> String {
        let url = format!("{}&audience={audience}", self.oidc_url);
        let (status, body) = http_get(&url, Some(&self.oidc_request_token));
        assert_eq!(status, 200, "GET {url}: {body}");
        let reply: Value = serde_json::from_str(&body).unwrap();
        reply["value"].as_str().expect("{\"value\": JWT}").to_string()
    }

    /// The Rekor v1 entry `uuid` as `GET /api/v1/log/entries/{uuid}` returns it
    /// (`{uuid: {body, integratedTime, logID, logIndex, verification}}`), or `None` (404).
    pub fn rekor_entry(&self, uuid: &str) -> Option<Value> {
        let (status, body) = http_get(&format!("{}/api/v1/log/entries/{uuid}", self.url), None);
        (status == 200).then(|| serde_json::from_str(&body).unwrap())
    }

    /// The JWTs the OIDC endpoint issued so far (to assert that no output contains them).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.requests().iter().filter_map(|r| r["value"].as_str().map(str::to_string)).collect()
    }

    /// Every request the server answered, in order: `method`, `path`, `status` (`error` when it
    /// failed), and for the token endpoint `audience`, `bearer`, `authorized`, `claims` and
    /// `value` (the JWT it issued); for Fulcio the token's `iss`/`sub`/`aud`/`exp`; for a Rekor
    /// entry its `uuid`.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.request_log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Signs `file` with sigstore-js (`sign.js`) against this instance and writes the bundle to
    /// `bundle`: keyless with a token from the OIDC endpoint, or with `options.key`.
    pub fn js_sign(&self, file: &Path, bundle: &Path, options: JsSign) -> Output {
        let mut cmd = Command::new("node");
        cmd.arg(mock_dir().join("sign.js")).arg("--url").arg(&self.url).arg("--bundle").arg(bundle);
        if options.in_toto {
            cmd.arg("--in-toto");
        }
        if options.tsa {
            cmd.arg("--tsa");
        }
        if let Some(key) = options.key {
            cmd.arg("--key").arg(key);
        }
        if options.no_tlog {
            cmd.arg("--no-tlog");
        }
        cmd.arg(file).envs(self.actions_env()).env_remove("SIGSTORE_ID_TOKEN");
        cmd.output().expect("node runs")
    }
}

/// How [`MockSigstore::js_sign`] signs; the default is a keyless message signature logged in
/// Rekor, without a timestamp.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsSign<'a> {
    /// `file` is an in-toto statement: sign it as a DSSE envelope (Rekor `dsse` entry).
    pub in_toto: bool,
    /// Add an RFC 3161 timestamp from the TSA.
    pub tsa: bool,
    /// Sign with this PEM private key (a public-key bundle) instead of a Fulcio certificate.
    pub key: Option<&'a Path>,
    /// With `key`: no Rekor entry.
    pub no_tlog: bool,
}

impl Drop for MockSigstore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JWT shaped like the ones the mock (and GitHub) issue, with `claims` as its payload and a
/// placeholder signature: Fulcio's mock does not check signatures, so tests can hand any claims
/// (expired, another repository) straight to a signer's `--identity-token`.
pub fn unsigned_jwt(claims: &Value) -> String {
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": "mock" });
    [header.to_string().as_bytes(), claims.to_string().as_bytes(), b"not-a-real-signature"]
        .map(|part| URL_SAFE_NO_PAD.encode(part))
        .join(".")
}

/// True when the judges can run: node with the npm packages, sigstore-python and
/// in-toto-attestation. Otherwise a SKIPPED line naming `test` (a panic under `CI=true`).
pub fn require_judges(test: &str) -> bool {
    require_tool(test, "node")
        && require_npm_packages(test)
        && require_tool(test, "sigstore")
        && require_python_module(test, "in_toto_attestation")
}

/// sigstore-python 4.5.1: `sigstore --trust-config TC verify identity --offline --bundle B
/// --cert-identity IDENTITY --cert-oidc-issuer ISSUER ARTIFACT_OR_DIGEST`, where the last
/// argument is a file or `sha256:<hex>`.
pub fn sigstore_python_verify_identity(
    trust_config: &Path,
    bundle: &Path,
    identity: &str,
    issuer: &str,
    artifact_or_digest: &str,
) -> Output {
    Command::new("sigstore")
        .arg("--trust-config")
        .arg(trust_config)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(bundle)
        .args(["--cert-identity", identity, "--cert-oidc-issuer", issuer, artifact_or_digest])
        .env("COLUMNS", "200")
        .output()
        .expect("sigstore (sigstore-python) runs")
}

/// Who must have signed, for [`js_verify`] and [`CosignJudge::verify`].
#[derive(Debug, Clone, Copy)]
pub enum JsSigner<'a> {
    /// A Fulcio certificate with exactly this SAN and issuer extension.
    Identity { identity: &'a str, issuer: &'a str },
    /// The key in this PEM file.
    Key(&'a Path),
    /// The key in this PEM file, for a bundle without a transparency log entry or timestamp.
    KeyWithoutTlog(&'a Path),
}

/// `@sigstore/verify` through `verify.js`: the bundle against `trusted_root`, for the artifact
/// file or `sha256:<hex>` (DSSE bundles only; the digest must be a statement subject). On
/// success stdout is one JSON line with `identity`, `issuer` and `certificate` (the leaf's
/// Fulcio extensions by name: `buildSignerURI`, `buildConfigURI`, `sourceRepositoryURI`, ...).
pub fn js_verify(trusted_root: &Path, bundle: &Path, artifact_or_digest: &str, signer: JsSigner) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(mock_dir().join("verify.js")).arg("--trusted-root").arg(trusted_root).arg("--bundle").arg(bundle);
    match signer {
        JsSigner::Identity { identity, issuer } => cmd.args(["--identity", identity, "--issuer", issuer]),
        JsSigner::Key(key) => cmd.arg("--key").arg(key),
        JsSigner::KeyWithoutTlog(key) => cmd.arg("--key").arg(key).arg("--no-tlog"),
    };
    cmd.arg(artifact_or_digest).output().expect("node runs")
}

/// sigstore-rs's cosign module (crate `sigstore` 0.15, `tools/cosign-judge`, built by
/// `scripts/install-test-deps`), the judge of the registry layouts: it reads the `.sig` manifest
/// and the cosign v3 bundle referrers (API or tag fallback) of one image by digest and checks
/// each signature against `trusted_root` and the signer. It reads signatures, not attestations.
pub struct CosignJudge {
    binary: PathBuf,
}

/// One signature layer as the cosign judge saw it.
#[derive(Debug, Clone)]
pub struct JudgedLayer {
    /// `sig-tag` (the legacy `sha256-<hex>.sig` manifest) or `referrer` (a v3 bundle referrer).
    pub source: String,
    /// The image digest the signed payload names.
    pub digest: String,
    /// True when the layer's signature satisfies the signer given to [`CosignJudge::verify`].
    pub satisfied: bool,
}

impl CosignJudge {
    /// The built judge; otherwise a SKIPPED line naming `test` (a panic under `CI=true`).
    pub fn find(test: &str) -> Option<Self> {
        let binary = std::env::var_os("RELKIT_COSIGN_JUDGE")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/cosign-judge"));
        if binary.is_file() {
            return Some(Self { binary });
        }
        assert!(
            !in_ci(),
            "{test}: {} is not built and CI=true (run scripts/install-test-deps)",
            binary.display()
        );
        eprintln!("SKIPPED: {test}: the cosign judge is not built (run scripts/install-test-deps)");
        None
    }

    /// Every signature layer of `image` (`HOST/REPO@sha256:…` on a plain-HTTP registry) that
    /// sigstore-rs trusted, each with whether `signer` signed it and its payload carries the
    /// `KEY=VALUE` `annotations`. Panics when the judge cannot read the image at all.
    pub fn verify(
        &self,
        trusted_root: &Path,
        image: &str,
        signer: JsSigner,
        annotations: &[&str],
    ) -> Vec<JudgedLayer> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--trusted-root").arg(trusted_root).arg("--http");
        for annotation in annotations {
            cmd.args(["--annotation", annotation]);
        }
        match signer {
            JsSigner::Identity { identity, issuer } => cmd.args(["--identity", identity, "--issuer", issuer]),
            JsSigner::Key(key) | JsSigner::KeyWithoutTlog(key) => cmd.arg("--key").arg(key),
        };
        let out = cmd.arg(image).output().expect("the cosign judge runs");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "cosign judge on {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // sigstore-rs's reasons for skipping a layer, shown with a failing test's output.
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).expect("the cosign judge prints JSON");
        report["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|layer| JudgedLayer {
                source: layer["source"].as_str().unwrap_or_default().to_string(),
                digest: layer["digest"].as_str().unwrap_or_default().to_string(),
                satisfied: layer["satisfied"] == true,
            })
            .collect()
    }

    /// The storage schemes (`sig-tag`, `referrer`) in which `signer`'s signature of `image`
    /// (with the `annotations`) verifies for sigstore-rs, sorted.
    pub fn verified_schemes(
        &self,
        trusted_root: &Path,
        image: &str,
        signer: JsSigner,
        annotations: &[&str],
    ) -> Vec<String> {
        let digest = image.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let mut schemes: Vec<String> = self
            .verify(trusted_root, image, signer, annotations)
            .into_iter()
            .filter(|layer| layer.satisfied && layer.digest == digest)
            .map(|layer| layer.source)
            .collect();
        schemes.sort();
        schemes.dedup();
        schemes
    }
}

/// in-toto-attestation's `Statement.validate()` on `statement_json` (parsed strictly into the
/// v1 Statement proto: unknown fields are errors). Note that it requires `_type`
/// `https://in-toto.io/Statement/v1` and a non-empty predicate.
pub fn in_toto_validate(statement_json: &str) -> Output {
    const SCRIPT: &str = "import sys\n\
from google.protobuf import json_format\n\
from in_toto_attestation.v1.statement import Statement, spb\n\
try:\n    Statement.copy_from_pb(json_format.Parse(sys.stdin.read(), spb.Statement())).validate()\n\
except Exception as e:\n    sys.exit(f'in-toto statement invalid: {e}')\n";
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(statement_json.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn require_npm_packages(test: &str) -> bool {
    let found = mock_dir().join("node_modules/@sigstore/mock/package.json").is_file();
    if !found {
        assert!(
            !in_ci(),
            "{test}: tests/sigstore-mock has no node_modules and CI=true (run scripts/install-test-deps)"
        );
        eprintln!(
            "SKIPPED: {test}: tests/sigstore-mock/node_modules missing (run scripts/install-test-deps)"
        );
    }
    found
}

fn require_python_module(test: &str, module: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(
            !in_ci(),
            "{test}: python module {module} is not installed and CI=true (run scripts/install-test-deps)"
        );
        eprintln!("SKIPPED: {test}: python module {module} not installed (run scripts/install-test-deps)");
    }
    found
}

fn write_atomically(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A plain HTTP/1.0 GET on loopback: (status, body).
fn http_get(url: &str, bearer: Option<&str>) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).unwrap();
    let auth = bearer.map(|token| format!("Authorization: Bearer {token}\r\n")).unwrap_or_default();
    write!(stream, "GET {target} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\n{auth}\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    (status, body)
}
