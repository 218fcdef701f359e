//! The keyless test world shared by `sign` and `sbom-attach` tests (included with `#[path]`): a
//! private Sigstore instance and a real registry on loopback, a scratch directory, multi-platform
//! indexes pushed by digest, the signers run as Actions steps, and the helpers that read back what
//! they wrote and pass it to the judges.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use relkit_testkit::tools::ok;

use base64::Engine as _;
use relkit_registry::LayoutRegistry;
use relkit_registry::image::{ImageSpec, write_index};
use relkit_testkit::registry::TestRegistry;
use relkit_testkit::sigstore::{
    DEFAULT_IDENTITY, GITHUB_ISSUER, MockSigstore, require_judges, sigstore_python_verify_identity,
};
use serde_json::Value;

/// A private Sigstore instance, a registry and a scratch directory.
pub struct World {
    pub sigstore: MockSigstore,
    pub registry: TestRegistry,
    pub dir: tempfile::TempDir,
}

impl World {
    /// The world, or `None` (a SKIPPED line) when a judge or tool is missing outside CI.
    pub fn start(test: &str) -> Option<Self> {
        if !require_judges(test) {
            return None;
        }
        let sigstore = MockSigstore::start(test)?;
        let registry = TestRegistry::start(test, None)?;
        Some(Self { sigstore, registry, dir: tempfile::tempdir().unwrap() })
    }

    /// `binary` as an Actions step of `acme/widget` with `id-token: write`: the token endpoint,
    /// step output and summary files in the scratch directory, the private instance's trust.
    pub fn step(&self, binary: &str) -> Command {
        let mut cmd = Command::new(binary);
        cmd.current_dir(self.dir.path())
            .envs(self.sigstore.actions_env())
            .env_remove("SIGSTORE_ID_TOKEN")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", self.dir.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", self.dir.path().join("summary"))
            .env("GITHUB_REPOSITORY", "acme/widget")
            .env("RELKIT_INSECURE_REGISTRIES", &self.registry.host)
            .env("RELKIT_TRUSTED_ROOT", &self.sigstore.trusted_root)
            .env("RELKIT_SIGNING_CONFIG", &self.sigstore.signing_config);
        cmd
    }

    /// An index of one image per architecture (`amd64`, `arm64`, ...), its file content from
    /// `seed`, pushed as `repo:v1.0.0`; returns that tag reference.
    pub fn index(&self, repo: &str, architectures: &[&str], seed: &str) -> String {
        let layout = self.dir.path().join(format!("layout-{seed}"));
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
            let registry = LayoutRegistry::new(&layout);
            let spec =
                ImageSpec { files: vec![("app".into(), seed.as_bytes().to_vec())], ..Default::default() };
            let images: Vec<(&str, ImageSpec)> = architectures.iter().map(|a| (*a, spec.clone())).collect();
            write_index(&registry, &images, Some("v1.0.0")).await.unwrap();
        });
        self.registry.push_layout(&layout, "v1.0.0", repo);
        format!("{}/{repo}:v1.0.0", self.registry.host)
    }

    /// Asserts that sigstore-python (offline, this instance's trust) accepts `bundle` as the
    /// default identity's signature of `artifact` (a file path or `sha256:<hex>`).
    pub fn python_accepts(&self, bundle: &Path, artifact: &str) {
        judged(
            sigstore_python_verify_identity(
                &self.sigstore.client_trust_config,
                bundle,
                DEFAULT_IDENTITY,
                GITHUB_ISSUER,
                artifact,
            ),
            "sigstore-python",
        );
    }

    /// The bundle blob of a referrer manifest, fetched with skopeo.
    pub fn referrer_bundle(&self, repo: &str, referrer: &str) -> PathBuf {
        self.registry.artifact_layer(repo, referrer, self.dir.path())
    }

    /// `tag-policy promote`'s operation, by digest, to `acme/widget-stable` on the same host as
    /// `image`; with `prune`, then `tag-policy prune --apply` of the source with default
    /// retention. Returns the promoted reference (`HOST/acme/widget-stable@sha256:…`).
    pub fn promote(&self, image: &str, prune: bool) -> String {
        use relkit_registry::ops::{promote, prune as retention};
        use relkit_registry::{AnyRegistry, HttpOptions, ImageRef};
        let source = ImageRef::parse(image).unwrap();
        let host = image.split('/').next().unwrap().to_string();
        let options = HttpOptions { insecure_registries: vec![host.clone()], ..Default::default() };
        let dest = ImageRef::parse(&format!("{host}/acme/widget-stable")).unwrap();
        let registry = AnyRegistry::open(&source, &options).unwrap();
        tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
            let report = promote::promote(
                &registry,
                &source,
                &registry,
                &dest,
                &promote::PromoteOptions { concurrency: 4, ..Default::default() },
            )
            .await
            .unwrap();
            if prune {
                let policy = retention::Retention::default();
                let repo = source.repository();
                retention::prune(&registry, repo, &policy, None, true, jiff::Timestamp::now()).await.unwrap();
            }
            format!("{host}/acme/widget-stable@{}", report.digest)
        })
    }
}

/// Asserts that a judge accepted.
pub fn judged(out: Output, judge: &str) {
    assert!(
        out.status.success(),
        "{judge}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The in-toto statement inside a DSSE bundle.
pub fn statement(bundle: &Path) -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    let payload = v["dsseEnvelope"]["payload"].as_str().unwrap();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(payload).unwrap()).unwrap()
}
