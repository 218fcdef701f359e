//! `examples/release-images.yml` under act, every job, for the tag pushes `v1.4.0`, `v1.5.0-rc.1`,
//! `v1.5.0` and the hotfix `v1.4.1`: the per-platform `build` job with the daemonless builder
//! swapped in (`vars.RELKIT_BUILDER=buildah`: `FROM scratch` + `COPY`, vfs storage) pushing by
//! digest to a real registry (docker-registry on loopback), the index, the planned tags, keyless
//! signatures and provenance from the Sigstore mock (its OIDC endpoint standing in for the
//! runner's), SBOM attestations, and the notes published to the GitHub fake. Judged by skopeo,
//! `sign verify`, sigstore-rs's cosign module, pyspdxtools, sigstore-python and the release payload
//! the fake received.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use relkit_act_tests::{
    Act, ActRun, Repo, relkit_actions_only, relkit_bin_dir, require_tool, tag_push_event, workspace_root,
};
use relkit_testkit::github::FakeGithub;
use relkit_testkit::registry::TestRegistry;
use relkit_testkit::sigstore::{
    CosignJudge, DEFAULT_IDENTITY, GITHUB_ISSUER, JsSigner, MockSigstore, require_judges,
    sigstore_python_verify_identity,
};
use serde_json::Value;

/// The package every platform image's dpkg database lists.
const IMAGE_PACKAGE: &str = "libc6";

/// The predicate type of an SPDX attestation.
const SPDX_PREDICATE: &str = "https://spdx.dev/Document";

/// The user's repository (the workspace snapshot with a Containerfile and the example as a
/// workflow), the registry, the Sigstore instance, and the act invocation for one tag push.
struct Setup {
    repo: Repo,
    registry: TestRegistry,
    sigstore: MockSigstore,
    github: FakeGithub,
    artifacts: tempfile::TempDir,
    pinned: String,
    actions: tempfile::TempDir,
}

