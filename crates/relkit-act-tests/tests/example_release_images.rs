//! `examples/release-images.yml` under act: the per-platform `build` job with the daemonless
//! builder swapped in (`vars.RELKIT_BUILDER=buildah`: `FROM scratch` + `COPY`, vfs storage), one
//! image per matrix platform pushed by digest to a real registry (docker-registry on loopback),
//! judged by skopeo.

use relkit_act_tests::{Act, Repo, require_tool, tag_push_event, workspace_root};
use relkit_testkit::registry::TestRegistry;
use serde_json::Value;

#[test]
fn the_example_builds_one_image_per_platform_with_buildah_and_pushes_them_by_digest() {
    let test = "the_example_builds_one_image_per_platform_with_buildah_and_pushes_them_by_digest";
    let Some(act) = require_tool(test, "act") else { return };
    if require_tool(test, "buildah").is_none() {
        return;
    }
    let Some(registry) = TestRegistry::start(test, None) else { return };
    let repo = Repo::with_workspace_snapshot();
    // The user's build context: a Containerfile and a file per architecture.
    std::fs::write(
        repo.path().join("Containerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY dist/${TARGETARCH}/ /app/\n",
    )
    .unwrap();
    for arch in ["amd64", "arm64"] {
        let dir = repo.path().join("dist").join(arch);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hello"), format!("hello from {arch}\n")).unwrap();
    }
    std::fs::copy(
        workspace_root().join("examples/release-images.yml"),
        repo.path().join(".github/workflows/example-release-images.yml"),
    )
    .unwrap();
    let sha = repo.commit("feat: the example workflow");
    repo.tag("v1.4.0");

    let artifacts = tempfile::tempdir().unwrap();
    let placeholder = workspace_root().join("tests/act/cache-placeholder");
    let mut act_run =
        Act::new(&repo, "push", tag_push_event("v1.4.0", &sha), "example-release-images.yml", "build")
            .var("RELKIT_BUILDER", "buildah")
            .var("RELKIT_IMAGE", &format!("{}/acme/widget", registry.host))
            .var("RELKIT_INSECURE_REGISTRY", &registry.host)
            .env("RELKIT_TEST_ARTIFACTS", artifacts.path().to_str().unwrap())
            .stand_in(
                "actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f",
                &workspace_root().join("tests/act/upload-artifact"),
            );
    // The Docker steps are skipped under buildah; act still wants their sources.
    for uses in [
        "docker/setup-buildx-action@8d2750c68a42422c14e847fe6c8ac0403b4cbd6f",
        "docker/login-action@5e57cd118135c172c3672efd75eb46360885c0ef",
        "docker/build-push-action@263435318d21b8e681c14492fe198d362a7d2c83",
    ] {
        act_run = act_run.stand_in(uses, &placeholder);
    }
    // relkit's own actions at the example's pinned commit: this workspace.
    let example = std::fs::read_to_string(workspace_root().join("examples/release-images.yml")).unwrap();
    let pinned = example
        .lines()
        .find_map(|line| line.trim().strip_prefix("- uses: relkit/relkit@"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the example pins relkit/relkit")
        .to_string();
    act_run = act_run
        .stand_in(&format!("relkit/relkit@{pinned}"), repo.path())
        .stand_in("actions/download-artifact@37930b1c2abaa49bbe596cd826c3c89aecaef9a1", &placeholder);
    let run = act_run.run(&act);
    assert!(run.success, "act failed:\n{}", run.transcript());

    for (slug, arch) in [("linux-amd64", "amd64"), ("linux-arm64", "arm64")] {
        let file = artifacts.path().join(format!("digest-{slug}")).join(slug);
        let digest = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let digest = digest.trim();
        assert!(digest.starts_with("sha256:"), "{digest}");
        // skopeo, the independent judge: the manifest is in the registry by digest, for its platform.
        let inspect = registry.skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--config",
            &format!("docker://{}/acme/widget@{digest}", registry.host),
        ]);
        assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
        let config: Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(config["architecture"], arch, "{config}");
        assert_eq!(config["os"], "linux", "{config}");
    }
    // Pushed by digest only: no tag (not even `latest`) before the release job applies the plan.
    assert_eq!(registry.tags("acme/widget"), Vec::<String>::new());
}
