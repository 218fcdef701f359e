//! Proves the Sigstore harness: sigstore-js signs against the mock with a token from the mock's
//! OIDC endpoint, and both judges accept what it produced and reject what they must.

use std::path::Path;
use std::process::Output;

use relkit_testkit::sigstore::{
    DEFAULT_IDENTITY, GITHUB_ISSUER, JsSign, JsSigner, MockSigstore, in_toto_validate, js_verify,
    require_judges, sigstore_python_verify_identity, unsigned_jwt,
};
use relkit_testkit::tools::sha256_digest;
use serde_json::{Value, json};

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn assert_ok(what: &str, out: &Output) {
    assert!(out.status.success(), "{what} failed: {}", text(out));
}

fn assert_rejected(what: &str, out: &Output, reason: &str) {
    assert_eq!(out.status.code(), Some(1), "{what} should be rejected: {}", text(out));
    assert!(text(out).contains(reason), "{what}: expected '{reason}' in: {}", text(out));
}

/// Runs the judges at once: each is a separate process, mostly waiting on its interpreter start.
fn in_parallel<const N: usize>(jobs: [&(dyn Fn() -> Output + Sync); N]) -> [Output; N] {
    std::thread::scope(|scope| jobs.map(|job| scope.spawn(job)).map(|handle| handle.join().unwrap()))
}

fn start(test: &str) -> Option<MockSigstore> {
    if !require_judges(test) {
        return None;
    }
    MockSigstore::start(test)
}

fn js_identity(mock: &MockSigstore, bundle: &Path, input: &str, identity: &str) -> Output {
    js_verify(&mock.trusted_root, bundle, input, JsSigner::Identity { identity, issuer: GITHUB_ISSUER })
}

fn python(mock: &MockSigstore, bundle: &Path, input: &str, identity: &str, issuer: &str) -> Output {
    sigstore_python_verify_identity(&mock.client_trust_config, bundle, identity, issuer, input)
}

