//! `attach --release-tag`: the SBOM file and its `.sha256` go to the GitHub release through
//! relkit-forge's put-release-asset call, against a local fake answering as GitHub documents;
//! a re-run replaces them. And `--key` attestations kept out of the log, verified by key.

use std::path::Path;
use std::process::{Command, Output};

use relkit_registry::LayoutRegistry;
use relkit_registry::image::{ImageSpec, write_image};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SBOM: &str = "{\"spdxVersion\": \"SPDX-2.3\", \"dataLicense\": \"CC0-1.0\", \"SPDXID\": \"SPDXRef-DOCUMENT\", \"name\": \"app\", \"documentNamespace\": \"https://example.com/app-1\", \"creationInfo\": {\"creators\": [\"Tool: syft-1.14.0\"], \"created\": \"2024-10-01T10:00:00Z\"}, \"packages\": [{\"name\": \"serde\", \"SPDXID\": \"SPDXRef-Package-serde\", \"versionInfo\": \"1.0.200\", \"downloadLocation\": \"NOASSERTION\", \"filesAnalyzed\": false}], \"relationships\": [{\"spdxElementId\": \"SPDXRef-DOCUMENT\", \"relatedSpdxElement\": \"SPDXRef-Package-serde\", \"relationshipType\": \"DESCRIBES\"}]}\n";

/// A release object as `GET /repos/{owner}/{repo}/releases/tags/{tag}` documents it.
fn gh_release(server: &str) -> Value {
    json!({
        "url": format!("{server}/repos/acme/app/releases/1"),
        "html_url": "https://github.com/acme/app/releases/tag/v1.0.0",
        "assets_url": format!("{server}/repos/acme/app/releases/1/assets"),
        "upload_url": format!("{server}/uploads/repos/acme/app/releases/1/assets{{?name,label}}"),
        "tarball_url": format!("{server}/repos/acme/app/tarball/v1.0.0"),
        "zipball_url": format!("{server}/repos/acme/app/zipball/v1.0.0"),
        "id": 1, "node_id": "RE_kwDOAAAB", "tag_name": "v1.0.0", "target_commitish": "main",
        "name": "v1.0.0", "body": "notes", "draft": false, "prerelease": false, "immutable": false,
        "created_at": "2026-11-01T10:00:00Z", "published_at": "2026-11-01T10:00:00Z",
        "author": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot", "site_admin": false},
        "assets": []
    })
}

/// A release asset as documented.
fn gh_asset(server: &str, id: u64, name: &str) -> Value {
    json!({
        "url": format!("{server}/repos/acme/app/releases/assets/{id}"),
        "browser_download_url": format!("https://github.com/acme/app/releases/download/v1.0.0/{name}"),
        "id": id, "node_id": "RA_kwDOAAAB", "name": name, "label": "", "state": "uploaded",
        "content_type": "application/octet-stream", "size": 6, "digest": null, "download_count": 0,
        "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-01T10:00:00Z",
        "uploader": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot", "site_admin": false}
    })
}

