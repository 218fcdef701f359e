//! Deleting container images on ghcr.io (and GitHub Enterprise Server's `containers.HOST`),
//! whose registry answers DELETE with 405: the GitHub Packages REST API deletes package
//! versions instead. A version is one manifest, named by its digest:
//! `GET /orgs|users/{owner}/packages/container/{package}/versions` finds its id,
//! `DELETE …/versions/{id}` deletes it (and every tag on it). The token is the registry
//! credential's secret (the `GITHUB_TOKEN` docker/login-action logs in with), which needs
//! `packages: write` and admin access to the package.

use relkit_core::{Error, Result};
use reqwest::StatusCode;
use url::Url;

use crate::digest::Digest;

/// The GitHub REST API of the registry's GitHub instance.
pub(crate) struct PackagesApi<'a> {
    pub client: &'a reqwest::Client,
    /// `https://api.github.com` or `GITHUB_API_URL`.
    pub base: Url,
    /// Bearer token.
    pub token: &'a str,
    /// The largest answer read.
    pub limit: usize,
}

#[derive(serde::Deserialize)]
struct PackageVersion {
    id: u64,
    name: String,
}

/// Versions asked for per page (the API's maximum).
const PER_PAGE: usize = 100;

impl PackagesApi<'_> {
    /// Deletes the package version holding `digest` in `repo` (`owner/package[/more]`).
    /// `false` when no version holds it (already gone).
    pub async fn delete_version(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let (owner, package) = repo.split_once('/').ok_or_else(|| {
            Error::usage(format!("`{repo}` names no owner; GitHub packages are `OWNER/PACKAGE`"))
        })?;
        let package = package.replace('/', "%2F");
        for kind in ["orgs", "users"] {
            let versions = format!("{kind}/{owner}/packages/container/{package}/versions");
            let Some(id) = self.find_version(&versions, digest).await? else { continue };
            let url = self.url(&format!("{versions}/{id}"))?;
            let response = self.send(self.client.delete(url)).await?;
            return match response.0 {
                StatusCode::NO_CONTENT | StatusCode::OK => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                status => Err(self.refused(repo, status, &response.1)),
            };
        }
        Ok(false)
    }

    /// The id of the version named `digest`; `None` when the owner is not of this kind or no
    /// version has that digest.
    async fn find_version(&self, versions: &str, digest: &Digest) -> Result<Option<u64>> {
        for page in 1.. {
            let url = self.url(&format!("{versions}?per_page={PER_PAGE}&page={page}"))?;
            let (status, body) = self.send(self.client.get(url)).await?;
            match status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(None),
                status => return Err(self.refused(versions, status, &body)),
            }
            let list: Vec<PackageVersion> = serde_json::from_slice(&body).map_err(|e| {
                Error::failed(format!(
                    "the GitHub API answered {versions} with something that is not a version list: {e}"
                ))
            })?;
            if let Some(v) = list.iter().find(|v| v.name == digest.as_str()) {
                return Ok(Some(v.id));
            }
            if list.len() < PER_PAGE {
                return Ok(None);
            }
        }
        Ok(None)
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| Error::usage(format!("GitHub API URL {} cannot take {path}: {e}", self.base)))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, bytes::Bytes)> {
        let response = request
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| Error::failed(format!("cannot reach the GitHub API at {}: {e}", self.base)))?;
        let status = response.status();
        if response.content_length().is_some_and(|l| l > self.limit as u64) {
            return Err(Error::failed(format!(
                "the GitHub API sent an answer larger than {} bytes",
                self.limit
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::failed(format!("the GitHub API broke off its answer: {e}")))?;
        Ok((status, body))
    }

    fn refused(&self, what: &str, status: StatusCode, body: &[u8]) -> Error {
        #[derive(serde::Deserialize)]
        struct Message {
            message: String,
        }
        let message = serde_json::from_slice::<Message>(body).map(|m| m.message).unwrap_or_default();
        Error::failed(format!(
            "the GitHub Packages API answered {status} for {what} ({message}); the token needs `packages: write` (workflow `permissions:`) and admin access to the package"
        ))
    }
}
