//! `examples/promote.yml` under act (seed 003's channels): a signed two-platform image tagged
//! `next` in a real registry (docker-registry on loopback), signed keyless by the Sigstore mock
//! as the build workflow would; the tag `v1.2.0-test` promotes it to `testing`, then `v1.2.0` to
//! `stable` in another repository with the release tags. After each promotion the destination
//! verifies (`sign verify image` with the mock's trust root) and skopeo sees the tags.

use std::path::PathBuf;
use std::process::Command;

use relkit_act_tests::{
    Act, ActRun, Repo, relkit_actions_only, relkit_bin_dir, require_tool, tag_push_event, workspace_root,
};
use relkit_registry::LayoutRegistry;
use relkit_registry::image::{ImageSpec, write_index};
use relkit_testkit::registry::TestRegistry;
use relkit_testkit::sigstore::MockSigstore;

struct Setup {
    act: PathBuf,
    repo: Repo,
    registry: TestRegistry,
    sigstore: MockSigstore,
    pinned: String,
    actions: tempfile::TempDir,
    scratch: tempfile::TempDir,
}

impl Setup {
    fn start(test: &str) -> Option<Self> {
        let act = require_tool(test, "act")?;
        let registry = TestRegistry::start(test, None)?;
        let sigstore = MockSigstore::start(test)?;
        let repo = Repo::with_workspace_snapshot();
        let example = workspace_root().join("examples/promote.yml");
        std::fs::copy(&example, repo.path().join(".github/workflows/example-promote.yml")).unwrap();
        repo.commit("feat: the promotion workflow");
        let pinned = std::fs::read_to_string(&example)
            .unwrap()
            .lines()
            .find_map(|line| line.trim().strip_prefix("- uses: relkit/relkit@"))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the example pins relkit/relkit")
            .to_string();
        let actions = relkit_actions_only();
        Some(Self { act, repo, registry, sigstore, pinned, actions, scratch: tempfile::tempdir().unwrap() })
    }

    /// What the build workflow leaves behind: a two-platform index tagged `repo:next`, signed
    /// keyless (index and platforms) by `acme/widget`'s workflow. Returns the index digest.
    fn build_next(&self, content: &str) -> String {
        let layout = self.scratch.path().join(content);
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
            let registry = LayoutRegistry::new(&layout);
            let spec =
                ImageSpec { files: vec![("app".into(), content.as_bytes().to_vec())], ..Default::default() };
            let images: Vec<(&str, ImageSpec)> =
                ["amd64", "arm64"].into_iter().map(|a| (a, spec.clone())).collect();
            write_index(&registry, &images, Some("next")).await.unwrap();
        });
        self.registry.push_layout(&layout, "next", "acme/widget");
        let signed = Command::new(relkit_bin_dir().join("sign"))
            .args(["image", &format!("{}/acme/widget:next", self.registry.host)])
            .arg("--trusted-root")
            .arg(&self.sigstore.trusted_root)
            .arg("--signing-config")
            .arg(&self.sigstore.signing_config)
            .envs(self.sigstore.actions_env())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "acme/widget")
            .env("GITHUB_OUTPUT", self.scratch.path().join("sign-output"))
            .env("GITHUB_STEP_SUMMARY", self.scratch.path().join("sign-summary"))
            .env_remove("SIGSTORE_ID_TOKEN")
            .output()
            .unwrap();
        assert!(signed.status.success(), "sign image: {}", String::from_utf8_lossy(&signed.stderr));
        self.digest_of("acme/widget:next").expect("next was pushed")
    }

    fn push_tag(&self, tag: &str) -> ActRun {
        self.repo.commit(&format!("fix: towards {tag}"));
        self.repo.tag(tag);
        Act::new(&self.repo, "push", tag_push_event(tag, &self.repo.head()), "example-promote.yml", "")
            .var("RELKIT_IMAGE", &format!("{}/acme/widget", self.registry.host))
            .var("RELKIT_STABLE_IMAGE", &format!("{}/acme/widget-stable", self.registry.host))
            .var("RELKIT_INSECURE_REGISTRY", &self.registry.host)
            .var("RELKIT_TRUSTED_ROOT", self.sigstore.trusted_root.to_str().unwrap())
            .stand_in(&format!("relkit/relkit@{}", self.pinned), self.actions.path())
            .run(&self.act)
    }

    /// `sign verify image` of `reference` against the mock's trust root, for `acme/widget`'s
    /// workflow: the number of verified digests.
    fn verified(&self, reference: &str) -> Result<usize, String> {
        let out = Command::new(relkit_bin_dir().join("sign"))
            .args([
                "verify",
                "image",
                &format!("{}/{reference}", self.registry.host),
                "--github-repo",
                "acme/widget",
            ])
            .arg("--trusted-root")
            .arg(&self.sigstore.trusted_root)
            .env_remove("GITHUB_ACTIONS")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            Ok(stdout.lines().filter(|l| l.starts_with("verified")).count())
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    fn digest_of(&self, reference: &str) -> Option<String> {
        self.registry.manifest_digest(reference)
    }

    fn release_tags(&self, repo: &str) -> Vec<String> {
        self.registry.tags(repo).into_iter().filter(|t| !t.starts_with("sha256-")).collect()
    }
}

