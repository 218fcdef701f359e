//! The resolver `--fix` uses for real: image tags through the registry (relkit-registry, with
//! the same credentials and insecure-registry settings as every other command), action refs
//! through `git ls-remote` against the GitHub server.

use relkit_core::actions::Env;
use relkit_core::{Error, Result};
use relkit_registry::{AnyRegistry, HttpOptions, Location, Registry as _};

use super::fix::{GitActionResolver, Resolver};

/// Resolves against live registries and git servers.
pub struct LiveResolver {
    runtime: tokio::runtime::Runtime,
    options: HttpOptions,
    git: GitActionResolver,
}

impl LiveResolver {
    /// Registry options from the environment (`RELKIT_INSECURE_REGISTRIES`); actions from
    /// `GITHUB_SERVER_URL` (default `https://github.com`).
    pub fn new(env: &dyn Env) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}")))?;
        let server = env
            .var("GITHUB_SERVER_URL")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "https://github.com".into());
        Ok(Self { runtime, options: HttpOptions::from_env(env), git: GitActionResolver { server } })
    }
}

impl Resolver for LiveResolver {
    fn image_digest(&self, image: &str) -> Result<String> {
        let reference = relkit_registry::ImageRef::parse(image)?;
        if !matches!(reference.location, Location::Registry { .. }) {
            return Err(Error::usage(format!("{image} is not a registry reference")));
        }
        let registry = AnyRegistry::open(&reference, &self.options)?;
        let tag = reference.tag_or_latest();
        let found = self.runtime.block_on(registry.head_manifest(reference.repository(), tag))?;
        found.map(|descriptor| descriptor.digest.to_string()).ok_or_else(|| {
            Error::failed(format!("{} has no tag {tag} on {}", reference.repository_name(), registry.name()))
        })
    }

    fn action_commit(&self, repo: &str, git_ref: &str) -> Result<String> {
        self.git.commit(repo, git_ref)
    }
}
