//! relkit-forge: releases on a forge, GitHub (REST v3, GraphQL) or Forgejo/Gitea (API v1),
//! behind one small interface over one HTTP layer ([`http`]: streamed uploads, retries only
//! for requests safe to repeat, rate limits waited out). notes-gen's idempotent publisher drives
//! it; [`Forge::put_release_asset`] is the "upload or replace this asset on the release of tag
//! T" call for the steps that attach files (signatures, SBOMs).

pub mod forgejo;
pub mod github;
pub mod http;
mod releases;

use std::path::Path;

use relkit_core::Result;
use serde::Deserialize;

/// A release as the forge reports it (the fields both forges share).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RemoteRelease {
    /// The forge's numeric id.
    pub id: u64,
    /// The tag the release belongs to.
    pub tag_name: String,
    /// The title.
    #[serde(default)]
    pub name: Option<String>,
    /// The Markdown body.
    #[serde(default)]
    pub body: Option<String>,
    /// Not yet published.
    #[serde(default)]
    pub draft: bool,
    /// Marked as a prerelease.
    #[serde(default)]
    pub prerelease: bool,
    /// GitHub's upload URL template (`…/assets{?name,label}`); Forgejo's is not used.
    #[serde(default)]
    pub upload_url: Option<String>,
    /// The release page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// An asset attached to a release.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RemoteAsset {
    /// The forge's numeric id.
    pub id: u64,
    /// The file name.
    pub name: String,
    /// GitHub's upload state: `uploaded` once complete (`starter` for an interrupted upload);
    /// Forgejo has none.
    #[serde(default)]
    pub state: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
}

impl RemoteAsset {
    /// Whether this is a complete upload of `len` bytes (as far as the forge tells).
    fn is_complete(&self, len: u64) -> bool {
        self.state.as_deref().is_none_or(|s| s == "uploaded") && self.size.is_none_or(|s| s == len)
    }
}

/// What one upload request did.
#[derive(Debug)]
pub enum Uploaded {
    /// The forge stored the asset.
    Stored(RemoteAsset),
    /// The answer was lost (5xx, dropped connection, stall): the asset may or may not be there.
    Unclear(String),
}

/// The fields of a release to create, or to change (`None` keeps the current value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseFields {
    /// The tag (always set on create).
    pub tag_name: Option<String>,
    /// The commit to create the tag at when it does not exist yet.
    pub target_commitish: Option<String>,
    /// The title.
    pub name: Option<String>,
    /// The Markdown body.
    pub body: Option<String>,
    /// Draft or published.
    pub draft: Option<bool>,
    /// Prerelease flag.
    pub prerelease: Option<bool>,
    /// Whether this release becomes "Latest" (GitHub only).
    pub make_latest: Option<bool>,
}

/// Which forge a run talks to.
#[derive(Debug, Clone)]
pub enum Forge {
    /// github.com or GitHub Enterprise Server.
    Github(github::GithubApi),
    /// Forgejo or Gitea.
    Forgejo(forgejo::ForgejoApi),
}

