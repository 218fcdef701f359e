//! `tag-policy apply --plan` and `tag-policy plan --registry-tags` as a user runs them, against a
//! real `docker-registry` (CNCF distribution) on 127.0.0.1, judged by skopeo; and the offline
//! main job (apply, then promote, on OCI layouts) with no server at all.

mod lint_support;

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use lint_support::{PushImage as _, TestRegistry};
use relkit_registry::LayoutRegistry;
use relkit_registry::image::{ImageSpec, write_image};
use serde_json::{Value, json};

/// Writes a one-file image labelled `version` into the layout at `dir`, tagged `tag`; returns
/// its digest in the layout.
fn image(dir: &Path, version: &str, tag: &str) -> String {
    let mut spec =
        ImageSpec { files: vec![("VERSION".into(), version.as_bytes().to_vec())], ..Default::default() };
    spec.labels.insert("org.opencontainers.image.version".into(), version.into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(write_image(&LayoutRegistry::new(dir), &spec, Some(tag))).unwrap().digest.to_string()
}

/// Pushes `tag` of the layout at `dir` to `repo` with skopeo.
fn push(registry: &TestRegistry, dir: &Path, tag: &str, repo: &str) {
    let ok = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:{tag}", dir.display()))
        .arg(format!("docker://{}/{repo}:{tag}", registry.host))
        .status()
        .unwrap()
        .success();
    assert!(ok, "skopeo copy {tag}");
}

/// The digest skopeo reads for `repo:tag`, or `None` when the tag does not exist.
fn digest(registry: &TestRegistry, repo: &str, tag: &str) -> Option<String> {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/{repo}:{tag}", registry.host))
        .output()
        .unwrap();
    out.status.success().then(|| lint_support::sha256(&out.stdout))
}

/// A plan document as `tag-policy plan --json` prints it (the keys apply reads, plus the rest).
fn plan(version: &str, tags: &[(&str, &str)]) -> String {
    json!({
        "version": version,
        "tags": tags.iter().map(|(n, _)| format!("ghcr.io/acme/app:{n}")).collect::<Vec<_>>(),
        "tag_names": tags.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "labels": {"org.opencontainers.image.version": version},
        "annotations": [format!("manifest:org.opencontainers.image.version={version}")],
        "images": ["ghcr.io/acme/app"],
        "plan": tags.iter().map(|(n, k)| json!({"name": n, "kind": k})).collect::<Vec<_>>(),
    })
    .to_string()
}

fn tag_policy(args: &[&str]) -> std::process::Output {
    cargo_bin_cmd!("tag-policy")
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn apply_with_a_plan_keeps_release_tags_immutable_and_floating_tags_monotonic() {
    let Some(registry) = TestRegistry::start("apply_with_a_plan", None) else { return };
    let layout = tempfile::tempdir().unwrap();
    image(layout.path(), "2.0.0", "build-2");
    image(layout.path(), "1.9.1", "build-191");
    push(&registry, layout.path(), "build-2", "app");
    push(&registry, layout.path(), "build-191", "app");
    // The digests the registry serves (skopeo may rewrite a manifest on the way).
    let v2 = digest(&registry, "app", "build-2").unwrap();
    let v191 = digest(&registry, "app", "build-191").unwrap();
    let host = &registry.host;
    let plans = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let path = plans.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let plan_2 = write(
        "2.json",
        plan("2.0.0", &[("v2.0.0", "version"), ("2.0", "major_minor"), ("2", "major"), ("latest", "latest")]),
    );
    let plan_191 = write(
        "191.json",
        plan(
            "1.9.1",
            &[
                ("v1.9.1", "version"),
                ("1.9", "major_minor"),
                ("1", "major"),
                ("latest", "latest"),
                ("testing", "channel"),
            ],
        ),
    );

    let out = tag_policy(&["apply", &format!("{host}/app:build-2"), "--plan", &plan_2]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A loopback registry over plain HTTP is said once per run, unless the host is listed.
    let notice = format!(
        "notice: {host} is reached over plain HTTP (loopback); pass --insecure-registry {host} or RELKIT_INSECURE_REGISTRIES to confirm"
    );
    assert_eq!(text(&out.stderr).matches(&notice).count(), 1, "{}", text(&out.stderr));
    for tag in ["v2.0.0", "2.0", "2", "latest"] {
        assert_eq!(digest(&registry, "app", tag).as_deref(), Some(v2.as_str()), "{tag}");
    }

    // The dry run prints add / hold per tag and writes nothing.
    let out = tag_policy(&[
        "apply",
        &format!("{host}/app:build-191"),
        "--plan",
        &plan_191,
        "--dry-run",
        "--insecure-registry",
        host,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("notice:"), "a listed host needs no notice: {stderr}");
    assert!(stderr.contains(&format!("dry run: add   v1.9.1 -> {v191}")), "{stderr}");
    assert!(stderr.contains(&format!("dry run: hold  latest at {v2}")), "{stderr}");
    assert_eq!(digest(&registry, "app", "v1.9.1"), None, "a dry run wrote a tag");

    // The hotfix gets its own tags; `latest` stays on 2.0.0.
    let out = tag_policy(&["apply", &format!("{host}/app:build-191"), "--plan", &plan_191]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(digest(&registry, "app", "latest").as_deref(), Some(v2.as_str()));
    for tag in ["v1.9.1", "1.9", "1", "testing"] {
        assert_eq!(digest(&registry, "app", tag).as_deref(), Some(v191.as_str()), "{tag}");
    }

    // A floating tag moves forward, and the dry run says from where to where.
    let plan_2_testing = write("2t.json", plan("2.0.0", &[("testing", "channel")]));
    let out = tag_policy(&["apply", &format!("{host}/app@{v2}"), "--plan", &plan_2_testing, "--dry-run"]);
    assert!(
        text(&out.stderr).contains(&format!("dry run: move  testing {v191} -> {v2}")),
        "{}",
        text(&out.stderr)
    );

    // A release tag never moves: refused with exit 2 and nothing written.
    let moving = write("bad.json", plan("2.0.0", &[("next", "channel"), ("v1.9.1", "version")]));
    let out = tag_policy(&["apply", &format!("{host}/app:build-2"), "--plan", &moving]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("v1.9.1") && text(&out.stderr).contains("--force"));
    assert_eq!(digest(&registry, "app", "next"), None);
    assert_eq!(digest(&registry, "app", "v1.9.1").as_deref(), Some(v191.as_str()));

    // Applying the same plan again changes nothing.
    let out = tag_policy(&["apply", &format!("{host}/app:build-191"), "--plan", &plan_191]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> =
        report["tags"].as_array().unwrap().iter().map(|t| t["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["keep", "keep", "keep", "hold", "keep"]);
}

fn resolved(version: &str) -> Value {
    let v = semver::Version::parse(version).unwrap();
    json!({
        "version": version, "tag": format!("v{version}"), "major": v.major, "minor": v.minor, "patch": v.patch,
        "prerelease": v.pre.as_str(), "build": v.build.as_str(), "is_prerelease": !v.pre.is_empty(),
        "channel": "stable", "is_highest": true, "is_highest_in_major": true, "is_highest_in_minor": true,
        "previous_tag": null, "previous_stable_tag": null,
        "sha": "0123456789abcdef0123456789abcdef01234567", "short_sha": "0123456",
        "namespace": "acme/app", "next_version": version, "source": "tag_ref", "component": null,
        "commit_time": "2026-01-02T03:04:05Z", "branch": null, "is_default_branch": false,
        "repository_url": "https://github.com/Acme/App"
    })
}

fn plan_tags(from: &Path, registry_tags: &str) -> Vec<String> {
    let out = tag_policy(&[
        "plan",
        "--image",
        "ghcr.io/acme/app",
        "--from",
        &from.display().to_string(),
        "--registry-tags",
        registry_tags,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["tag_names"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

#[test]
fn plan_reads_highest_from_the_registry_tag_list() {
    let Some(registry) = TestRegistry::start("plan_reads_highest_from_the_registry_tag_list", None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("version.json");
    std::fs::write(&from, resolved("1.9.1").to_string()).unwrap();
    let host = &registry.host;

    // Nothing higher anywhere: the full set.
    let empty = plan_tags(&from, &format!("{host}/app"));
    assert_eq!(empty, ["v1.9.1", "1.9", "1", "latest", "sha-0123456"]);

    // 2.0.0 in the registry (not in git): a 1.9.1 hotfix gets no `latest`.
    registry.push_image("app", "2.0.0", "two");
    let hotfix = plan_tags(&from, &format!("{host}/app"));
    assert_eq!(hotfix, ["v1.9.1", "1.9", "1", "sha-0123456"]);

    // From an OCI layout holding 1.10.0: 1.9.1 is no longer the highest of its major line.
    let layout = tempfile::tempdir().unwrap();
    image(layout.path(), "1.10.0", "v1.10.0");
    let from_layout = plan_tags(&from, &format!("oci:{}", layout.path().display()));
    assert_eq!(from_layout, ["v1.9.1", "sha-0123456"]);
}

/// Tag -> digest of an OCI layout, from its index.json.
fn layout_tags(dir: &Path) -> Vec<(String, String)> {
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut tags: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let tag = m["annotations"]["org.opencontainers.image.ref.name"].as_str()?;
            Some((tag.to_string(), m["digest"].as_str().unwrap().to_string()))
        })
        .collect();
    tags.sort();
    tags
}

#[test]
fn main_job_flow_on_oci_layouts_applies_the_plan_and_promotes_to_testing() {
    let work = tempfile::tempdir().unwrap();
    let from = work.path().join("version.json");
    std::fs::write(&from, resolved("1.4.0").to_string()).unwrap();
    let out =
        tag_policy(&["plan", "--image", "ghcr.io/acme/app", "--from", &from.display().to_string(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan_path = work.path().join("plan.json");
    std::fs::write(&plan_path, &out.stdout).unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();

    // The build: the plan's labels on a one-file image, stored by digest only.
    let registry = work.path().join("registry");
    let testing = work.path().join("testing");
    let mut spec =
        ImageSpec { files: vec![("LICENSE".into(), b"Apache-2.0".to_vec())], ..Default::default() };
    spec.labels = serde_json::from_value(plan["labels"].clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let manifest = runtime.block_on(write_image(&LayoutRegistry::new(&registry), &spec, None)).unwrap();
    let digest = manifest.digest.to_string();
    let source = format!("oci:{}@{digest}", registry.display());
    let plan_arg = plan_path.display().to_string();
    let testing_arg = format!("oci:{}", testing.display());

    for round in 0..2 {
        let out = tag_policy(&["apply", &source, "--plan", &plan_arg]);
        assert!(out.status.success(), "apply: {}", text(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let expected = if round == 0 { "add" } else { "keep" };
        assert!(report["tags"].as_array().unwrap().iter().all(|t| t["action"] == expected), "{report}");

        let out = tag_policy(&["promote", &source, "--to", "testing", "--repository", &testing_arg]);
        assert!(out.status.success(), "promote: {}", text(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["tags"][0]["action"], expected, "{report}");
        let uploaded = if round == 0 { 2 } else { 0 };
        assert_eq!(report["copy"]["blobs_uploaded"], uploaded, "{report}");
    }
    let want: Vec<(String, String)> = plan["tag_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t.as_str().unwrap().to_string(), digest.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(layout_tags(&registry), want);
    assert_eq!(layout_tags(&testing), vec![("testing".to_string(), digest.clone())]);
    // The promoted image is complete: manifest, config and layer, byte for byte.
    let view = manifest.view().unwrap();
    for blob in [&manifest.digest, &view.config.unwrap().digest, &view.layers[0].digest] {
        let path = |root: &Path| root.join("blobs/sha256").join(blob.hex());
        assert_eq!(std::fs::read(path(&testing)).unwrap(), std::fs::read(path(&registry)).unwrap(), "{blob}");
    }
}

#[test]
fn prune_takes_retention_from_the_configuration_and_flags_override_it() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let stable = image(&repo, "1.0.0", "v1.0.0");
    image(&repo, "1.0.0", "next");
    let rc: Vec<String> =
        (1..=3).map(|i| image(&repo, &format!("1.1.0-rc.{i}"), &format!("v1.1.0-rc.{i}"))).collect();
    let config = work.path().join("relkit.yml");
    std::fs::write(&config, "prune:\n  keep_prereleases: 1\n  build_tags: [next]\n  keep_builds: 0\n")
        .unwrap();
    let target = format!("oci:{}", repo.display());
    let config_arg = config.display().to_string();
    let deleted = |report: &Value| -> Vec<String> {
        let tags = report["tags"].as_array().unwrap();
        tags.iter().filter(|t| t["delete"] == true).map(|t| t["tag"].as_str().unwrap().to_string()).collect()
    };

    // Dry run with the configured rules: `next` shares v1.0.0's manifest, so only the tag would go.
    let before = layout_tags(&repo);
    let out = tag_policy(&["prune", &target, "--config", &config_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(deleted(&report), ["next", "v1.1.0-rc.1", "v1.1.0-rc.2"]);
    assert_eq!(report["kept_shared"], json!(["next"]));
    assert_eq!(report["manifests"], json!([rc[0], rc[1]]), "{report}");
    assert_eq!(layout_tags(&repo), before, "a dry run changed the layout");

    // A flag overrides the configured count; --apply deletes.
    let out = tag_policy(&["prune", &target, "--config", &config_arg, "--keep-prereleases", "2", "--apply"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(deleted(&report), ["next", "v1.1.0-rc.1"]);
    assert_eq!(report["untagged"], json!(["next"]));
    let left: Vec<(String, String)> = vec![
        ("v1.0.0".into(), stable.clone()),
        ("v1.1.0-rc.2".into(), rc[1].clone()),
        ("v1.1.0-rc.3".into(), rc[2].clone()),
    ];
    assert_eq!(layout_tags(&repo), left);
    let blob = |d: &str| repo.join("blobs/sha256").join(&d["sha256:".len()..]);
    assert!(!blob(&rc[0]).exists() && blob(&stable).exists());

    // An unknown key in the section is one line naming it, exit 2.
    std::fs::write(&config, "prune:\n  keep_prerelease: 1\n").unwrap();
    let out = tag_policy(&["prune", &target, "--config", &config_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("keep_prerelease"), "{}", text(&out.stderr));
}