#[test]
fn blob_signed_against_the_mock_passes_both_judges_and_tampering_fails() {
    let Some(mock) = start("blob_signed_against_the_mock_passes_both_judges_and_tampering_fails") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let artifact = work.path().join("app.tar.gz");
    std::fs::write(&artifact, b"release artifact\n").unwrap();
    let bundle = work.path().join("app.tar.gz.sigstore.json");
    let signed = mock.js_sign(&artifact, &bundle, JsSign { tsa: true, ..JsSign::default() });
    assert_ok("sign.js", &signed);
    // What a secrets test does: the issued token and the request token appear in no output.
    let [token] = mock.issued_tokens().try_into().unwrap();
    for secret in [token.as_str(), mock.oidc_request_token.as_str()] {
        assert!(
            !text(&signed).contains(secret) && !std::fs::read_to_string(&bundle).unwrap().contains(secret)
        );
    }

    // The signer fetched its token the way a runner does.
    let token_request = mock.requests().into_iter().find(|r| r["path"] == "/oidc/token").unwrap();
    assert_eq!(token_request["audience"], "sigstore");
    assert_eq!(token_request["authorized"], true);
    let paths: Vec<Value> = mock.requests().iter().map(|r| r["path"].clone()).collect();
    assert_eq!(paths, ["/oidc/token", "/api/v2/signingCert", "/api/v1/log/entries", "/api/v1/timestamp"]);
    // The logged entry can be read back, and is the one in the bundle.
    let uuid = mock.requests()[2]["uuid"].as_str().unwrap().to_string();
    let entry = mock.rekor_entry(&uuid).expect("GET by uuid");
    let bundle_json: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(
        entry[&uuid]["body"],
        bundle_json["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
    );
    assert!(mock.rekor_entry(&"0".repeat(64)).is_none());

    let file = artifact.to_str().unwrap();
    let tampered = work.path().join("tampered.tar.gz");
    std::fs::write(&tampered, b"release artifact, modified\n").unwrap();
    let tampered = tampered.to_str().unwrap();
    // A real Merkle path (three filler leaves come first), and one hash of it corrupted.
    let proof = &bundle_json["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
    assert_eq!((proof["logIndex"].as_str(), proof["treeSize"].as_str()), (Some("3"), Some("4")));
    assert_eq!(proof["hashes"].as_array().unwrap().len(), 2);
    let mut corrupted = bundle_json.clone();
    let first = &mut corrupted["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0];
    *first = json!(first.as_str().unwrap().replacen(|c: char| c != 'A', "A", 1));
    let bad_proof = work.path().join("bad-proof.sigstore.json");
    std::fs::write(&bad_proof, corrupted.to_string()).unwrap();
    let prefix = "https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v1.0";
    let evil = "https://github.com/acme/widget-evil/.github/workflows/release.yml@refs/tags/v1.0.0";
    let [
        ok_py,
        ok_js,
        prefix_py,
        prefix_js,
        evil_js,
        issuer_js,
        tampered_py,
        tampered_js,
        proof_py,
        proof_js,
    ] = in_parallel([
        &|| python(&mock, &bundle, file, DEFAULT_IDENTITY, GITHUB_ISSUER),
        &|| js_identity(&mock, &bundle, file, DEFAULT_IDENTITY),
        &|| python(&mock, &bundle, file, prefix, GITHUB_ISSUER),
        &|| js_identity(&mock, &bundle, file, prefix),
        &|| js_identity(&mock, &bundle, file, evil),
        &|| {
            js_verify(
                &mock.trusted_root,
                &bundle,
                file,
                JsSigner::Identity { identity: DEFAULT_IDENTITY, issuer: "https://accounts.google.com" },
            )
        },
        &|| python(&mock, &bundle, tampered, DEFAULT_IDENTITY, GITHUB_ISSUER),
        &|| js_identity(&mock, &bundle, tampered, DEFAULT_IDENTITY),
        &|| python(&mock, &bad_proof, file, DEFAULT_IDENTITY, GITHUB_ISSUER),
        &|| js_identity(&mock, &bad_proof, file, DEFAULT_IDENTITY),
    ]);
    assert_ok("sigstore-python", &ok_py);
    assert_ok("@sigstore/verify", &ok_js);
    let verified: Value = serde_json::from_slice(&ok_js.stdout).unwrap();
    assert_eq!(verified["certificate"]["sourceRepositoryURI"], "https://github.com/acme/widget");
    // A prefix of the identity (what an unanchored regular expression would accept), another
    // repository, another issuer, another artifact.
    assert_rejected("sigstore-python, identity prefix", &prefix_py, "SANs do not match");
    assert_rejected("@sigstore/verify, identity prefix", &prefix_js, "certificate identity error");
    assert_rejected("@sigstore/verify, other repository", &evil_js, "certificate identity error");
    assert_rejected(
        "@sigstore/verify, wrong issuer",
        &issuer_js,
        "expected issuer=https://accounts.google.com",
    );
    assert_rejected("sigstore-python, tampered", &tampered_py, "digest mismatch");
    assert_rejected(
        "@sigstore/verify, tampered",
        &tampered_js,
        "message digest in the bundle does not match",
    );
    assert_rejected("sigstore-python, corrupted inclusion proof", &proof_py, "calculated");
    assert_rejected("@sigstore/verify, corrupted inclusion proof", &proof_js, "TLOG_INCLUSION_PROOF_ERROR");
}

#[test]
fn in_toto_statement_signed_as_dsse_passes_all_judges_for_its_subject_digest_only() {
    let Some(mock) = start("in_toto_statement_signed_as_dsse_passes_all_judges_for_its_subject_digest_only")
    else {
        return;
    };
    // A reusable workflow: the certificate names the called workflow (Build Signer URI, SAN)
    // and the caller (Build Config URI).
    let caller = "acme/widget/.github/workflows/release.yml@refs/tags/v1.0.0";
    let called = "acme/shared/.github/workflows/sign.yml@refs/heads/main";
    mock.set_claims(&json!({ "job_workflow_ref": called, "environment": "production" }));
    let identity = format!("https://github.com/{called}");

    let work = tempfile::tempdir().unwrap();
    let digest = sha256_digest(b"image manifest");
    let hex = digest.strip_prefix("sha256:").unwrap();
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "registry.example/acme/widget", "digest": { "sha256": hex } }],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": { "buildDefinition": { "buildType": "https://actions.github.io/buildtypes/workflow/v1" } },
    });
    assert_ok("in-toto-attestation", &in_toto_validate(&statement.to_string()));
    let statement_file = work.path().join("statement.json");
    std::fs::write(&statement_file, statement.to_string()).unwrap();
    let bundle = work.path().join("statement.sigstore.json");
    assert_ok(
        "sign.js --in-toto",
        &mock.js_sign(&statement_file, &bundle, JsSign { in_toto: true, ..JsSign::default() }),
    );

    let caller_identity = format!("https://github.com/{caller}");
    let other = sha256_digest(b"another manifest");
    let [ok_py, ok_js, caller_py, caller_js, other_py, other_js] = in_parallel([
        &|| python(&mock, &bundle, &digest, &identity, GITHUB_ISSUER),
        &|| js_identity(&mock, &bundle, &digest, &identity),
        &|| python(&mock, &bundle, &digest, &caller_identity, GITHUB_ISSUER),
        &|| js_identity(&mock, &bundle, &digest, &caller_identity),
        &|| python(&mock, &bundle, &other, &identity, GITHUB_ISSUER),
        &|| js_identity(&mock, &bundle, &other, &identity),
    ]);
    assert_ok("sigstore-python", &ok_py);
    assert_ok("@sigstore/verify", &ok_js);
    let certificate = serde_json::from_slice::<Value>(&ok_js.stdout).unwrap()["certificate"].clone();
    assert_eq!(certificate["buildSignerURI"], identity);
    assert_eq!(certificate["buildConfigURI"], format!("https://github.com/{caller}"));
    assert_eq!(certificate["deploymentEnvironment"], "production");
    // The caller's identity is not the signer's; another digest is not a subject.
    assert_rejected("sigstore-python, caller identity", &caller_py, "SANs do not match");
    assert_rejected("@sigstore/verify, caller identity", &caller_js, "certificate identity error");
    assert_rejected("sigstore-python, other digest", &other_py, "has no subject for digest");
    assert_rejected("@sigstore/verify, other digest", &other_js, "not a subject");

    // in-toto-attestation's own rules: a subject needs a digest.
    let mut no_digest = statement.clone();
    no_digest["subject"][0]["digest"] = json!({});
    assert_rejected("in-toto-attestation, no digest", &in_toto_validate(&no_digest.to_string()), "digest");
}