impl Forge {
    /// The forge of an Actions step (or a laptop with the same variables): `repository` is
    /// `owner/name`; GitHub through `GITHUB_API_URL`, `GITHUB_GRAPHQL_URL` and `GITHUB_TOKEN`,
    /// or Forgejo at `forgejo_server` with `FORGEJO_TOKEN` (or `GITEA_TOKEN`).
    pub fn from_env(
        env: &dyn relkit_core::actions::Env,
        repository: &str,
        forgejo_server: Option<&str>,
    ) -> Result<Self> {
        let (owner, name) = repository
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| {
                relkit_core::Error::usage(format!("repository {repository:?} must be owner/name"))
            })?;
        let var = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
        let policy = http::RetryPolicy::default();
        Ok(match forgejo_server {
            None => {
                let api = var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
                let graphql = var("GITHUB_GRAPHQL_URL").unwrap_or_else(|| format!("{api}/graphql"));
                let http = http::Http::new("GitHub", var("GITHUB_TOKEN"), http::AuthScheme::Bearer, policy)?;
                Forge::Github(github::GithubApi::new(http, &api, &graphql, owner, name))
            }
            Some(server) => {
                let token = var("FORGEJO_TOKEN").or_else(|| var("GITEA_TOKEN"));
                let http = http::Http::new("Forgejo", token, http::AuthScheme::Token, policy)?;
                Forge::Forgejo(forgejo::ForgejoApi::new(http, server, owner, name))
            }
        })
    }

    /// The forge's name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Forge::Github(_) => "GitHub",
            Forge::Forgejo(_) => "Forgejo",
        }
    }

    /// The release for `tag`, drafts included, or `None`.
    pub async fn find_release(&self, tag: &str) -> Result<Option<RemoteRelease>> {
        match self {
            Forge::Github(f) => releases::find_release(f, tag).await,
            Forge::Forgejo(f) => releases::find_release(f, tag).await,
        }
    }

    /// Creates a release. Never repeated blindly: on an unclear failure the caller looks it up.
    pub async fn create_release(&self, fields: &ReleaseFields) -> Result<CreateOutcome> {
        match self {
            Forge::Github(f) => releases::create_release(f, fields).await,
            Forge::Forgejo(f) => releases::create_release(f, fields).await,
        }
    }

    /// Changes the given fields of a release.
    pub async fn update_release(&self, id: u64, fields: &ReleaseFields) -> Result<RemoteRelease> {
        match self {
            Forge::Github(f) => releases::update_release(f, id, fields).await,
            Forge::Forgejo(f) => releases::update_release(f, id, fields).await,
        }
    }

    /// All assets of a release (every page).
    pub async fn list_assets(&self, release: &RemoteRelease) -> Result<Vec<RemoteAsset>> {
        match self {
            Forge::Github(f) => releases::list_assets(f, release).await,
            Forge::Forgejo(f) => releases::list_assets(f, release).await,
        }
    }

    /// Deletes one asset.
    pub async fn delete_asset(&self, release: &RemoteRelease, asset: &RemoteAsset) -> Result<()> {
        match self {
            Forge::Github(f) => releases::delete_asset(f, release, asset).await,
            Forge::Forgejo(f) => releases::delete_asset(f, release, asset).await,
        }
    }

    /// Renames an asset.
    pub async fn rename_asset(
        &self,
        release: &RemoteRelease,
        asset: &RemoteAsset,
        name: &str,
    ) -> Result<RemoteAsset> {
        match self {
            Forge::Github(f) => releases::rename_asset(f, release, asset, name).await,
            Forge::Forgejo(f) => releases::rename_asset(f, release, asset, name).await,
        }
    }

    /// Uploads a file as an asset named `name`, streamed from disk (one request).
    pub async fn upload_asset(&self, release: &RemoteRelease, path: &Path, name: &str) -> Result<Uploaded> {
        match self {
            Forge::Github(f) => releases::upload_asset(f, release, path, name).await,
            Forge::Forgejo(f) => releases::upload_asset(f, release, path, name).await,
        }
    }

    fn policy(&self) -> http::RetryPolicy {
        match self {
            Forge::Github(f) => f.policy(),
            Forge::Forgejo(f) => f.policy(),
        }
    }

    /// Uploads a file as the asset `name` until the forge has stored it: when an attempt's
    /// outcome is unclear (a 5xx, a dropped connection, a stall), the release's asset list
    /// says what happened: a complete asset of that name is the upload; a partial one is
    /// deleted; then the file is sent again (at most the policy's retries, with backoff).
    pub async fn upload_stored(
        &self,
        release: &RemoteRelease,
        path: &Path,
        name: &str,
    ) -> Result<RemoteAsset> {
        let len = std::fs::metadata(path)
            .map_err(|e| relkit_core::Error::usage(format!("cannot read asset {}: {e}", path.display())))?
            .len();
        let policy = self.policy();
        let mut delay = policy.backoff_base;
        let mut attempt = 0;
        loop {
            let why = match self.upload_asset(release, path, name).await? {
                Uploaded::Stored(asset) => return Ok(asset),
                Uploaded::Unclear(why) => why,
            };
            match self.list_assets(release).await?.into_iter().find(|a| a.name == name) {
                Some(asset) if asset.is_complete(len) => return Ok(asset),
                Some(partial) => self.delete_asset(release, &partial).await?,
                None => {}
            }
            attempt += 1;
            if attempt > policy.max_retries {
                return Err(relkit_core::Error::failed(format!(
                    "{} upload of asset {name:?} failed {attempt} times, the last time: {why}; nothing was stored",
                    self.name()
                )));
            }
            eprintln!(
                "{}: upload of asset {name:?} failed ({why}) and nothing was stored; sending it again in {:.1}s",
                self.name(),
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
}

/// What putting one asset on a release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutAsset {
    /// The name it has on the release (normalized as GitHub stores names).
    pub name: String,
    /// An asset of that name was there before and was replaced.
    pub replaced: bool,
}

impl Forge {
    /// Uploads `path` as the asset `name` of `release`, replacing an asset of the same
    /// (normalized) name among `existing`: the file goes up under a temporary name first, then
    /// the old asset is deleted and the new one renamed into place, so a failed upload never
    /// leaves the release without the asset. A temporary asset left by an interrupted run is
    /// deleted first. Safe to re-run.
    pub async fn replace_asset(
        &self,
        release: &RemoteRelease,
        existing: &[RemoteAsset],
        path: &Path,
        name: &str,
    ) -> Result<PutAsset> {
        let name = normalized_asset_name(name);
        let temporary = temporary_name(&name);
        for stale in existing.iter().filter(|a| a.name == temporary) {
            self.delete_asset(release, stale).await?;
        }
        let new = self.upload_stored(release, path, &temporary).await?;
        let old = existing.iter().find(|a| normalized_asset_name(&a.name) == name);
        if let Some(old) = old {
            self.delete_asset(release, old).await?;
        }
        self.rename_asset(release, &new, &name).await?;
        Ok(PutAsset { name, replaced: old.is_some() })
    }

    /// Uploads or replaces the asset `name` on the release of `tag` (which must exist): the
    /// call `sign` and `sbom-attach` use to attach their files.
    pub async fn put_release_asset(&self, tag: &str, path: &Path, name: &str) -> Result<PutAsset> {
        let release = self.find_release(tag).await?.ok_or_else(|| {
            relkit_core::Error::usage(format!(
                "there is no {} release for tag {tag}: publish it first (notes-gen --publish)",
                self.name()
            ))
        })?;
        let existing = self.list_assets(&release).await?;
        self.replace_asset(&release, &existing, path, name).await
    }
}

/// An asset name as GitHub stores it: it renames names with characters other than letters,
/// digits, `.`, `-`, `_`, `+` and `@` (each run of them becomes one `.`) and drops leading
/// and trailing periods, and the asset list then shows the new name. Matching on the
/// normalized name lets a re-run find the asset it uploaded before.
pub fn normalized_asset_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut replaced = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '@') {
            out.push(c);
            replaced = false;
        } else if c == '.' && !replaced {
            out.push(c);
        } else if !out.ends_with('.') {
            out.push('.');
            replaced = true;
        } else {
            replaced = true;
        }
    }
    out.trim_matches('.').to_string()
}

