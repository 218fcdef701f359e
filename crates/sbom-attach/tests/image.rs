//! Image SBOMs end to end: a multi-arch OCI layout whose amd64 image holds this Debian
//! machine's real dpkg status database and whose arm64 image holds an apk database written
//! here, both with a Cargo.lock; generated per platform (judged by pyspdxtools and the SPDX
//! schema), attached as referrers to a real registry (judged with skopeo), verified, carried
//! by `tag-policy promote` and kept by `tag-policy prune`.

mod judge;

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt as _;
use relkit_core::actions::Env;
use relkit_registry::image::{ImageSpec, write_image};
use relkit_registry::manifest::OCI_INDEX;
use relkit_registry::{LayoutRegistry, RawManifest, Registry};
use relkit_testkit::registry::TestRegistry;
use serde_json::{Value, json};

const CARGO_LOCK: &str = "version = 4\n\n[[package]]\nname = \"svc\"\nversion = \"2.0.0\"\ndependencies = [\"serde\"]\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ddc6f9cc94d67c0e21aaf7eda3a010fd3af78ebf6e096aa6e2e13c79749cce4f\"\n";

const APK_DB: &str = "P:musl\nV:1.2.5-r0\nA:aarch64\nL:MIT\np:so:libc.musl-aarch64.so.1=1\n\nP:busybox\nV:1.36.1-r29\nA:aarch64\nL:GPL-2.0-only\nD:so:libc.musl-aarch64.so.1\n\nP:ca-certificates-bundle\nV:20240705-r0\nA:aarch64\nL:MPL-2.0 AND MIT\n";

fn dpkg_status() -> Vec<u8> {
    std::fs::read("/var/lib/dpkg/status").expect("the tests run on Debian: /var/lib/dpkg/status")
}

fn installed_dpkg_packages() -> usize {
    String::from_utf8_lossy(&dpkg_status())
        .lines()
        .filter(|l| l.starts_with("Status:") && l.ends_with(" installed"))
        .count()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Writes the two platform images and an index tagged `v1.0.0`; returns the index digest and
/// the platform digests.
fn write_layout(dir: &Path) -> (String, Vec<String>) {
    runtime().block_on(async {
        let layout = LayoutRegistry::new(dir);
        let debian = ImageSpec {
            files: vec![
                ("etc/os-release".into(), b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n".to_vec()),
                ("var/lib/dpkg/status".into(), dpkg_status()),
                ("app/Cargo.lock".into(), CARGO_LOCK.as_bytes().to_vec()),
            ],
            architecture: Some("amd64".into()),
            ..Default::default()
        };
        let alpine = ImageSpec {
            files: vec![
                ("etc/os-release".into(), b"ID=alpine\nVERSION_ID=3.20.3\n".to_vec()),
                ("lib/apk/db/installed".into(), APK_DB.as_bytes().to_vec()),
                ("app/Cargo.lock".into(), CARGO_LOCK.as_bytes().to_vec()),
            ],
            architecture: Some("arm64".into()),
            ..Default::default()
        };
        let amd64 = write_image(&layout, &debian, None).await.unwrap();
        let arm64 = write_image(&layout, &alpine, None).await.unwrap();
        let entry = |m: &RawManifest, arch: &str| {
            json!({"mediaType": m.media_type, "digest": m.digest.as_str(), "size": m.bytes.len(),
                   "platform": {"os": "linux", "architecture": arch}})
        };
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry(&amd64, "amd64"), entry(&arm64, "arm64")]});
        let index = RawManifest::new(serde_json::to_vec(&index).unwrap(), Some(OCI_INDEX)).unwrap();
        layout.put_manifest("", "v1.0.0", &index, None).await.unwrap();
        // A build image for prune to delete.
        let build = ImageSpec { files: vec![("x".into(), b"build".to_vec())], ..Default::default() };
        write_image(&layout, &build, Some("sha-0123abc")).await.unwrap();
        (index.digest.to_string(), vec![amd64.digest.to_string(), arm64.digest.to_string()])
    })
}