#[test]
fn oidc_endpoint_requires_the_request_token_and_serves_the_claims_tests_set() {
    let Some(mock) = start("oidc_endpoint_requires_the_request_token_and_serves_the_claims_tests_set") else {
        return;
    };
    let claims = |jwt: &str| -> Value {
        use base64::Engine as _;
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap()
    };
    let token = claims(&mock.id_token("sigstore"));
    assert_eq!(token["iss"], GITHUB_ISSUER);
    assert_eq!(token["aud"], "sigstore");
    assert_eq!(token["sub"], "repo:acme/widget:ref:refs/tags/v1.0.0");
    assert_eq!(
        format!("https://github.com/{}", token["job_workflow_ref"].as_str().unwrap()),
        DEFAULT_IDENTITY
    );
    assert!(token["exp"].as_i64().unwrap() > token["iat"].as_i64().unwrap());

    mock.set_claims(&json!({ "repository": "acme/other", "exp": 1_000_000, "run_attempt": null }));
    let token = claims(&mock.id_token("sigstore"));
    assert_eq!(token["repository"], "acme/other");
    assert_eq!(token["exp"], 1_000_000);
    assert!(token.get("run_attempt").is_none());

    let request = mock.requests().into_iter().rfind(|r| r["path"] == "/oidc/token").unwrap();
    assert_eq!(request["bearer"], mock.oidc_request_token.as_str());
    assert_eq!(mock.issued_tokens().len(), 2);
    assert_eq!(claims(&mock.issued_tokens()[1])["repository"], "acme/other");

    // Without the bearer token: 401, and the log says so.
    let out = std::process::Command::new("node")
        .args(["-e", "fetch(process.argv[1]).then(r => process.exit(r.status === 401 ? 0 : 1))"])
        .arg(format!("{}&audience=sigstore", mock.oidc_url))
        .output()
        .unwrap();
    assert_ok("unauthenticated token request answered 401", &out);
    assert_eq!(mock.requests().last().unwrap()["authorized"], false);

    // The helper tokens have the same shape.
    let jwt = unsigned_jwt(&json!({ "iss": GITHUB_ISSUER, "sub": "x", "exp": 1 }));
    assert_eq!(jwt.split('.').count(), 3);
    assert_eq!(claims(&jwt)["sub"], "x");
}