/// The name an asset is uploaded under before it replaces the old one.
fn temporary_name(name: &str) -> String {
    format!("{name}.relkit-upload")
}

/// What a create call found.
#[derive(Debug)]
pub enum CreateOutcome {
    /// The release was created.
    Created(RemoteRelease),
    /// The forge says a release for the tag exists already (a concurrent run made it).
    AlreadyExists,
}

/// Percent-encodes one path segment (a tag may contain `/` in monorepos).
pub fn path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The JSON body for create/update: only the fields that are set.
fn fields_json(fields: &ReleaseFields, with_make_latest: bool) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        map.insert(k.to_string(), v);
    };
    if let Some(v) = &fields.tag_name {
        put("tag_name", v.clone().into());
    }
    if let Some(v) = &fields.target_commitish {
        put("target_commitish", v.clone().into());
    }
    if let Some(v) = &fields.name {
        put("name", v.clone().into());
    }
    if let Some(v) = &fields.body {
        put("body", v.clone().into());
    }
    if let Some(v) = fields.draft {
        put("draft", v.into());
    }
    if let Some(v) = fields.prerelease {
        put("prerelease", v.into());
    }
    if with_make_latest && let Some(v) = fields.make_latest {
        put("make_latest", if v { "true" } else { "false" }.into());
    }
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("api/v1.2.3"), "api%2Fv1.2.3");
        assert_eq!(path_segment("my file+x.tar.gz"), "my%20file%2Bx.tar.gz");
    }

    #[test]
    fn only_set_fields_are_sent() {
        let f = ReleaseFields { body: Some("b".into()), make_latest: Some(false), ..Default::default() };
        assert_eq!(fields_json(&f, true), serde_json::json!({"body": "b", "make_latest": "false"}));
        assert_eq!(fields_json(&f, false), serde_json::json!({"body": "b"}));
    }

    #[test]
    fn asset_names_are_normalized_as_github_does() {
        for (name, want) in [
            ("app-linux-amd64.tar.gz", "app-linux-amd64.tar.gz"),
            ("app linux #1.tar.gz", "app.linux.1.tar.gz"),
            (".hidden", "hidden"),
            ("a (copy).zip", "a.copy.zip"),
            ("pkg+meta@2.whl", "pkg+meta@2.whl"),
        ] {
            assert_eq!(normalized_asset_name(name), want, "{name}");
        }
    }
}