fn sbom_attach(args: &[&str], dir: &Path) -> Output {
    Command::cargo_bin("sbom-attach")
        .unwrap()
        .args(args)
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("SIGSTORE_ID_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn packages(file: &Path) -> Vec<Value> {
    let doc: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    doc["packages"].as_array().unwrap().clone()
}

#[test]
fn generate_per_platform_from_an_oci_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let (index, platforms) = write_layout(&layout);
    let image = format!("oci:{}:v1.0.0", layout.display());
    ok(&sbom_attach(&["generate", "--image", &image, "-o", "out"], tmp.path()));
    let out = tmp.path().join("out");
    let amd64 = packages(&out.join("sbom.linux-amd64.spdx.json"));
    // image + OS + every installed dpkg package + the Cargo.lock's two packages
    assert_eq!(amd64.len(), 2 + installed_dpkg_packages() + 2);
    let purls: Vec<String> = amd64
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .map(|r| r["referenceLocator"].as_str().unwrap().to_string())
        .collect();
    assert!(
        purls.iter().any(|p| p.starts_with("pkg:deb/debian/libc6@")
            && p.contains("arch=amd64")
            && p.contains("distro=debian-12")),
        "libc6"
    );
    assert!(
        purls.iter().any(|p| p.starts_with("pkg:oci/layout@") && p.contains(&platforms[0])),
        "the image by digest"
    );
    assert!(purls.contains(&"pkg:cargo/serde@1.0.200".to_string()));
    let arm64 = packages(&out.join("sbom.linux-arm64.spdx.json"));
    assert_eq!(arm64.len(), 2 + 3 + 2);
    let busybox = arm64.iter().find(|p| p["name"] == "busybox").unwrap();
    assert_eq!(busybox["licenseDeclared"], "GPL-2.0-only");
    assert_eq!(
        busybox["externalRefs"][0]["referenceLocator"],
        "pkg:apk/alpine/busybox@1.36.1-r29?arch=aarch64&distro=alpine-3.20.3"
    );
    let index_doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("sbom.spdx.json")).unwrap()).unwrap();
    assert_eq!(index_doc["externalDocumentRefs"].as_array().unwrap().len(), 2);
    assert!(index_doc["packages"][0]["versionInfo"] == index.as_str());
    for file in ["sbom.spdx.json", "sbom.linux-amd64.spdx.json", "sbom.linux-arm64.spdx.json"] {
        judge::accepted_by_judges("generate_per_platform_from_an_oci_layout", &out.join(file));
    }
}

struct TestEnv;

/// Pushes the layout's index as `app:v1.0.0` (a release) and `app:sha-0123abc` (a build tag).
fn push_release_and_build(registry: &TestRegistry, layout: &Path) {
    for tag in ["v1.0.0", "sha-0123abc"] {
        registry.push_layout(layout, tag, "app");
    }
}

/// `tag-policy prune --apply` of `repository` keeping no builds and no prereleases.
fn prune_builds(repository: String, dir: &Path, rt: &tokio::runtime::Runtime) {
    let config = dir.join("no-config.yml");
    std::fs::write(&config, "").unwrap();
    let prune = tag_policy::registry_cmds::PruneArgs {
        repository,
        only_matching: None,
        apply: true,
        keep_prereleases: Some(0),
        keep_builds: Some(0),
        max_build_age_days: None,
        keep_releases: None,
        keep_per_line: None,
        protect: vec![],
        config: Some(config),
        registry: Default::default(),
    };
    rt.block_on(tag_policy::registry_cmds::prune(&prune, &TestEnv)).unwrap();
}

impl Env for TestEnv {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
}