fn setup(test: &str) -> Option<(PathBuf, Setup)> {
    let act = require_tool(test, "act")?;
    require_tool(test, "buildah")?;
    let registry = TestRegistry::start(test, None)?;
    let sigstore = MockSigstore::start(test)?;
    let repo = Repo::with_workspace_snapshot();
    std::fs::write(
        repo.path().join("Containerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY dist/${TARGETARCH}/ /\n",
    )
    .unwrap();
    // A distroless-shaped root per platform: the app, os-release and a dpkg `status.d` entry, so
    // that the SBOM generated from the image's layers lists a package of that platform.
    for arch in ["amd64", "arm64"] {
        let root = repo.path().join("dist").join(arch);
        for (file, text) in [
            ("app/hello".to_string(), format!("hello from {arch}\n")),
            ("usr/lib/os-release".to_string(), "ID=debian\nVERSION_ID=\"12\"\n".to_string()),
            (
                format!("var/lib/dpkg/status.d/{IMAGE_PACKAGE}"),
                format!("Package: {IMAGE_PACKAGE}\nVersion: 2.36-9+deb12u7\nArchitecture: {arch}\n"),
            ),
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
    std::fs::copy(
        workspace_root().join("examples/release-images.yml"),
        repo.path().join(".github/workflows/example-release-images.yml"),
    )
    .unwrap();
    repo.commit("feat: the example workflow");
    let example = std::fs::read_to_string(workspace_root().join("examples/release-images.yml")).unwrap();
    let pinned = example
        .lines()
        .find_map(|line| line.trim().strip_prefix("- uses: relkit/relkit@"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the example pins relkit/relkit")
        .to_string();
    let artifacts = tempfile::tempdir().unwrap();
    let github = FakeGithub::start("Acme", "Widget");
    let actions = relkit_actions_only();
    Some((act, Setup { repo, registry, sigstore, github, artifacts, pinned, actions }))
}

impl Setup {
    fn run(&self, act_path: &Path, tag: &str) -> ActRun {
        let sha = self.repo.head();
        let placeholder = workspace_root().join("tests/act/cache-placeholder");
        let stand_ins = workspace_root().join("tests/act");
        // A fresh artifact directory per run (one workflow run's artifacts).
        let artifacts = self.artifacts.path().join(tag);
        let mut act =
            Act::new(&self.repo, "push", tag_push_event(tag, &sha), "example-release-images.yml", "")
                .var("RELKIT_BUILDER", "buildah")
                .var("RELKIT_IMAGE", &format!("{}/acme/widget", self.registry.host))
                .var("RELKIT_INSECURE_REGISTRY", &self.registry.host)
                .env("GITHUB_API_URL", &self.github.api_url())
                .env("GITHUB_GRAPHQL_URL", &self.github.graphql_url())
                .secret("GITHUB_TOKEN", "ghs_e2e_token")
                .env("RELKIT_TEST_ARTIFACTS", artifacts.to_str().unwrap())
                .stand_in(
                    "actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f",
                    &stand_ins.join("upload-artifact"),
                )
                .stand_in(
                    "actions/download-artifact@37930b1c2abaa49bbe596cd826c3c89aecaef9a1",
                    &stand_ins.join("download-artifact"),
                )
                .stand_in(&format!("relkit/relkit@{}", self.pinned), self.actions.path());
        // The Docker steps are skipped under buildah; act still wants their sources.
        for uses in [
            "docker/setup-buildx-action@8d2750c68a42422c14e847fe6c8ac0403b4cbd6f",
            "docker/login-action@5e57cd118135c172c3672efd75eb46360885c0ef",
            "docker/build-push-action@263435318d21b8e681c14492fe198d362a7d2c83",
        ] {
            act = act.stand_in(uses, &placeholder);
        }
        act = act
            .var("RELKIT_TRUSTED_ROOT", self.sigstore.trusted_root.to_str().unwrap())
            .var("RELKIT_SIGNING_CONFIG", self.sigstore.signing_config.to_str().unwrap());
        for (name, value) in self.sigstore.actions_env() {
            act = act.env(name, &value);
        }
        act.run(act_path)
    }

    /// The referrers of `digest` (the registry's `sha256-<hex>` fallback index, read by skopeo).
    fn referrers(&self, digest: &str) -> Vec<Value> {
        let tag = digest.replace(':', "-");
        let raw = self
            .registry
            .inspect_raw(&format!("acme/widget:{tag}"))
            .unwrap_or_else(|| panic!("no referrers of {digest}"));
        let index: Value = serde_json::from_slice(&raw).unwrap();
        index["manifests"].as_array().cloned().unwrap_or_default()
    }

    /// The single layer of the artifact manifest `digest`, copied by skopeo into `scratch`.
    fn referrer_layer(&self, digest: &str, scratch: &Path) -> PathBuf {
        self.registry.artifact_layer("acme/widget", digest, scratch)
    }

    fn platform_digests(&self, tag: &str) -> Vec<(String, String)> {
        ["linux-amd64", "linux-arm64"]
            .iter()
            .map(|slug| {
                let file = self.artifacts.path().join(tag).join(format!("digest-{slug}")).join(slug);
                let digest =
                    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                (slug.to_string(), digest.trim().to_string())
            })
            .collect()
    }
}

fn release_tags(registry: &TestRegistry) -> Vec<String> {
    let mut tags: Vec<String> =
        registry.tags("acme/widget").into_iter().filter(|t| !t.starts_with("sha256-")).collect();
    tags.sort();
    tags
}

/// What the independent judges say about one release of the example, all in one place: each
/// platform manifest is in the registry for its platform (skopeo); the index and every platform
/// manifest are signed by this workflow and verify; each of those digests has an SPDX SBOM
/// referrer and a signed SPDX attestation whose in-toto subject is that digest, whose document
/// pyspdxtools accepts, and (for the index) whose bundle sigstore-python verifies.
fn judge_release(setup: &Setup, index: &str, platforms: &[(String, String)]) {
    let sigstore = &setup.sigstore;
    let host = &setup.registry.host;
    for (slug, digest) in platforms {
        let inspect = setup.registry.skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--config",
            &format!("docker://{host}/acme/widget@{digest}"),
        ]);
        assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
        let config: Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(config["architecture"], slug.trim_start_matches("linux-"), "{config}");
        assert_eq!(config["os"], "linux", "{config}");
    }

    let verified = Command::new(relkit_bin_dir().join("sign"))
        .args(["verify", "image", &format!("{host}/acme/widget@{index}"), "--github-repo", "acme/widget"])
        .arg("--trusted-root")
        .arg(&sigstore.trusted_root)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    let text = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("verified")).count(), 3, "index + 2 platforms:\n{text}");
    // sigstore-rs's cosign module finds and checks the signatures in the registry by itself (the
    // v3 bundle referrers, through the fallback index this registry needs).
    if let Some(judge) = CosignJudge::find("example release (cosign layout)") {
        let signer = JsSigner::Identity { identity: DEFAULT_IDENTITY, issuer: GITHUB_ISSUER };
        for digest in std::iter::once(index).chain(platforms.iter().map(|(_, d)| d.as_str())) {
            let pinned = format!("{host}/acme/widget@{digest}");
            let schemes = judge.verified_schemes(&sigstore.trusted_root, &pinned, signer, &[]);
            assert_eq!(schemes, ["referrer"], "{pinned}");
        }
    }

    let scratch = tempfile::tempdir().unwrap();
    let mut documents = Vec::new();
    let subjects =
        std::iter::once(("index", index)).chain(platforms.iter().map(|(s, d)| (s.as_str(), d.as_str())));
    for (what, digest) in subjects {
        let referrers = setup.referrers(digest);
        assert!(
            referrers.iter().any(|r| r["artifactType"] == "application/spdx+json"),
            "{what} {digest}: no SBOM referrer in {referrers:?}"
        );
        let attestations: Vec<(PathBuf, Value)> = referrers
            .iter()
            .filter(|r| {
                r["artifactType"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("application/vnd.dev.sigstore.bundle"))
            })
            .filter_map(|r| {
                let bundle = setup.referrer_layer(r["digest"].as_str().unwrap(), scratch.path());
                let statement = dsse_statement(&bundle)?;
                (statement["predicateType"] == SPDX_PREDICATE).then_some((bundle, statement))
            })
            .collect();
        assert_eq!(attestations.len(), 1, "{what} {digest}: one SPDX attestation in {referrers:?}");
        let (bundle, statement) = &attestations[0];
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"].as_str(),
            digest.strip_prefix("sha256:"),
            "{what}: the attestation is bound to {digest}"
        );
        let document = scratch.path().join(format!("{what}.spdx.json"));
        std::fs::write(&document, serde_json::to_vec_pretty(&statement["predicate"]).unwrap()).unwrap();
        documents.push(document);
        if what == "index" {
            let judged = sigstore_python_verify_identity(
                &sigstore.client_trust_config,
                bundle,
                DEFAULT_IDENTITY,
                GITHUB_ISSUER,
                digest,
            );
            assert!(
                judged.status.success(),
                "sigstore-python on the index's SBOM attestation: {}",
                String::from_utf8_lossy(&judged.stderr)
            );
        } else {
            let arch = what.trim_start_matches("linux-");
            let packages = statement["predicate"]["packages"].to_string();
            assert!(
                packages.contains(&format!("pkg:deb/debian/{IMAGE_PACKAGE}@"))
                    && packages.contains(&format!("arch={arch}")),
                "{what}: the SBOM lists the image's {IMAGE_PACKAGE} for {arch}: {packages}"
            );
        }
    }
    let judged = pyspdxtools(&documents);
    assert!(
        judged.status.success(),
        "pyspdxtools: {}{}",
        String::from_utf8_lossy(&judged.stdout),
        String::from_utf8_lossy(&judged.stderr)
    );
}

