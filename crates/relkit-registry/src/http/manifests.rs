//! Manifests: HEAD (falling back to GET when a registry sends no digest), GET with the digest
//! checked, PUT with `If-Match` and the stored digest checked, and deletes, with what each
//! hosted registry answers (405 on Docker Hub, the GitHub Packages API on ghcr.io).

use std::collections::BTreeMap;

use relkit_core::{Error, Result};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use super::transport::oci_error_code;
use super::{Access, HttpRegistry, MAX_API_BODY, is_docker_hub};
use crate::digest::Digest;
use crate::manifest::{ACCEPTED_MANIFESTS, Descriptor, RawManifest};
use crate::registry::{Fetched, PutOutcome};

/// How many times a manifest PUT refused by a blob-link race is sent again.
const LINK_RACE_RETRIES: usize = 2;

impl HttpRegistry {
    pub(super) fn manifest_path(repo: &str, reference: &str) -> String {
        format!("v2/{repo}/manifests/{reference}")
    }

    /// Deletes a manifest through the GitHub Packages API (its registry answers DELETE with 405).
    pub(super) async fn delete_package_version(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let base = self.github_api.clone().expect("only called for GitHub Packages");
        let credential = self.credential().await?;
        let token = credential.secret().ok_or_else(|| {
            Error::usage(format!(
                "deleting from {} goes through the GitHub Packages API, which needs a token: set GITHUB_TOKEN (with `packages: write`) or log in with docker/login-action",
                self.registry
            ))
        })?;
        let api =
            crate::github_packages::PackagesApi { client: &self.client, base, token, limit: MAX_API_BODY };
        api.delete_version(repo, digest)
            .await
            .map_err(|e| e.context(format!("delete {repo}@{digest} on {}", self.registry)))
    }
}

impl HttpRegistry {
    pub(super) async fn manifest_head(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>> {
        let mut request =
            self.request(Method::HEAD, &Self::manifest_path(repo, reference), Access::Pull(repo.to_string()));
        request.headers.push(("Accept", ACCEPTED_MANIFESTS.join(", ")));
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => {
                let digest = response.header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
                let media_type = response.header(CONTENT_TYPE.as_str()).unwrap_or_default().to_string();
                match digest {
                    Some(digest) if !media_type.starts_with("text/html") => {
                        let size =
                            response.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                        Ok(Some(Descriptor {
                            media_type,
                            digest,
                            size,
                            artifact_type: None,
                            annotations: BTreeMap::new(),
                            extra: BTreeMap::new(),
                        }))
                    }
                    _ => Ok(self.manifest_get(repo, reference).await?.map(|f| f.manifest.descriptor())),
                }
            }
            _ => Err(self.unexpected(&format!("a lookup of {repo}:{reference}"), &request, &response)),
        }
    }

    pub(super) async fn manifest_get(&self, repo: &str, reference: &str) -> Result<Option<Fetched>> {
        let mut request =
            self.request(Method::GET, &Self::manifest_path(repo, reference), Access::Pull(repo.to_string()));
        request.headers.push(("Accept", ACCEPTED_MANIFESTS.join(", ")));
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => {
                let what = format!("the manifest of {repo}:{reference}");
                self.check_not_html(&what, &response)?;
                let content_type = response.header(CONTENT_TYPE.as_str()).map(str::to_string);
                let manifest = RawManifest::new(response.body.clone(), content_type.as_deref())
                    .map_err(|e| e.context(format!("registry {} sent {what}", self.registry)))?;
                if let Ok(expected) = reference.parse::<Digest>()
                    && expected != manifest.digest
                {
                    return Err(Error::failed(format!(
                        "registry {} sent a manifest for {repo}@{expected} whose digest is {}",
                        self.registry, manifest.digest
                    )));
                }
                Ok(Some(Fetched { manifest, etag: response.header("etag").map(str::to_string) }))
            }
            _ => Err(self.unexpected(&format!("a read of {repo}:{reference}"), &request, &response)),
        }
    }

    pub(super) async fn manifest_put(
        &self,
        repo: &str,
        reference: &str,
        manifest: &RawManifest,
        if_match: Option<&str>,
    ) -> Result<PutOutcome> {
        let mut request =
            self.request(Method::PUT, &Self::manifest_path(repo, reference), Access::Push(repo.to_string()));
        request.headers.push(("Content-Type", manifest.media_type.clone()));
        if let Some(etag) = if_match {
            request.headers.push(("If-Match", etag.to_string()));
        }
        request.body = Some(manifest.bytes.clone());
        // Distribution rewrites a blob's link when the blob is mounted again, and a manifest PUT
        // reading the link meanwhile is refused as DIGEST_INVALID or MANIFEST_BLOB_UNKNOWN
        // (another promote into the same repository mounting the same blobs does that). The PUT
        // is idempotent: such a refusal is sent again, at most `LINK_RACE_RETRIES` times.
        let link_race = |response: &super::Response| {
            response.status == StatusCode::BAD_REQUEST
                && oci_error_code(response)
                    .is_some_and(|code| matches!(code.as_str(), "DIGEST_INVALID" | "MANIFEST_BLOB_UNKNOWN"))
        };
        let response = self.execute_resending(&request, LINK_RACE_RETRIES, link_race).await?;
        match response.status {
            StatusCode::CREATED | StatusCode::OK | StatusCode::ACCEPTED => {
                if let Some(stored) =
                    response.header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
                    && stored != manifest.digest
                {
                    return Err(Error::failed(format!(
                        "registry {} stored {repo}:{reference} as {stored} instead of {}; it rewrote the manifest",
                        self.registry, manifest.digest
                    )));
                }
                Ok(PutOutcome::Stored)
            }
            StatusCode::PRECONDITION_FAILED => Ok(PutOutcome::PreconditionFailed),
            _ => Err(self.unexpected(&format!("a push of {repo}:{reference}"), &request, &response)),
        }
    }

    pub(super) async fn manifest_delete(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let request = self.request(
            Method::DELETE,
            &Self::manifest_path(repo, digest.as_str()),
            Access::Delete(repo.to_string()),
        );
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::METHOD_NOT_ALLOWED if self.github_api.is_some() => {
                self.delete_package_version(repo, digest).await
            }
            StatusCode::METHOD_NOT_ALLOWED => Err(Error::failed(format!(
                "registry {} does not allow deleting manifests (405){}",
                self.registry,
                if is_docker_hub(&self.registry) {
                    "; Docker Hub deletes only through hub.docker.com"
                } else {
                    "; enable deletes (distribution: storage.delete.enabled: true; Harbor, Quay: the robot account needs delete permission)"
                }
            ))),
            _ => Err(self.unexpected(&format!("a delete of {repo}@{digest}"), &request, &response)),
        }
    }

    pub(super) async fn tag_delete(&self, repo: &str, tag: &str) -> Result<bool> {
        let request =
            self.request(Method::DELETE, &Self::manifest_path(repo, tag), Access::Delete(repo.to_string()));
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => {
                Ok(true)
            }
            StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED => Ok(false),
            _ => Err(self.unexpected(&format!("a delete of {repo}:{tag}"), &request, &response)),
        }
    }
}