#[test]
fn attach_verify_promote_and_prune_on_a_real_registry() {
    let Some(registry) = TestRegistry::start("attach_verify_promote_and_prune", None) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let (index, platforms) = write_layout(&layout);
    push_release_and_build(&registry, &layout);
    assert_eq!(registry.manifest_digest("app:v1.0.0").as_deref(), Some(index.as_str()));
    let image = format!("{}/app:v1.0.0", registry.host);

    let report: Value = serde_json::from_str(&ok(&sbom_attach(
        &["attach", &image, "--generate-image", "-o", "sbom.spdx.json"],
        tmp.path(),
    )))
    .unwrap();
    let sboms = report["sboms"].as_array().unwrap();
    assert_eq!(sboms.len(), 3, "{report}");
    assert!(sboms.iter().all(|s| s["referrer_state"] == "stored"));
    for file in [
        "sbom.spdx.json",
        "sbom.linux-amd64.spdx.json",
        "sbom.linux-arm64.spdx.json",
        "sbom.spdx.json.sha256",
    ] {
        assert!(tmp.path().join(file).is_file(), "{file}");
    }

    // skopeo judges: each subject's fallback tag lists exactly our referrer, whose manifest is
    // bound to that subject and carries the SBOM blob.
    let tags_after_first = registry.tags("app");
    for (subject, sbom) in [(&platforms[0], &sboms[0]), (&platforms[1], &sboms[1]), (&index, &sboms[2])] {
        assert_eq!(sbom["subject"], subject.as_str());
        let fallback = format!("app:sha256-{}", subject.trim_start_matches("sha256:"));
        let list: Value =
            serde_json::from_slice(&registry.inspect_raw(&fallback).expect("fallback tag")).unwrap();
        assert_eq!(list["manifests"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list["manifests"][0]["artifactType"], "application/spdx+json");
        assert_eq!(list["manifests"][0]["digest"], sbom["referrer"]);
        let referrer: Value = serde_json::from_slice(
            &registry.inspect_raw(&format!("app@{}", sbom["referrer"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        assert_eq!(referrer["subject"]["digest"], subject.as_str());
        assert_eq!(referrer["layers"][0]["digest"], sbom["sbom_digest"]);
        assert_eq!(referrer["layers"][0]["mediaType"], "application/spdx+json");
    }

    // Idempotent: the second run stores nothing and changes no tag.
    let again: Value =
        serde_json::from_str(&ok(&sbom_attach(&["attach", &image, "--generate-image"], tmp.path()))).unwrap();
    assert!(
        again["sboms"].as_array().unwrap().iter().all(|s| s["referrer_state"] == "already-there"),
        "{again}"
    );
    assert_eq!(registry.tags("app"), tags_after_first);

    let table = ok(&sbom_attach(
        &["verify", &image, "--expect-package", "serde", "--expect-package", "pkg:cargo/serde@1.0.200"],
        tmp.path(),
    ));
    assert_eq!(table.matches("| ok |").count(), 3, "{table}");
    let out = sbom_attach(&["verify", &image, "--expect-package", "left-pad"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("expected package `left-pad` is not listed"));

    // tag-policy promote carries the SBOM referrers to the destination repository.
    let rt = runtime();
    let promote = tag_policy::registry_cmds::PromoteArgs {
        source: image.clone(),
        channel: "stable".into(),
        repository: Some(format!("{}/prod", registry.host)),
        release_tags: false,
        tags: vec![],
        version: Some("1.0.0".into()),
        require_referrers: vec!["application/spdx+json".into()],
        force: false,
        dry_run: false,
        registry: Default::default(),
    };
    rt.block_on(tag_policy::registry_cmds::promote(&promote, &TestEnv)).unwrap();
    let promoted = format!("{}/prod:stable", registry.host);
    let table = ok(&sbom_attach(&["verify", &promoted, "--expect-package", "serde"], tmp.path()));
    assert_eq!(table.matches("| ok |").count(), 3, "{table}");

    // tag-policy prune deletes the build image and keeps the release and its SBOMs.
    prune_builds(format!("{}/app", registry.host), tmp.path(), &rt);
    assert!(
        !registry.tags("app").contains(&"sha-0123abc".to_string()),
        "the build tag went: {:?}",
        registry.tags("app")
    );
    let table = ok(&sbom_attach(&["verify", &image, "--expect-package", "serde"], tmp.path()));
    assert_eq!(table.matches("| ok |").count(), 3, "{table}");
}

/// A registry with the OCI 1.1 referrers API (the test proxy serves it over distribution 2.8):
/// the SBOM referrers are found through the API (no fallback tag is written), and `prune`, which
/// reads attachments through the API too, keeps the release's SBOMs.
#[test]
fn attach_verify_and_prune_through_the_referrers_api() {
    use relkit_testkit::proxy::{Proxy, ProxyConfig};
    let Some(registry) = TestRegistry::start("attach_through_the_referrers_api", None) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    write_layout(&layout);
    push_release_and_build(&registry, &layout);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let proxy = rt.block_on(Proxy::start(ProxyConfig {
        upstream: registry.port,
        referrers_api: true,
        ..Default::default()
    }));
    let host = format!("127.0.0.1:{}", proxy.port);
    let image = format!("{host}/app:v1.0.0");

    let report: Value =
        serde_json::from_str(&ok(&sbom_attach(&["attach", &image, "--generate-image"], tmp.path()))).unwrap();
    assert!(report["sboms"].as_array().unwrap().iter().all(|s| s["referrer_state"] == "stored"), "{report}");
    assert_eq!(registry.tags("app"), ["sha-0123abc", "v1.0.0"], "no fallback tags where the API exists");
    let table = ok(&sbom_attach(&["verify", &image, "--expect-package", "serde"], tmp.path()));
    assert_eq!(table.matches("| ok |").count(), 3, "{table}");

    prune_builds(format!("{host}/app"), tmp.path(), &rt);
    assert_eq!(registry.tags("app"), ["v1.0.0"]);
    let table = ok(&sbom_attach(&["verify", &image, "--expect-package", "serde"], tmp.path()));
    assert_eq!(table.matches("| ok |").count(), 3, "{table}");
}

#[test]
fn a_third_party_sbom_is_attached_byte_for_byte_and_the_size_limit_refuses_first() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let (index, _) = write_layout(&layout);
    let image = format!("oci:{}:v1.0.0", layout.display());
    // Shaped like syft's output: its own field order and spacing, which must survive.
    let syft = "{\n \"spdxVersion\": \"SPDX-2.3\",\n \"dataLicense\": \"CC0-1.0\",\n \"SPDXID\": \"SPDXRef-DOCUMENT\",\n \"name\": \"app\",\n \"documentNamespace\": \"https://anchore.com/syft/image/app-0d6c\",\n \"creationInfo\": {\"licenseListVersion\": \"3.25\", \"creators\": [\"Organization: Anchore, Inc\", \"Tool: syft-1.14.0\"], \"created\": \"2024-10-01T10:00:00Z\"},\n \"packages\": [{\"name\": \"serde\", \"SPDXID\": \"SPDXRef-Package-cargo-serde-1\", \"versionInfo\": \"1.0.200\", \"downloadLocation\": \"NOASSERTION\", \"filesAnalyzed\": false, \"externalRefs\": [{\"referenceCategory\": \"PACKAGE-MANAGER\", \"referenceType\": \"purl\", \"referenceLocator\": \"pkg:cargo/serde@1.0.200\"}]}],\n \"relationships\": [{\"spdxElementId\": \"SPDXRef-DOCUMENT\", \"relatedSpdxElement\": \"SPDXRef-Package-cargo-serde-1\", \"relationshipType\": \"DESCRIBES\"}]\n}\n";
    std::fs::write(tmp.path().join("syft.spdx.json"), syft).unwrap();

    let out = sbom_attach(&["attach", &image, "--sbom", "syft.spdx.json", "--max-size", "100"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("above the 100-byte limit") && stderr.contains("--by-reference"), "{stderr}");
    let fallback = format!("sha256-{}", index.trim_start_matches("sha256:"));
    let tags = || runtime().block_on(LayoutRegistry::new(&layout).list_tags("")).unwrap();
    assert!(!tags().contains(&fallback), "nothing attached");

    let report: Value =
        serde_json::from_str(&ok(&sbom_attach(&["attach", &image, "--sbom", "syft.spdx.json"], tmp.path())))
            .unwrap();
    assert_eq!(report["sboms"][0]["subject"], index.as_str());
    assert!(tags().contains(&fallback));
    let sbom_digest: relkit_registry::Digest =
        report["sboms"][0]["sbom_digest"].as_str().unwrap().parse().unwrap();
    let stored = runtime().block_on(LayoutRegistry::new(&layout).get_blob("", &sbom_digest)).unwrap();
    assert_eq!(&stored[..], syft.as_bytes(), "attached byte for byte");
    let table = ok(&sbom_attach(&["verify", &image, "--expect-package", "serde"], tmp.path()));
    assert!(table.contains("| index |") && table.contains("| ok |"), "{table}");
    assert_eq!(table.matches("| ok (covered by the index SBOM) |").count(), 2, "{table}");
}

#[test]
fn the_action_step_reads_its_inputs_and_writes_exactly_the_declared_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let (index, _) = write_layout(&layout);
    let outputs = tmp.path().join("github-output");
    let summary = tmp.path().join("summary.md");
    let run = Command::cargo_bin("sbom-attach")
        .unwrap()
        .arg("action")
        .current_dir(tmp.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_IMAGE", format!("oci:{}:v1.0.0", layout.display()))
        .env("INPUT_GENERATE-IMAGE", "true")
        .env("INPUT_OUTPUT", "sbom.spdx.json")
        .env("INPUT_EXPECT-PACKAGES", "serde, pkg:cargo/serde")
        .output()
        .unwrap();
    ok(&run);
    let written = std::fs::read_to_string(&outputs).unwrap();
    let keys: std::collections::BTreeSet<&str> =
        written.lines().filter_map(|l| l.split_once("<<").map(|(k, _)| k)).collect();
    let action: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../actions/sbom-attach/action.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    let declared: std::collections::BTreeSet<&str> =
        action["outputs"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(keys, declared);
    assert!(written.contains(&format!("digest<<ghadelimiter_relkit_0\n{index}\n")), "{written}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("### SBOMs attached") && summary.contains("| linux/arm64 |"), "{summary}");
    assert_eq!(summary.matches("| ok |").count(), 3, "{summary}");

    let bad = Command::cargo_bin("sbom-attach")
        .unwrap()
        .arg("action")
        .current_dir(tmp.path())
        .env("INPUT_IMAGE", "oci:x")
        .env("INPUT_SBOM", "a.json")
        .env("INPUT_GENERATE", ".")
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("::error::sbom-attach: set exactly one of the inputs")
    );
}

/// On a registry with Docker token auth, `attach` reads the image and writes its SBOM referrers
/// with one token: `pull,push` on the repository, declared before the first request.
#[test]
fn attach_on_a_token_registry_asks_for_one_token() {
    use relkit_testkit::token_issuer::TokenIssuer;
    let test = "attach_on_a_token_registry_asks_for_one_token";
    let Some((issuer, registry)) = TokenIssuer::with_registry(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    write_layout(&layout);
    registry.push_layout(&layout, "v1.0.0", "acme/app");
    let before = issuer.requests().len();
    let image = format!("{}/acme/app:v1.0.0", registry.host);
    let report: Value =
        serde_json::from_str(&ok(&sbom_attach(&["attach", &image, "--generate-image"], tmp.path()))).unwrap();
    assert!(report["sboms"].as_array().unwrap().iter().all(|s| s["referrer_state"] == "stored"), "{report}");
    let asked: Vec<Vec<String>> = issuer.requests()[before..].iter().map(|r| r.scopes.clone()).collect();
    assert_eq!(asked, vec![vec!["repository:acme/app:pull,push".to_string()]]);
}
