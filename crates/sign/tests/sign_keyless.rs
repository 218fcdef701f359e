//! Keyless `sign` against a private Sigstore instance on loopback (`@sigstore/mock`: Fulcio, CT
//! log, Rekor v1 and v2, TSA, and a GitHub Actions token endpoint) and a real registry (also with
//! the referrers API in front of it), judged by tools we did not write: sigstore-python,
//! `@sigstore/verify`, in-toto-attestation and sigstore-rs's cosign module.

#[path = "../../../tests/keyless_world.rs"]
mod keyless_world;

use keyless_world::{World, judged, ok, statement};
use relkit_testkit::sigstore::{
    CosignJudge, DEFAULT_IDENTITY, GITHUB_ISSUER, JsSigner, MockSigstore, in_toto_validate, js_verify,
};
use serde_json::{Value, json};

impl World {
    /// `sign` as an Actions step.
    fn sign(&self) -> std::process::Command {
        self.step(env!("CARGO_BIN_EXE_sign"))
    }

    /// The 4-platform index of these tests, pushed as `repo:v1.0.0`.
    fn index4(&self, repo: &str, seed: &str) -> String {
        self.index(repo, &["amd64", "arm64", "arm", "ppc64le"], seed)
    }
}

impl World {
    /// sigstore-rs's cosign module on the registry: each signed digest in `repo` verifies for
    /// the default identity in both storage schemes, and for a look-alike identity in neither.
    fn judge_layouts(&self, repo: &str, entries: &[Value]) {
        let Some(judge) = CosignJudge::find("keyless signing (cosign layouts)") else { return };
        let signer = JsSigner::Identity { identity: DEFAULT_IDENTITY, issuer: GITHUB_ISSUER };
        let evil_identity = DEFAULT_IDENTITY.replace("acme/widget", "acme/widget-evil");
        let evil = JsSigner::Identity { identity: &evil_identity, issuer: GITHUB_ISSUER };
        for entry in entries {
            let pinned = format!("{}/{repo}@{}", self.registry.host, entry["digest"].as_str().unwrap());
            let root = &self.sigstore.trusted_root;
            assert_eq!(
                judge.verified_schemes(root, &pinned, signer, &[]),
                ["referrer", "sig-tag"],
                "{pinned}"
            );
            assert!(judge.verified_schemes(root, &pinned, evil, &[]).is_empty(), "{pinned}");
        }
    }
}

