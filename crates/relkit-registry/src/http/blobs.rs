//! Blobs: existence checks, reads (whole, or streamed and digest-checked), monolithic uploads
//! that check whether a lost answer's blob arrived, and cross-repository mounts.

use bytes::Bytes;
use relkit_core::{Error, Result};
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use url::Url;

use super::{Access, HttpRegistry, MAX_API_BODY, MAX_BLOB_READ, Request, Response};
use crate::digest::Digest;
use crate::registry::{BlobStream, verify_stream};

impl HttpRegistry {
    /// One monolithic upload: open a session, then PUT the content with its digest. A lost
    /// answer to a PUT that succeeded leaves the session gone, so a failure first checks
    /// whether the blob arrived.
    pub(super) async fn upload_once(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        data: BlobStream,
    ) -> Result<()> {
        let start =
            self.request(Method::POST, &format!("v2/{repo}/blobs/uploads/"), Access::Push(repo.to_string()));
        let response = self.execute(&start).await?;
        if response.status != StatusCode::ACCEPTED {
            return Err(self.unexpected(&format!("an upload of blob {digest} to {repo}"), &start, &response));
        }
        let mut location = self.location(&response, &start)?;
        location.query_pairs_mut().append_pair("digest", digest.as_str());
        let put = Request {
            method: Method::PUT,
            url: location,
            access: Access::Push(repo.to_string()),
            headers: vec![
                ("Content-Type", "application/octet-stream".to_string()),
                ("Content-Length", size.to_string()),
            ],
            body: None,
            limit: MAX_API_BODY,
        };
        let authorization = self.authorization_for(&put).await?;
        let sent =
            self.build(&put, authorization.as_deref()).body(reqwest::Body::wrap_stream(data)).send().await;
        let outcome = match sent {
            Ok(r) => self.read(r, MAX_API_BODY).await.map_err(|a| a.error),
            Err(e) => Err(self.transport_error(&e)),
        };
        match outcome {
            Ok(r) if r.status == StatusCode::CREATED => Ok(()),
            outcome => {
                // A token that expired during a long upload: the stream cannot be replayed, so
                // the refused token is dropped and the caller retries with a new stream.
                if let (Ok(r), Some(challenge)) = (&outcome, self.challenge.get())
                    && r.status == StatusCode::UNAUTHORIZED
                {
                    self.authorize(challenge, &put.access, authorization.as_deref()).await?;
                }
                if self.blob_exists_at(repo, digest).await? {
                    return Ok(());
                }
                match outcome {
                    Ok(r) => Err(self.unexpected(&format!("an upload of blob {digest} to {repo}"), &put, &r)),
                    Err(e) => Err(e),
                }
            }
        }
    }

    pub(super) fn location(&self, response: &Response, request: &Request) -> Result<Url> {
        let location = response.headers.get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            Error::failed(format!(
                "registry {} sent no Location for {} {}",
                self.registry,
                request.method,
                request.url.path()
            ))
        })?;
        request.url.join(location).map_err(|e| {
            Error::failed(format!("registry {} sent an invalid Location `{location}`: {e}", self.registry))
        })
    }
}

impl HttpRegistry {
    pub(super) async fn blob_exists_at(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let request =
            self.request(Method::HEAD, &format!("v2/{repo}/blobs/{digest}"), Access::Pull(repo.to_string()));
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.unexpected(&format!("a lookup of blob {digest} in {repo}"), &request, &response)),
        }
    }

    pub(super) async fn read_blob(&self, repo: &str, digest: &Digest) -> Result<Bytes> {
        let mut request =
            self.request(Method::GET, &format!("v2/{repo}/blobs/{digest}"), Access::Pull(repo.to_string()));
        request.limit = MAX_BLOB_READ;
        let response = self.execute(&request).await?;
        if response.status != StatusCode::OK {
            return Err(self.unexpected(&format!("a read of blob {digest} in {repo}"), &request, &response));
        }
        if Digest::of(&response.body) != *digest {
            return Err(Error::failed(format!(
                "registry {} sent blob {digest} of {repo} with content that does not match its digest",
                self.registry
            )));
        }
        Ok(response.body)
    }

    pub(super) async fn upload_blob(&self, repo: &str, digest: &Digest, data: Bytes) -> Result<()> {
        self.retry
            .run_operation(2, || {
                let chunk: BlobStream = Box::pin(futures::stream::once(std::future::ready(Ok(data.clone()))));
                self.upload_once(repo, digest, data.len() as u64, chunk)
            })
            .await
    }

    pub(super) async fn stream_blob(&self, repo: &str, digest: &Digest) -> Result<BlobStream> {
        use futures::TryStreamExt as _;
        let request =
            self.request(Method::GET, &format!("v2/{repo}/blobs/{digest}"), Access::Pull(repo.to_string()));
        let response = self.execute_streaming(&request).await?;
        if response.status() != StatusCode::OK {
            let response = self.read(response, MAX_API_BODY).await.map_err(|a| a.error)?;
            return Err(self.unexpected(&format!("a read of blob {digest} in {repo}"), &request, &response));
        }
        let registry = self.registry.clone();
        let what = format!("blob {digest} of {repo}");
        let chunks = response
            .bytes_stream()
            .map_err(move |e| Error::failed(format!("registry {registry} broke off sending {what}: {e}")));
        Ok(verify_stream(digest.clone(), format!("registry {}", self.registry), Box::pin(chunks)))
    }

    pub(super) async fn mount_blob_from(&self, repo: &str, from_repo: &str, digest: &Digest) -> Result<bool> {
        let mut request = self.request(
            Method::POST,
            &format!("v2/{repo}/blobs/uploads/"),
            Access::Mount { repo: repo.to_string(), from: from_repo.to_string() },
        );
        request.url.query_pairs_mut().append_pair("mount", digest.as_str()).append_pair("from", from_repo);
        let response = self.execute(&request).await?;
        match response.status {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                // Mount declined; an upload session was opened instead. Close it, the caller uploads.
                if let Ok(location) = self.location(&response, &request) {
                    let cancel = Request {
                        method: Method::DELETE,
                        url: location,
                        access: Access::Push(repo.to_string()),
                        headers: Vec::new(),
                        body: None,
                        limit: MAX_API_BODY,
                    };
                    let _ = self.execute(&cancel).await;
                }
                Ok(false)
            }
            _ => Err(self.unexpected(
                &format!("a mount of blob {digest} from {from_repo} into {repo}"),
                &request,
                &response,
            )),
        }
    }
}
