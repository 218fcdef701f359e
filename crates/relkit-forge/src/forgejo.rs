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

use std::collections::BTreeMap;

use relkit_core::Result;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::RemoteRelease;
use super::github::PullRequest;
use super::http::{Http, Payload, Replay};
use super::path_segment;

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

    /// The retry limits of this client.
    pub fn policy(&self) -> super::http::RetryPolicy {
        self.http.policy()
    }

    fn repo_url(&self) -> String {
        format!("{}/repos/{}/{}", self.api_url, path_segment(&self.owner), path_segment(&self.repo))
    }
}

impl crate::releases::Dialect for ForgejoApi {
    fn http(&self) -> &Http {
        &self.http
    }

    fn repo_url(&self) -> String {
        ForgejoApi::repo_url(self)
    }

    fn drafts_url(&self) -> String {
        format!("{}/releases?draft=true&limit=50", self.repo_url())
    }

    fn asset_url(&self, release: &RemoteRelease, asset_id: u64) -> String {
        format!("{}/releases/{}/assets/{asset_id}", self.repo_url(), release.id)
    }

    fn upload_base(&self, release: &RemoteRelease) -> Result<String> {
        Ok(format!("{}/releases/{}/assets", self.repo_url(), release.id))
    }

    /// Forgejo answers 409 when a release for the tag exists.
    fn already_exists(&self, status: StatusCode, _: &str) -> bool {
        status == StatusCode::CONFLICT
    }

    fn has_make_latest(&self) -> bool {
        false
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
