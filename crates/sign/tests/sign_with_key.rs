//! `sign` with a cosign key pair against a real registry (docker-registry on loopback, judged by
//! skopeo) and an OCI layout: every platform of an index signed in one call, both storage
//! schemes, idempotent re-runs, concurrent signers, tampering, blobs and checksum files.

use std::path::{Path, PathBuf};
use std::process::Command;

use relkit_registry::LayoutRegistry;
use relkit_registry::image::{ImageSpec, write_index};
use relkit_testkit::registry::TestRegistry;
use relkit_testkit::sigstore::{CosignJudge, JsSigner};
use relkit_testkit::tools::ok;
use serde_json::Value;

fn sign_cmd(dir: &Path, registry: Option<&TestRegistry>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sign"));
    cmd.current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("SIGSTORE_ID_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env("COSIGN_PASSWORD", "test-password")
        .env("HOME", dir);
    if let Some(r) = registry {
        cmd.env("RELKIT_INSECURE_REGISTRIES", &r.host);
    }
    cmd
}

/// `sign image IMAGE --key KEY --tlog-upload=false --storage STORAGE` on the registry.
fn sign_with_key(dir: &Path, registry: &TestRegistry, image: &str, key: &Path, storage: &str) -> Command {
    let mut cmd = sign_cmd(dir, Some(registry));
    cmd.args(["image", image, "--key"]).arg(key).args(["--tlog-upload=false", "--storage", storage]);
    cmd
}

fn key_pair(dir: &Path, prefix: &str) -> (PathBuf, PathBuf) {
    ok(sign_cmd(dir, None).args(["generate-key-pair", "--output-key-prefix", prefix]).output().unwrap());
    (dir.join(format!("{prefix}.key")), dir.join(format!("{prefix}.pub")))
}

/// A 4-platform index in an OCI layout, tagged `tag`; returns the layout path.
fn index_layout(dir: &Path, tag: &str, seed: &str) -> PathBuf {
    let layout = dir.join("layout");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let registry = LayoutRegistry::new(&layout);
        let spec = ImageSpec { files: vec![("app".into(), seed.as_bytes().to_vec())], ..Default::default() };
        let images: Vec<(&str, ImageSpec)> =
            ["amd64", "arm64", "arm", "ppc64le"].into_iter().map(|a| (a, spec.clone())).collect();
        write_index(&registry, &images, Some(tag)).await.unwrap();
    });
    layout
}

/// The storage schemes in which sigstore-rs's cosign module finds `public`'s signature of
/// `image` (`HOST/REPO@sha256:…`), with no Sigstore trust at all (key signatures kept out of any
/// log); `None` when the judge is not built (outside CI).
fn judge_key(dir: &Path, image: &str, public: &Path, annotations: &[&str]) -> Option<Vec<String>> {
    let judge = CosignJudge::find("key signing (cosign layouts)")?;
    let no_trust = dir.join("no-trusted-root.json");
    std::fs::write(&no_trust, "{}").unwrap();
    Some(judge.verified_schemes(&no_trust, image, JsSigner::Key(public), annotations))
}

fn report(stdout: &str) -> Vec<Value> {
    // The report is notes-gen's verification input as it is (no duplicate keys either).
    serde_json::from_str::<relkit_core::verification::VerificationInput>(stdout)
        .unwrap_or_else(|e| panic!("the report is not notes-gen's verification input: {e}\n{stdout}"));
    let v: Value = serde_json::from_str(stdout).unwrap();
    v["images"].as_array().unwrap().clone()
}