/// pyspdxtools (spdx-tools' own command, its `main` as `pyspdxtools -i FILE` runs it) on each
/// file, in one Python process; fails naming the files it rejects.
fn pyspdxtools(files: &[PathBuf]) -> std::process::Output {
    const SCRIPT: &str = "import sys\n\
        from spdx_tools.spdx.clitools.pyspdxtools import main\n\
        rejected = []\n\
        for path in sys.argv[1:]:\n\
        \x20   try:\n\
        \x20       main(['-i', path], standalone_mode=False)\n\
        \x20   except SystemExit as exit:\n\
        \x20       if exit.code:\n\
        \x20           rejected.append(path)\n\
        print('rejected:', ' '.join(rejected))\n\
        sys.exit(1 if rejected else 0)\n";
    Command::new("python3").args(["-c", SCRIPT]).args(files).output().expect("python3 runs")
}

/// The release notes step published `tag` to the GitHub fake: a prerelease for an RC, `latest`
/// only for the highest stable release, and a body whose Verification block names the index
/// digest with its `cosign verify` command.
fn judge_published_notes(setup: &Setup, tag: &str, index: &str) {
    let writes = setup.github.release_writes(tag);
    let payload =
        writes.last().unwrap_or_else(|| panic!("{tag} was not published: {:?}", setup.github.requests()));
    assert_eq!(payload["tag_name"], tag, "{payload}");
    assert_eq!(payload["name"], tag, "{payload}");
    assert_eq!(payload["draft"], false, "{payload}");
    let prerelease = tag.contains("-rc.");
    assert_eq!(payload["prerelease"], prerelease, "{payload}");
    let latest = if prerelease || tag == "v1.4.1" { "false" } else { "true" };
    assert_eq!(payload["make_latest"], latest, "{tag}: {payload}");
    let body = payload["body"].as_str().unwrap();
    let block =
        body.split("# Verification").nth(1).unwrap_or_else(|| panic!("no Verification block:\n{body}"));
    let reference = format!("{}/acme/widget@{index}", setup.registry.host);
    assert!(block.contains(&format!("`{reference}`")), "{tag}: the index digest in\n{block}");
    assert!(
        block.lines().any(|l| l.starts_with("cosign verify ") && l.ends_with(&reference)),
        "{tag}: the cosign verify command for the index in\n{block}"
    );
    let stored = setup.github.releases();
    let release = stored.iter().find(|r| r["tag_name"] == tag).unwrap();
    assert_eq!(release["body"], payload["body"]);
}