async fn fake_github() -> MockServer {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/tags/v1.0.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(gh_release(&uri)))
        .mount(&server)
        .await;
    // The first run's two uploads see no assets; later runs see both.
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/1/assets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/releases/1/assets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            gh_asset(&uri, 11, "sbom.spdx.json"),
            gh_asset(&uri, 12, "sbom.spdx.json.sha256")
        ])))
        .with_priority(2)
        .mount(&server)
        .await;
    for (id, name) in [(11, "sbom.spdx.json"), (12, "sbom.spdx.json.sha256")] {
        let temporary = format!("{name}.relkit-upload");
        Mock::given(method("POST"))
            .and(path("/uploads/repos/acme/app/releases/1/assets"))
            .and(query_param("name", temporary.as_str()))
            .respond_with(ResponseTemplate::new(201).set_body_json(gh_asset(&uri, id, &temporary)))
            .mount(&server)
            .await;
        Mock::given(method("PATCH"))
            .and(path(format!("/repos/acme/app/releases/assets/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(gh_asset(&uri, id, name)))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("/repos/acme/app/releases/assets/{id}")))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
    }
    server
}

fn attach(dir: &Path, api: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbom-attach"))
        .current_dir(dir)
        .args(["attach", "oci:layout:v1.0.0", "--sbom", "in.spdx.json", "--no-referrer", "--no-attest"])
        .args(["-o", "sbom.spdx.json", "--release-tag", "v1.0.0"])
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .env("GITHUB_API_URL", api)
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_TOKEN", "ghs_test")
        .output()
        .unwrap()
}

#[test]
fn the_sbom_and_its_checksum_become_release_assets_idempotently() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("in.spdx.json"), SBOM).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let layout = LayoutRegistry::new(&tmp.path().join("layout"));
        let spec = ImageSpec { files: vec![("app".into(), b"app".to_vec())], ..Default::default() };
        write_image(&layout, &spec, Some("v1.0.0")).await.unwrap();
    });
    let server = rt.block_on(fake_github());

    let out = attach(tmp.path(), &server.uri());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sha256 = std::fs::read_to_string(tmp.path().join("sbom.spdx.json.sha256")).unwrap();
    let hex = sha256.split_whitespace().next().unwrap();
    assert_eq!(report["assets"], json!([{"name": "sbom.spdx.json", "sha256": hex}]), "the contract's assets");
    let requests = rt.block_on(server.received_requests()).unwrap();
    let uploads: Vec<_> = requests.iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(uploads.len(), 2);
    assert_eq!(uploads[0].body, SBOM.as_bytes(), "the SBOM goes up byte for byte");
    assert_eq!(uploads[1].body, sha256.as_bytes());
    assert!(uploads.iter().all(|r| r.headers["authorization"] == "Bearer ghs_test"));

    // A re-run replaces both assets (the old ones deleted only after the new ones are up).
    let out = attach(tmp.path(), &server.uri());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("sbom-attach: replaced ").count(), 2, "{stderr}");
    let requests = rt.block_on(server.received_requests()).unwrap();
    assert_eq!(requests.iter().filter(|r| r.method.as_str() == "DELETE").count(), 2);

    // Without --output there is nothing to upload: refused before any request.
    let out = Command::new(env!("CARGO_BIN_EXE_sbom-attach"))
        .current_dir(tmp.path())
        .args(["attach", "oci:layout:v1.0.0", "--sbom", "in.spdx.json", "--release-tag", "v1.0.0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn key_attestations_without_the_log_verify_by_key_and_not_by_another() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("in.spdx.json"), SBOM).unwrap();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let layout = LayoutRegistry::new(&tmp.path().join("layout"));
        let spec = ImageSpec { files: vec![("app".into(), b"app".to_vec())], ..Default::default() };
        write_image(&layout, &spec, Some("v1.0.0")).await.unwrap();
    });
    for prefix in ["cosign", "other"] {
        let (private, public) = relkit_sigstore::keys::generate_key_pair("pw").unwrap();
        std::fs::write(tmp.path().join(format!("{prefix}.key")), private).unwrap();
        std::fs::write(tmp.path().join(format!("{prefix}.pub")), public).unwrap();
    }
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sbom-attach"))
            .current_dir(tmp.path())
            .args(args)
            .env("COSIGN_PASSWORD", "pw")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .output()
            .unwrap()
    };
    let image = "oci:layout:v1.0.0";
    let out =
        run(&["attach", image, "--sbom", "in.spdx.json", "--key", "cosign.key", "--tlog-upload", "false"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sboms"][0]["attestation"]["status"], "attested");
    assert_eq!(report["images"][0]["signature"]["key"], "cosign.pub");

    let good = run(&["verify", image, "--key", "cosign.pub", "--insecure-ignore-tlog"]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
    assert!(String::from_utf8_lossy(&good.stdout).contains("| key | ok |"));
    let bad = run(&["verify", image, "--key", "other.pub", "--insecure-ignore-tlog"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("FAILED: attestation:"));
}
