//! Forgejo and Gitea releases through their API v1 (`{server}/api/v1`, token auth).
//!
//! Endpoints used (shapes as in Forgejo's swagger, `/api/swagger`):
//! - `GET /repos/{o}/{r}/releases/tags/{tag}`; on 404 `GET /repos/{o}/{r}/releases?draft=true&limit=50`
//!   (paged by `Link`) to find a draft for the tag.
//! - `POST /repos/{o}/{r}/releases` (409 when a release for the tag exists),
//!   `PATCH /repos/{o}/{r}/releases/{id}`.
//! - `GET /repos/{o}/{r}/releases/{id}/assets`, `DELETE /repos/{o}/{r}/releases/{id}/assets/{asset}`,
//!   `POST /repos/{o}/{r}/releases/{id}/assets?name=…` with the raw file as the body
//!   (Forgejo/Gitea 1.21 and later accept a non-multipart upload).
//!
//! - `GET /repos/{o}/{r}/commits/{sha}/pull`: the pull request that brought a commit in (Gitea
//!   1.22 and later); 404 when there is none or the server does not have the endpoint.
//!
//! Forgejo has no `make_latest`: it shows the newest published non-prerelease as latest.

use std::path::Path;

use std::collections::BTreeMap;

use relkit_core::{Error, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::github::PullRequest;
use super::http::{Http, Payload, Replay};
use super::{CreateOutcome, ReleaseFields, RemoteAsset, RemoteRelease, fields_json, path_segment};

/// A Forgejo or Gitea repository's API.
#[derive(Debug, Clone)]
pub struct ForgejoApi {
    http: Http,
    api_url: String,
    owner: String,
    repo: String,
}

impl ForgejoApi {
    /// A client for `owner/repo` on `server` (e.g. `https://forge.example.org`).
    pub fn new(http: Http, server: &str, owner: &str, repo: &str) -> Self {
        Self {
            http: http.with_header("accept", "application/json"),
            api_url: format!("{}/api/v1", server.trim_end_matches('/')),
            owner: owner.to_string(),
            repo: repo.to_string(),
        }
    }

    /// The merged pull request of each commit (one request per commit). Returns `None` when the
    /// server answers 404 for every commit (no endpoint, or no pull requests at all), so the
    /// caller can say that nothing was found.
    pub async fn pull_requests(&self, shas: &[String]) -> Result<Option<BTreeMap<String, PullRequest>>> {
        let mut found = BTreeMap::new();
        let mut answered = false;
        for sha in shas {
            let url = format!("{}/commits/{}/pull", self.repo_url(), path_segment(sha));
            let reply = self.http.send(Method::GET, &url, Payload::Empty, Replay::Safe).await?;
            if reply.status == StatusCode::NOT_FOUND {
                continue;
            }
            if !reply.status.is_success() {
                return Err(self.http.unexpected(&reply, "get the pull request of a commit"));
            }
            answered = true;
            let pr: GiteaPull = reply.json("get the pull request of a commit")?;
            if pr.merged {
                found.insert(sha.clone(), pr.into_pull_request());
            }
        }
        Ok(answered.then_some(found))
    }

    fn repo_url(&self) -> String {
        format!("{}/repos/{}/{}", self.api_url, path_segment(&self.owner), path_segment(&self.repo))
    }

    /// The release for `tag`, drafts included.
    pub async fn find_release(&self, tag: &str) -> Result<Option<RemoteRelease>> {
        let url = format!("{}/releases/tags/{}", self.repo_url(), path_segment(tag));
        let reply = self.http.send(Method::GET, &url, Payload::Empty, Replay::Safe).await?;
        match reply.status {
            s if s.is_success() => return Ok(Some(reply.json("get release by tag")?)),
            StatusCode::NOT_FOUND => {}
            _ => return Err(self.http.unexpected(&reply, "get release by tag")),
        }
        let list_url = format!("{}/releases?draft=true&limit=50", self.repo_url());
        let drafts: Vec<RemoteRelease> = self.http.get_all_pages(&list_url, "list releases").await?;
        Ok(drafts.into_iter().find(|r| r.tag_name == tag))
    }

    /// Creates a release; 409 means one exists for the tag already.
    pub async fn create_release(&self, fields: &ReleaseFields) -> Result<CreateOutcome> {
        let body = fields_json(fields, false);
        let url = format!("{}/releases", self.repo_url());
        let reply = self.http.send(Method::POST, &url, Payload::Json(&body), Replay::OnlyIfRejected).await?;
        match reply.status {
            StatusCode::CREATED | StatusCode::OK => Ok(CreateOutcome::Created(reply.json("create release")?)),
            StatusCode::CONFLICT => Ok(CreateOutcome::AlreadyExists),
            _ => Err(self.http.unexpected(&reply, "create release")),
        }
    }

    /// Updates the given fields.
    pub async fn update_release(&self, id: u64, fields: &ReleaseFields) -> Result<RemoteRelease> {
        let body = fields_json(fields, false);
        let url = format!("{}/releases/{id}", self.repo_url());
        let reply = self.http.send(Method::PATCH, &url, Payload::Json(&body), Replay::Safe).await?;
        if !reply.status.is_success() {
            return Err(self.http.unexpected(&reply, "update release"));
        }
        reply.json("update release")
    }

    /// All assets of a release.
    pub async fn list_assets(&self, release_id: u64) -> Result<Vec<RemoteAsset>> {
        let url = format!("{}/releases/{release_id}/assets", self.repo_url());
        self.http.get_all_pages(&url, "list release assets").await
    }

    /// Deletes an asset (a 404 means it is gone already).
    pub async fn delete_asset(&self, release_id: u64, asset_id: u64) -> Result<()> {
        let url = format!("{}/releases/{release_id}/assets/{asset_id}", self.repo_url());
        let reply = self.http.send(Method::DELETE, &url, Payload::Empty, Replay::Safe).await?;
        if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.http.unexpected(&reply, "delete release asset"))
        }
    }

    /// Renames an attachment (`PATCH /repos/{o}/{r}/releases/{id}/assets/{attachment_id}`).
    pub async fn rename_asset(&self, release_id: u64, asset_id: u64, name: &str) -> Result<RemoteAsset> {
        let url = format!("{}/releases/{release_id}/assets/{asset_id}", self.repo_url());
        let body = serde_json::json!({ "name": name });
        let reply = self.http.send(Method::PATCH, &url, Payload::Json(&body), Replay::Safe).await?;
        if !reply.status.is_success() {
            return Err(self.http.unexpected(&reply, "rename release asset"));
        }
        reply.json("rename release asset")
    }

    /// Streams a file as a release asset named `name`.
    pub async fn upload_asset(&self, release_id: u64, path: &Path, name: &str) -> Result<RemoteAsset> {
        let base = format!("{}/releases/{release_id}/assets", self.repo_url());
        let mut url = url::Url::parse(&base)
            .map_err(|e| Error::usage(format!("invalid Forgejo server URL {base:?}: {e}")))?;
        url.query_pairs_mut().append_pair("name", name);
        let len = std::fs::metadata(path)
            .map_err(|e| Error::usage(format!("cannot read asset {}: {e}", path.display())))?
            .len();
        let payload = Payload::File { path, content_type: "application/octet-stream", len };
        let reply = self.http.send(Method::POST, url.as_str(), payload, Replay::OnlyIfRejected).await?;
        if reply.status.is_success() {
            reply.json("upload release asset")
        } else {
            Err(self.http.unexpected(&reply, &format!("upload of asset {name:?}")))
        }
    }
}

/// Gitea's `PullRequest` (the fields the notes use).
#[derive(Deserialize)]
struct GiteaPull {
    number: u64,
    title: String,
    html_url: String,
    #[serde(default)]
    merged: bool,
    user: Option<GiteaUser>,
    #[serde(default)]
    labels: Vec<GiteaLabel>,
}

#[derive(Deserialize)]
struct GiteaUser {
    login: String,
}

#[derive(Deserialize)]
struct GiteaLabel {
    name: String,
}

impl GiteaPull {
    fn into_pull_request(self) -> PullRequest {
        PullRequest {
            number: self.number,
            title: self.title,
            url: self.html_url,
            author: self.user.map(|u| u.login),
            labels: self.labels.into_iter().map(|l| l.name).collect(),
        }
    }
}