/// The in-toto statement of a DSSE bundle, `None` for a message-signature bundle.
fn dsse_statement(bundle: &Path) -> Option<Value> {
    let bundle: Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    let payload = bundle["dsseEnvelope"]["payload"].as_str()?;
    Some(serde_json::from_slice(&STANDARD.decode(payload).unwrap()).unwrap())
}

#[test]
fn the_example_releases_signs_and_tags_v1_4_0_then_an_rc_then_a_hotfix() {
    let test = "the_example_releases_signs_and_tags_v1_4_0_then_an_rc_then_a_hotfix";
    if !require_judges(test) || !relkit_testkit::tools::require_tool(test, "pyspdxtools") {
        return;
    }
    let Some((act, setup)) = setup(test) else { return };
    let mut index_of = std::collections::BTreeMap::new();

    let release = |tag: &str, index_of: &mut std::collections::BTreeMap<String, String>| {
        setup.repo.commit(&format!("feat: towards {tag}"));
        setup.repo.tag(tag);
        let run = setup.run(&act, tag);
        assert!(run.success, "act failed for {tag}:\n{}", run.transcript());
        let digest = run
            .step_outputs("index")
            .get("digest")
            .cloned()
            .unwrap_or_else(|| panic!("no index digest:\n{}", run.transcript()));
        judge_release(&setup, &digest, &setup.platform_digests(tag));
        judge_published_notes(&setup, tag, &digest);
        index_of.insert(tag.to_string(), digest);
    };
    let digest_of = |tag: &str| setup.registry.manifest_digest(&format!("acme/widget:{tag}"));

    release("v1.4.0", &mut index_of);
    assert_eq!(digest_of("latest"), Some(index_of["v1.4.0"].clone()));
    release("v1.5.0-rc.1", &mut index_of);
    assert_eq!(digest_of("latest"), Some(index_of["v1.4.0"].clone()), "an RC leaves latest alone");
    assert_eq!(digest_of("v1.5.0-rc.1"), Some(index_of["v1.5.0-rc.1"].clone()));
    release("v1.5.0", &mut index_of);
    assert_eq!(digest_of("latest"), Some(index_of["v1.5.0"].clone()));
    release("v1.4.1", &mut index_of);
    assert_eq!(digest_of("latest"), Some(index_of["v1.5.0"].clone()), "a hotfix leaves latest alone");
    assert_eq!(digest_of("v1.4.1"), Some(index_of["v1.4.1"].clone()));
    // tag-policy's rule: `X.Y` and `X` only move for the highest of the major line, so after
    // v1.5.0 the hotfix gets its own tags and `1.4` stays where v1.4.0 put it.
    assert_eq!(digest_of("1.4"), Some(index_of["v1.4.0"].clone()));
    assert_eq!(digest_of("1.5"), Some(index_of["v1.5.0"].clone()));
    assert_eq!(digest_of("1"), Some(index_of["v1.5.0"].clone()));
    // Exactly the planned tags (a `sha-` tag per release, `candidate` for the RC): the builds
    // and the index were pushed by digest only.
    let (sha_tags, tags): (Vec<String>, Vec<String>) =
        release_tags(&setup.registry).into_iter().partition(|t| t.starts_with("sha-"));
    assert_eq!(tags, ["1", "1.4", "1.5", "candidate", "latest", "v1.4.0", "v1.4.1", "v1.5.0", "v1.5.0-rc.1"]);
    assert_eq!(sha_tags.len(), 4, "{sha_tags:?}");
}