#[test]
fn keyless_index_signing_and_provenance_pass_the_independent_judges() {
    let Some(world) = World::start("keyless_index_signing_and_provenance") else { return };
    let image = world.index4("acme/widget", "keyless");
    let out = world.sign().args(["image", &image, "--storage", "both", "--json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = ok(out);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let entries = report["images"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    let fulcio_requests =
        |w: &World| w.sigstore.requests().iter().filter(|r| r["path"] == "/api/v2/signingCert").count();
    assert_eq!(fulcio_requests(&world), 1, "one certificate for the whole run");
    let token_requests: Vec<Value> =
        world.sigstore.requests().into_iter().filter(|r| r["audience"].is_string()).collect();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0]["audience"], "sigstore");
    assert_eq!(token_requests[0]["authorized"], true);

    for entry in entries {
        assert_eq!(entry["status"], "signed");
        assert_eq!(entry["signature"]["certificate_identity"], DEFAULT_IDENTITY);
        assert_eq!(entry["signature"]["certificate_oidc_issuer"], GITHUB_ISSUER);
        assert!(
            entry["commands"][0]
                .as_str()
                .unwrap()
                .contains(&format!("--certificate-identity {DEFAULT_IDENTITY}"))
        );
        let digest = entry["digest"].as_str().unwrap();
        let referrer = entry["locations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["scheme"] == "referrer")
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let bundle = world.referrer_bundle("acme/widget", &referrer);
        world.python_accepts(&bundle, digest);
        judged(
            js_verify(
                &world.sigstore.trusted_root,
                &bundle,
                digest,
                JsSigner::Identity { identity: DEFAULT_IDENTITY, issuer: GITHUB_ISSUER },
            ),
            "@sigstore/verify",
        );
        let s = statement(&bundle);
        assert!(s.contains("https://sigstore.dev/cosign/sign/v1"), "{s}");
    }
    world.judge_layouts("acme/widget", entries);

    // Secrets: the token and the endpoint's bearer never appear in any output.
    let outputs = std::fs::read_to_string(world.dir.path().join("output")).unwrap();
    let summary = std::fs::read_to_string(world.dir.path().join("summary")).unwrap();
    assert!(summary.contains("| index / image | signed |"), "{summary}");
    let stderr_without_masks: String =
        stderr.lines().filter(|l| !l.starts_with("::add-mask::")).collect::<Vec<_>>().join("\n");
    for secret in world.sigstore.issued_tokens().iter().chain([&world.sigstore.oidc_request_token]) {
        assert!(stderr.contains(&format!("::add-mask::{secret}")), "the secret is masked");
        for (name, text) in [
            ("stdout", &stdout),
            ("stderr", &stderr_without_masks),
            ("outputs", &outputs),
            ("summary", &summary),
        ] {
            assert!(!text.contains(secret.as_str()), "a secret leaked into {name}");
        }
    }

    // A re-run signs nothing and asks Fulcio for nothing.
    let again: Value = serde_json::from_str(&ok(world
        .sign()
        .args(["image", &image, "--storage", "both", "--json"])
        .output()
        .unwrap()))
    .unwrap();
    assert!(again["images"].as_array().unwrap().iter().all(|e| e["status"] == "already signed"));
    assert_eq!(fulcio_requests(&world), 1);

    // Provenance: SLSA v1 from the token's claims, a valid in-toto statement, judged as above.
    let attested: Value = serde_json::from_str(&ok(world
        .sign()
        .args(["attest", &image, "--provenance", "github", "--json"])
        .output()
        .unwrap()))
    .unwrap();
    let first = &attested["images"][0];
    let referrer = first["locations"][0]["digest"].as_str().unwrap();
    let bundle = world.referrer_bundle("acme/widget", referrer);
    let s = statement(&bundle);
    judged(in_toto_validate(&s), "in-toto-attestation");
    let statement: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["predicate"]["runDetails"]["builder"]["id"], DEFAULT_IDENTITY);
    assert_eq!(statement["subject"][0]["name"], format!("{}/acme/widget", world.registry.host));
    world.python_accepts(&bundle, first["digest"].as_str().unwrap());
    assert!(
        first["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("gh attestation verify oci://"))
    );

    // Verification presets and the checks they name.
    let verify = |args: &[&str]| {
        let mut cmd = world.sign();
        cmd.env_remove("GITHUB_ACTIONS").args(["verify", "image", &image]).args(args);
        cmd.output().unwrap()
    };
    let good = ok(verify(&[
        "--github-repo",
        "acme/widget",
        "--workflow",
        ".github/workflows/release.yml",
        "--ref",
        "refs/tags/v*",
    ]));
    assert_eq!(good.lines().filter(|l| l.starts_with("verified")).count(), 5, "{good}");
    ok(world
        .sign()
        .env_remove("GITHUB_ACTIONS")
        .args(["verify", "attestation", &image, "--type", "slsaprovenance1", "--github-repo", "acme/widget"])
        .output()
        .unwrap());
    let bad: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--github-repo", "acme/widget-evil"], "identity check failed"),
        (vec!["--github-repo", "acme/widget", "--ref", "refs/heads/*"], "identity check failed"),
        (
            vec![
                "--certificate-identity-regexp",
                "https://github.com/acme/widge",
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
            ],
            "identity check failed",
        ),
        (
            vec![
                "--certificate-identity",
                DEFAULT_IDENTITY,
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
            "issuer check failed",
        ),
    ];
    for (args, expected) in bad {
        let out = verify(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.contains(expected), "{args:?}: {text}");
    }
    // Promotion to another repository carries every signature and attestation; they verify there.
    // Pruning the source keeps them on the release it keeps.
    let stable = world.promote(&image, true);
    let out = world
        .sign()
        .env_remove("GITHUB_ACTIONS")
        .args(["verify", "image", &stable, "--github-repo", "acme/widget"])
        .output()
        .unwrap();
    assert_eq!(ok(out).lines().filter(|l| l.starts_with("verified")).count(), 5);
    world.judge_layouts("acme/widget-stable", entries);
    ok(world
        .sign()
        .env_remove("GITHUB_ACTIONS")
        .args(["verify", "attestation", &stable, "--type", "slsaprovenance1", "--github-repo", "acme/widget"])
        .output()
        .unwrap());
    assert_eq!(
        ok(verify(&["--github-repo", "acme/widget"])).lines().filter(|l| l.starts_with("verified")).count(),
        5
    );

    // A foreign trusted root: another instance's CA and log.
    let other = MockSigstore::start("foreign_root").unwrap();
    let out = world
        .sign()
        .env_remove("GITHUB_ACTIONS")
        .env("RELKIT_TRUSTED_ROOT", &other.trusted_root)
        .args(["verify", "image", &image, "--github-repo", "acme/widget"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("check failed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn keyless_blobs_and_refused_tokens_and_certificates() {
    let Some(world) = World::start("keyless_blobs_and_refused_tokens") else { return };
    let file = world.dir.path().join("app-linux-amd64.tar.gz");
    std::fs::write(&file, b"release binary").unwrap();
    ok(world.sign().args(["blob", "app-linux-amd64.tar.gz"]).output().unwrap());
    let bundle = world.dir.path().join("app-linux-amd64.tar.gz.sigstore.json");
    let path = file.display().to_string();
    world.python_accepts(&bundle, &path);
    judged(
        js_verify(
            &world.sigstore.trusted_root,
            &bundle,
            &path,
            JsSigner::Identity { identity: DEFAULT_IDENTITY, issuer: GITHUB_ISSUER },
        ),
        "@sigstore/verify",
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(v["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json");
    assert!(
        v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0].is_object(),
        "the signing config's TSA was used"
    );

    // An expired token is refused before any request to Fulcio.
    world.sigstore.set_claims(&json!({"exp": 1_000_000}));
    let out = world.sign().args(["blob", "app-linux-amd64.tar.gz"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expired"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A certificate that expired before its signature was logged does not verify, and sign says so.
    world.sigstore.set_claims(&json!({}));
    world.sigstore.set_fulcio_clock_offset(-3 * 3600);
    let out = world.sign().args(["blob", "app-linux-amd64.tar.gz"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not verify") && stderr.contains("check failed"), "{stderr}");
}

/// `--github-attestations` POSTs each bundle to GitHub's attestations API (a local fake answering
/// as GitHub documents), with the job token, and the report says `gh attestation verify` reads them
/// from GitHub.
#[test]
fn attestations_also_go_to_githubs_api() {
    let Some(world) = World::start("attestations_also_go_to_githubs_api") else { return };
    let image = world.index4("acme/widget", "github-api");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let github = rt.block_on(wiremock::MockServer::start());
    rt.block_on(
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path("/repos/acme/widget/attestations"))
            .and(wiremock::matchers::header("authorization", "Bearer job-token-123"))
            .respond_with(wiremock::ResponseTemplate::new(201).set_body_json(json!({"id": 42})))
            .expect(5)
            .mount(&github),
    );
    let out = world
        .sign()
        .env("GITHUB_API_URL", github.uri())
        .env("GITHUB_TOKEN", "job-token-123")
        .args(["attest", &image, "--provenance", "github", "--github-attestations", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&ok(out)).unwrap();
    let requests = rt.block_on(github.received_requests()).unwrap();
    for request in &requests {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["bundle"]["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json");
        assert!(body["bundle"]["dsseEnvelope"]["payload"].is_string());
    }
    for entry in report["images"].as_array().unwrap() {
        assert_eq!(entry["github_attestations"], true);
        let gh = entry["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c.as_str().unwrap().starts_with("gh "))
            .unwrap();
        assert!(!gh.as_str().unwrap().contains("--bundle-from-oci"), "{gh}");
    }
    rt.block_on(github.verify());
}

/// A registry with the OCI 1.1 referrers API (the test registry behind a proxy that serves the API
/// as the distribution spec defines it): signatures and provenance go in as plain referrers, no
/// fallback tag is written, and everything is found again through the API: by `sign verify`, by
/// sigstore-rs (oci-client's API path), and after promotion to another repository.
#[test]
fn keyless_signing_on_a_registry_with_the_referrers_api() {
    use relkit_testkit::proxy::{Proxy, ProxyConfig};
    let Some(world) = World::start("keyless_signing_on_a_registry_with_the_referrers_api") else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let proxy = rt.block_on(Proxy::start(ProxyConfig {
        upstream: world.registry.port,
        referrers_api: true,
        ..Default::default()
    }));
    let host = format!("127.0.0.1:{}", proxy.port);
    let image = world.index4("acme/api", "api").replace(&world.registry.host, &host);
    let step = |args: &[&str]| {
        let mut cmd = world.sign();
        cmd.env("RELKIT_INSECURE_REGISTRIES", &host).args(args);
        ok(cmd.output().unwrap())
    };

    let signed: Value = serde_json::from_str(&step(&["image", &image, "--json"])).unwrap();
    let entries = signed["images"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    step(&["attest", &image, "--provenance", "github", "--json"]);
    let tags = world.registry.tags("acme/api");
    assert_eq!(tags, ["v1.0.0"], "no fallback tags where the API exists");
    let listed = proxy.seen().iter().filter(|s| s.method == "GET" && s.path.contains("/referrers/")).count();
    assert!(listed > 0, "the API was used");

    let verified = step(&["verify", "image", &image, "--github-repo", "acme/widget"]);
    assert_eq!(verified.lines().filter(|l| l.starts_with("verified")).count(), 5, "{verified}");
    step(&["verify", "attestation", &image, "--type", "slsaprovenance1", "--github-repo", "acme/widget"]);
    let judge = CosignJudge::find("referrers API (cosign layouts)");
    let signer = JsSigner::Identity { identity: DEFAULT_IDENTITY, issuer: GITHUB_ISSUER };
    for entry in entries {
        let pinned = format!("{host}/acme/api@{}", entry["digest"].as_str().unwrap());
        if let Some(judge) = &judge {
            assert_eq!(
                judge.verified_schemes(&world.sigstore.trusted_root, &pinned, signer, &[]),
                ["referrer"]
            );
        }
    }

    let stable = world.promote(&image, false);
    assert!(stable.starts_with(&host), "{stable}");
    let verified = step(&["verify", "image", &stable, "--github-repo", "acme/widget"]);
    assert_eq!(verified.lines().filter(|l| l.starts_with("verified")).count(), 5, "{verified}");
    step(&["verify", "attestation", &stable, "--type", "slsaprovenance1", "--github-repo", "acme/widget"]);
    assert_eq!(world.registry.tags("acme/widget-stable").len(), 0, "promotion by digest writes no tags here");
}

/// A private instance whose signing config lists only a Rekor v2 log: blob signatures and image
/// signatures (DSSE, logged as hashedrekord over the PAE digest) carry a 0.0.2 entry with an
/// inclusion proof and signed checkpoint and an RFC 3161 timestamp as the time source; they pass
/// sigstore-python and `sign verify`.
#[test]
fn keyless_signing_with_rekor_v2() {
    let Some(world) = World::start("keyless_signing_with_rekor_v2") else { return };
    let v2 = |args: &[&str]| {
        let mut cmd = world.sign();
        cmd.env("RELKIT_SIGNING_CONFIG", &world.sigstore.signing_config_rekor_v2).args(args);
        ok(cmd.output().unwrap())
    };
    let file = world.dir.path().join("app.tar.gz");
    std::fs::write(&file, b"release binary").unwrap();
    v2(&["blob", "app.tar.gz"]);
    let bundle = world.dir.path().join("app.tar.gz.sigstore.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let entry = &v["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["kindVersion"], json!({"kind": "hashedrekord", "version": "0.0.2"}), "{v}");
    assert!(
        entry["inclusionPromise"].is_null() && entry["inclusionProof"]["checkpoint"]["envelope"].is_string()
    );
    assert!(v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0].is_object());
    let logged = world.sigstore.requests().iter().filter(|r| r["path"] == "/api/v2/log/entries").count();
    assert_eq!(logged, 1, "the v2 log was used");
    world.python_accepts(&bundle, &file.display().to_string());
    v2(&["verify", "blob", "app.tar.gz", "--github-repo", "acme/widget"]);

    let image = world.index("acme/v2", &["amd64", "arm64"], "rekor-v2");
    let report: Value = serde_json::from_str(&v2(&["image", &image, "--json"])).unwrap();
    for entry in report["images"].as_array().unwrap() {
        let referrer = entry["locations"][0]["digest"].as_str().unwrap();
        let bundle = world.referrer_bundle("acme/v2", referrer);
        world.python_accepts(&bundle, entry["digest"].as_str().unwrap());
    }
    let verified = v2(&["verify", "image", &image, "--github-repo", "acme/widget"]);
    assert_eq!(verified.lines().filter(|l| l.starts_with("verified")).count(), 3, "{verified}");
}