#[test]
fn key_signing_covers_every_platform_in_both_schemes_and_is_idempotent() {
    let Some(registry) = TestRegistry::start("key_signing_covers_every_platform", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let layout = index_layout(dir.path(), "v1", "one");
    registry.push_layout(&layout, "v1", "acme/app");
    let (key, public) = key_pair(dir.path(), "cosign");
    let image = format!("{}/acme/app:v1", registry.host);

    let first = report(&ok(sign_with_key(dir.path(), &registry, &image, &key, "both")
        .arg("--json")
        .output()
        .unwrap()));
    assert_eq!(first.len(), 5, "the index and its four platforms");
    let index_digest = registry.manifest_digest("acme/app:v1").unwrap();
    assert_eq!(first[0]["digest"], index_digest.as_str());
    let platforms: Vec<&str> = first[1..].iter().map(|e| e["platform"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/arm", "linux/ppc64le"]);
    let tags = registry.tags("acme/app");
    for entry in &first {
        assert_eq!(entry["status"], "signed");
        let hex = entry["digest"].as_str().unwrap().trim_start_matches("sha256:");
        assert!(tags.contains(&format!("sha256-{hex}.sig")), "legacy .sig for {hex}: {tags:?}");
        assert!(tags.contains(&format!("sha256-{hex}")), "referrers fallback index for {hex}: {tags:?}");
        assert_eq!(entry["locations"].as_array().unwrap().len(), 2);
        assert!(entry["commands"][0].as_str().unwrap().starts_with("cosign verify --key "), "{entry}");
    }
    // The legacy manifest is what cosign reads: one simple-signing layer with its signature.
    let hex = index_digest.trim_start_matches("sha256:");
    let sig: Value =
        serde_json::from_slice(&registry.inspect_raw(&format!("acme/app:sha256-{hex}.sig")).unwrap())
            .unwrap();
    assert_eq!(sig["layers"][0]["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json");
    assert!(sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"].is_string());

    let again = report(&ok(sign_with_key(dir.path(), &registry, &image, &key, "both")
        .arg("--json")
        .output()
        .unwrap()));
    assert!(again.iter().all(|e| e["status"] == "already signed"), "{again:?}");
    assert_eq!(registry.tags("acme/app"), tags, "a re-run writes nothing");

    let verified = ok(sign_cmd(dir.path(), Some(&registry))
        .args(["verify", "image", &image, "--key", public.to_str().unwrap(), "--insecure-ignore-tlog"])
        .output()
        .unwrap());
    assert_eq!(verified.lines().filter(|l| l.starts_with("verified ")).count(), 5, "{verified}");

    let (_, other_public) = key_pair(dir.path(), "other");
    let out = sign_cmd(dir.path(), Some(&registry))
        .args(["verify", "image", &image, "--key", other_public.to_str().unwrap(), "--insecure-ignore-tlog"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("FAILED")).count(), 5, "{text}");
    assert!(text.contains("signature"), "the failed check is named: {text}");

    // sigstore-rs reads the legacy layout of every digest; it needs a log entry for a v3 bundle,
    // so the unlogged referrer is not one it accepts (as cosign without --insecure-ignore-tlog).
    for entry in &first {
        let pinned = format!("{}/acme/app@{}", registry.host, entry["digest"].as_str().unwrap());
        if let Some(schemes) = judge_key(dir.path(), &pinned, &public, &[]) {
            assert_eq!(schemes, ["sig-tag"], "{pinned}");
            assert_eq!(judge_key(dir.path(), &pinned, &other_public, &[]).unwrap(), Vec::<String>::new());
        }
    }

    // Without --insecure-ignore-tlog, a key signature that is in no log is refused.
    let out = sign_cmd(dir.path(), Some(&registry))
        .args(["verify", "image", &image, "--key", public.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
}

/// cosign's `-a KEY=VALUE`: signed into the simple-signing payload and the v3 statement's subject,
/// required by `verify -a`, part of what makes a signature "the same" on a re-run, and read by
/// sigstore-rs from the legacy layout.
#[test]
fn annotations_are_signed_and_required_on_verify() {
    let Some(registry) = TestRegistry::start("annotations_are_signed", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let layout = index_layout(dir.path(), "v1", "annotated");
    registry.push_layout(&layout, "v1", "acme/annotated");
    let (key, public) = key_pair(dir.path(), "cosign");
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    let image = format!("{}/acme/annotated:v1", registry.host);
    let sign = |extra: &[&str]| {
        report(&ok(sign_with_key(dir.path(), &registry, &image, Path::new(key), "both")
            .arg("--json")
            .args(extra)
            .output()
            .unwrap()))
    };
    let first = sign(&["-a", "git_sha=abc123", "--annotation", "run=7"]);
    assert!(first.iter().all(|e| e["status"] == "signed"));
    assert!(sign(&["-a", "run=7"]).iter().all(|e| e["status"] == "already signed"), "a subset is the same");
    assert!(sign(&["-a", "run=8"]).iter().all(|e| e["status"] == "signed"), "other annotations sign again");

    let verify = |annotations: &[&str]| {
        let mut cmd = sign_cmd(dir.path(), Some(&registry));
        cmd.args(["verify", "image", &image, "--key", public, "--insecure-ignore-tlog"]);
        for a in annotations {
            cmd.args(["-a", a]);
        }
        cmd.output().unwrap()
    };
    let good = ok(verify(&["git_sha=abc123", "run=7"]));
    assert_eq!(good.lines().filter(|l| l.starts_with("verified ")).count(), 5, "{good}");
    let out = verify(&["git_sha=def456"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("annotation check failed: the signature does not carry git_sha=def456"), "{text}");

    for entry in &first {
        let pinned = format!("{}/acme/annotated@{}", registry.host, entry["digest"].as_str().unwrap());
        if let Some(schemes) = judge_key(dir.path(), &pinned, Path::new(public), &["git_sha=abc123"]) {
            assert_eq!(schemes, ["sig-tag"], "{pinned}");
            assert!(
                judge_key(dir.path(), &pinned, Path::new(public), &["git_sha=def456"]).unwrap().is_empty()
            );
        }
    }

    let out = sign_cmd(dir.path(), Some(&registry))
        .args(["image", &image, "--key", key, "-a", "novalue"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not KEY=VALUE"));
}

#[test]
fn a_signature_moved_to_another_digest_is_refused() {
    let Some(registry) = TestRegistry::start("a_signature_moved_to_another_digest_is_refused", None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = index_layout(dir.path(), "v1", "two");
    registry.push_layout(&layout, "v1", "acme/moved");
    let (key, public) = key_pair(dir.path(), "cosign");
    let image = format!("{}/acme/moved:v1", registry.host);
    let entries = report(&ok(sign_with_key(dir.path(), &registry, &image, &key, "legacy")
        .arg("--json")
        .output()
        .unwrap()));
    // Put platform 1's signature manifest on platform 2's tag.
    let hex = |i: usize| entries[i]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let src = format!("docker://{}/acme/moved:sha256-{}.sig", registry.host, hex(1));
    let dst = format!("docker://{}/acme/moved:sha256-{}.sig", registry.host, hex(2));
    let out = registry.skopeo(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &src,
        &dst,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target = format!("{}/acme/moved@sha256:{}", registry.host, hex(2));
    let out = sign_cmd(dir.path(), Some(&registry))
        .args(["verify", "image", &target, "--key", public.to_str().unwrap(), "--insecure-ignore-tlog"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("digest check failed"), "{text}");
}

#[test]
fn concurrent_signers_both_land_in_the_legacy_manifest() {
    let Some(registry) = TestRegistry::start("concurrent_signers_both_land", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let layout = index_layout(dir.path(), "v1", "three");
    let (key_a, pub_a) = key_pair(dir.path(), "a");
    let (key_b, pub_b) = key_pair(dir.path(), "b");
    for round in 0..4 {
        let repo = format!("acme/race{round}");
        registry.push_layout(&layout, "v1", &repo);
        let image = format!("{}/{repo}:v1", registry.host);
        let spawn = |key: &PathBuf| {
            sign_with_key(dir.path(), &registry, &image, key, "legacy")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(&key_a), spawn(&key_b));
        ok(a.wait_with_output().unwrap());
        ok(b.wait_with_output().unwrap());
        let index = registry.manifest_digest(&format!("{repo}:v1")).unwrap();
        for public in [&pub_a, &pub_b] {
            let pinned = format!("{}/{repo}@{index}", registry.host);
            if let Some(schemes) = judge_key(dir.path(), &pinned, public, &[]) {
                assert_eq!(schemes, ["sig-tag"], "both signers' layers are in the .sig manifest");
            }
            ok(sign_cmd(dir.path(), Some(&registry))
                .args([
                    "verify",
                    "image",
                    &image,
                    "--key",
                    public.to_str().unwrap(),
                    "--insecure-ignore-tlog",
                ])
                .output()
                .unwrap());
        }
    }
}

#[test]
fn layouts_blobs_and_checksum_files() {
    if !relkit_testkit::tools::require_tool("layouts_blobs_and_checksum_files", "sha256sum") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = index_layout(dir.path(), "v1", "four");
    let (key, public) = key_pair(dir.path(), "cosign");
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    let image = format!("oci:{}:v1", layout.display());
    let entries = report(&ok(sign_cmd(dir.path(), None)
        .args(["image", &image, "--key", key, "--tlog-upload=false", "--json"])
        .output()
        .unwrap()));
    assert_eq!(entries.len(), 5);
    assert!(
        entries[0]["commands"][0].as_str().unwrap().contains(&format!("--key {public}")),
        "{}",
        entries[0]
    );
    ok(sign_cmd(dir.path(), None)
        .args(["verify", "image", &image, "--key", public, "--insecure-ignore-tlog"])
        .output()
        .unwrap());
    // A key without its public half next to it: the commands name cosign.pub, and say so.
    let lone = dir.path().join("release-signing.key");
    std::fs::copy(key, &lone).unwrap();
    let out = sign_cmd(dir.path(), None)
        .args(["image", &image, "--key", lone.to_str().unwrap(), "--tlog-upload=false", "--force", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let entries = report(&ok(out));
    assert!(entries[0]["commands"][0].as_str().unwrap().contains("--key cosign.pub"), "{}", entries[0]);
    assert!(stderr.contains("publish the public key under that name"), "{stderr}");

    std::fs::write(dir.path().join("app-linux-amd64.tar.gz"), b"binary one").unwrap();
    std::fs::write(dir.path().join("app-linux-arm64.tar.gz"), b"binary two").unwrap();
    ok(sign_cmd(dir.path(), None)
        .args([
            "checksums",
            "app-linux-amd64.tar.gz",
            "app-linux-arm64.tar.gz",
            "--key",
            key,
            "--tlog-upload=false",
        ])
        .output()
        .unwrap());
    let check =
        Command::new("sha256sum").args(["-c", "SHA256SUMS"]).current_dir(dir.path()).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    ok(sign_cmd(dir.path(), None)
        .args(["verify", "blob", "SHA256SUMS", "--key", public, "--insecure-ignore-tlog"])
        .output()
        .unwrap());
    std::fs::write(dir.path().join("SHA256SUMS"), b"tampered").unwrap();
    let out = sign_cmd(dir.path(), None)
        .args(["verify", "blob", "SHA256SUMS", "--key", public, "--insecure-ignore-tlog"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_input_is_one_line_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_pair(dir.path(), "cosign");
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["image", "oci:/nonexistent:v1", "--key", key.to_str().unwrap(), "--tlog-upload=false"],
            Some("test-password"),
            "does not exist",
        ),
        (
            vec!["image", "oci:/nonexistent:v1", "--key", key.to_str().unwrap()],
            Some("wrong"),
            "wrong password",
        ),
        (vec!["image", "oci:/nonexistent:v1"], None, "id-token: write"),
        (vec!["image", "x", "--storage", "sideways", "--key", "k"], None, "--storage `sideways`"),
        (vec!["verify", "image", "oci:/x:v1"], None, "--github-repo owner/repo"),
        (
            vec![
                "verify",
                "image",
                "oci:/x:v1",
                "--certificate-identity-regexp",
                "(",
                "--certificate-oidc-issuer",
                "i",
            ],
            None,
            "not a valid regular expression",
        ),
    ];
    for (args, password, expected) in cases {
        let mut cmd = sign_cmd(dir.path(), None);
        match password {
            Some(p) => cmd.env("COSIGN_PASSWORD", p),
            None => cmd.env_remove("COSIGN_PASSWORD"),
        };
        let out = cmd.args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// On a registry with Docker token auth (the ghcr.io and Docker Hub scheme), signing and
/// attesting an index and its four platforms asks the token server once per run: `pull,push`
/// on the image's repository, declared before the first request.
#[test]
fn a_token_registry_is_asked_once_per_repository() {
    use relkit_testkit::token_issuer::TokenIssuer;
    let test = "a_token_registry_is_asked_once_per_repository";
    let Some((issuer, registry)) = TokenIssuer::with_registry(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let layout = index_layout(dir.path(), "v1", "tokens");
    registry.push_layout(&layout, "v1", "acme/app");
    let (key, _) = key_pair(dir.path(), "cosign");
    let image = format!("{}/acme/app:v1", registry.host);
    let key_arg = key.to_str().unwrap();
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, r#"{"builder":"tokens"}"#).unwrap();
    let runs: [Vec<&str>; 2] = [
        vec!["image", &image, "--storage", "both"],
        vec!["attest", &image, "--type", "custom", "--predicate", predicate.to_str().unwrap()],
    ];
    for args in runs {
        let before = issuer.requests().len();
        let done = report(&ok(sign_cmd(dir.path(), Some(&registry))
            .args(&args)
            .args(["--key", key_arg, "--tlog-upload=false", "--json"])
            .output()
            .unwrap()));
        assert_eq!(done.len(), 5, "{args:?}: the index and its four platforms");
        let asked: Vec<Vec<String>> = issuer.requests()[before..].iter().map(|r| r.scopes.clone()).collect();
        assert_eq!(asked, vec![vec!["repository:acme/app:pull,push".to_string()]], "{args:?}");
    }
}