#[test]
fn certificate_issued_in_the_past_is_expired_for_both_judges() {
    let Some(mock) = start("certificate_issued_in_the_past_is_expired_for_both_judges") else {
        return;
    };
    // Fulcio's clock an hour back: the 10-minute certificate ended before the log entry and
    // the timestamp were made.
    mock.set_fulcio_clock_offset(-3600);
    let work = tempfile::tempdir().unwrap();
    let artifact = work.path().join("app.tar.gz");
    std::fs::write(&artifact, b"release artifact\n").unwrap();
    let bundle = work.path().join("app.tar.gz.sigstore.json");
    assert_ok("sign.js", &mock.js_sign(&artifact, &bundle, JsSign { tsa: true, ..JsSign::default() }));
    let file = artifact.to_str().unwrap();
    let [py, js] = in_parallel([&|| python(&mock, &bundle, file, DEFAULT_IDENTITY, GITHUB_ISSUER), &|| {
        js_identity(&mock, &bundle, file, DEFAULT_IDENTITY)
    }]);
    assert_rejected("sigstore-python, expired certificate", &py, "not valid at validation time");
    assert_rejected("@sigstore/verify, expired certificate", &js, "CERTIFICATE_ERROR");
}

#[test]
fn key_signed_bundles_pass_the_js_judge_with_that_key_only() {
    let test = "key_signed_bundles_pass_the_js_judge_with_that_key_only";
    if !relkit_testkit::tools::require_tool(test, "openssl") {
        return;
    }
    let Some(mock) = MockSigstore::start(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| relkit_testkit::tools::openssl(work.path(), args);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem"]);
    openssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "key.pub"]);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.pem"]);
    openssl(&["pkey", "-in", "other.pem", "-pubout", "-out", "other.pub"]);
    let (key, public, other) =
        (work.path().join("key.pem"), work.path().join("key.pub"), work.path().join("other.pub"));
    let artifact = work.path().join("app.tar.gz");
    std::fs::write(&artifact, b"release artifact\n").unwrap();
    let file = artifact.to_str().unwrap();
    let logged = work.path().join("logged.sigstore.json");
    let unlogged = work.path().join("unlogged.sigstore.json");
    assert_ok(
        "sign.js --key",
        &mock.js_sign(&artifact, &logged, JsSign { key: Some(&key), ..JsSign::default() }),
    );
    assert_ok(
        "sign.js --key --no-tlog",
        &mock.js_sign(&artifact, &unlogged, JsSign { key: Some(&key), no_tlog: true, ..JsSign::default() }),
    );
    // Fulcio was never asked; Rekor once.
    let paths: Vec<Value> = mock.requests().iter().map(|r| r["path"].clone()).collect();
    assert_eq!(paths, ["/api/v1/log/entries"]);

    let [logged_ok, logged_other, unlogged_strict, unlogged_ok] = in_parallel([
        &|| js_verify(&mock.trusted_root, &logged, file, JsSigner::Key(&public)),
        &|| js_verify(&mock.trusted_root, &logged, file, JsSigner::Key(&other)),
        &|| js_verify(&mock.trusted_root, &unlogged, file, JsSigner::Key(&public)),
        &|| js_verify(&mock.trusted_root, &unlogged, file, JsSigner::KeyWithoutTlog(&public)),
    ]);
    assert_ok("@sigstore/verify --key", &logged_ok);
    assert_rejected("@sigstore/verify, other key", &logged_other, "signature verification failed");
    assert_rejected("@sigstore/verify, no tlog entry", &unlogged_strict, "expected 1 timestamps, got 0");
    assert_ok("@sigstore/verify --key --no-tlog", &unlogged_ok);
}