#[test]
fn the_example_promotes_next_to_testing_to_stable_by_digest_with_the_signatures() {
    let test = "the_example_promotes_next_to_testing_to_stable_by_digest_with_the_signatures";
    let Some(setup) = Setup::start(test) else { return };
    let next = setup.build_next("build 1");

    let run = setup.push_tag("v1.2.0-test");
    assert!(run.success, "act failed for v1.2.0-test:\n{}", run.transcript());
    assert_eq!(setup.digest_of("acme/widget:testing"), Some(next.clone()));
    assert_eq!(setup.verified("acme/widget:testing"), Ok(3), "index + 2 platforms");
    assert_eq!(setup.release_tags("acme/widget"), ["next", "testing"]);
    assert_eq!(setup.release_tags("acme/widget-stable"), Vec::<String>::new());

    // A newer, unsigned build on `next` does not disturb `testing`, and stable takes testing's.
    let unsigned = {
        let layout = setup.scratch.path().join("unsigned");
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
            let spec = ImageSpec { files: vec![("app".into(), b"build 2".to_vec())], ..Default::default() };
            write_index(&LayoutRegistry::new(&layout), &[("amd64", spec)], Some("next")).await.unwrap()
        });
        setup.registry.push_layout(&layout, "next", "acme/widget");
        setup.digest_of("acme/widget:next").unwrap()
    };
    assert_ne!(unsigned, next);

    let run = setup.push_tag("v1.2.0");
    assert!(run.success, "act failed for v1.2.0:\n{}", run.transcript());
    for tag in ["stable", "v1.2.0", "1.2", "1", "latest"] {
        assert_eq!(setup.digest_of(&format!("acme/widget-stable:{tag}")), Some(next.clone()), "{tag}");
    }
    // The signatures came along to the other repository.
    assert_eq!(setup.verified("acme/widget-stable:stable"), Ok(3), "index + 2 platforms");
    let mut stable_tags = setup.release_tags("acme/widget-stable");
    stable_tags.sort();
    assert_eq!(stable_tags, ["1", "1.2", "latest", "stable", "v1.2.0"]);
    assert_eq!(setup.digest_of("acme/widget:testing"), Some(next));

    // Nothing unsigned reaches a channel: promoting the unsigned `next` fails before any write.
    let run = setup.push_tag("v1.3.0-test");
    assert!(!run.success, "an unsigned image was promoted:\n{}", run.transcript());
    let errors = run.error_annotations();
    assert!(
        errors.iter().any(|e| e.starts_with("sign: ") && e.contains("no signatures found")),
        "an ::error:: naming the missing signature: {errors:?}"
    );
    assert_ne!(setup.digest_of("acme/widget:testing"), Some(unsigned));
}
