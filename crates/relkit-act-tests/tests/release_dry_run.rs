//! `scripts/release-dry-run`, the README's main job, run as a user runs it: against local OCI
//! layouts, and with `--registry` against a real registry (docker-registry, judged by skopeo).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use relkit_act_tests::{relkit_bin_dir, require_tool, workspace_root};
use relkit_testkit::registry::TestRegistry;

/// Runs the script with the workspace's binaries and returns its summary as `key → value`.
fn dry_run(out: &Path, args: &[&str]) -> BTreeMap<String, String> {
    let run = Command::new(workspace_root().join("scripts/release-dry-run"))
        .args(args)
        .env("RELKIT_DRY_RUN_DIR", out)
        .env("RELKIT_BIN_DIR", relkit_bin_dir())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("COSIGN_PASSWORD")
        .output()
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "release-dry-run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary = stdout.split("==> summary\n").nth(1).expect("a summary section");
    summary
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect()
}

fn assert_release_facts(out: &Path, summary: &BTreeMap<String, String>) {
    let digest = &summary["digest"];
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{summary:?}");
    assert!(!summary["version"].is_empty(), "{summary:?}");
    assert!(summary["tags"].split(' ').any(|t| t.starts_with("sha-")), "{summary:?}");
    assert!(summary["signature verified"].starts_with("yes"), "{summary:?}");
    // The notes carry the Verification block built from sign's report.
    let notes = std::fs::read_to_string(&summary["notes"]).unwrap();
    assert!(notes.contains("## Verification"), "{notes}");
    assert!(notes.contains(&format!("cosign verify --key {}", out.join("cosign.pub").display())), "{notes}");
    assert!(notes.contains(digest.as_str()), "{notes}");
    // The checksum file is sha256sum's format and covers every binary; its bundle is beside it.
    let sums = std::fs::read_to_string(out.join("dist/SHA256SUMS")).unwrap();
    for bin in ["version-resolve", "tag-policy", "notes-gen", "sign"] {
        assert!(sums.lines().any(|l| l.ends_with(&format!("  {bin}"))), "{bin} in {sums}");
    }
    assert!(out.join("dist/SHA256SUMS.sigstore.json").is_file());
    // The password of the ephemeral key is never written anywhere the run leaves behind.
    let key = std::fs::read_to_string(out.join("cosign.key")).unwrap();
    assert!(key.contains("ENCRYPTED SIGSTORE PRIVATE KEY"), "{key}");
}

#[test]
fn dry_run_against_layouts_signs_promotes_and_summarises() {
    if require_tool("dry_run_against_layouts", "jq").is_none() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let summary = dry_run(out.path(), &[]);
    assert_release_facts(out.path(), &summary);
    // The independent judge: skopeo reads both layouts and finds the digest under its tags.
    if require_tool("dry_run_against_layouts", "skopeo").is_some() {
        for (layout, tag) in
            [("registry", summary["tags"].split(' ').next().unwrap()), ("testing", "testing")]
        {
            let inspect = Command::new("skopeo")
                .args(["inspect", "--raw"])
                .arg(format!("oci:{}:{tag}", out.path().join(layout).display()))
                .output()
                .unwrap();
            assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
            let manifest = out.path().join(format!("{layout}.manifest.json"));
            std::fs::write(&manifest, &inspect.stdout).unwrap();
            let digest = Command::new("skopeo").arg("manifest-digest").arg(&manifest).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&digest.stdout).trim(), summary["digest"], "{layout}:{tag}");
        }
    }
}

#[test]
fn dry_run_against_a_registry_pushes_signs_and_promotes_there() {
    if require_tool("dry_run_against_a_registry", "jq").is_none() {
        return;
    }
    let Some(registry) = TestRegistry::start("dry_run_against_a_registry", None) else { return };
    let out = tempfile::tempdir().unwrap();
    let summary = dry_run(out.path(), &["--registry", &registry.host]);
    assert_release_facts(out.path(), &summary);
    let digest = &summary["digest"];
    let repo = "relkit/relkit-dry-run";
    let tags = registry.tags(repo);
    let hex = digest.trim_start_matches("sha256:");
    for tag in summary["tags"].split(' ').chain(["testing", "build"]) {
        assert!(tags.contains(&tag.to_string()), "{tag} in {tags:?}");
        assert_eq!(
            registry.manifest_digest(&format!("{repo}:{tag}")).as_deref(),
            Some(digest.as_str()),
            "{tag}"
        );
    }
    // The signature and the attestation are referrers of the digest, in the fallback index the
    // registry needs (distribution 2.8 has no referrers API).
    assert!(tags.contains(&format!("sha256-{hex}")), "{tags:?}");
}
