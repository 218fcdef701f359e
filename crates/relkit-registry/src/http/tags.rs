//! Lists that come in pages: tags and OCI 1.1 referrers, every page followed through `Link`.

use std::sync::atomic::Ordering;

use relkit_core::{Error, Result};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use super::transport::next_link;
use super::{Access, HttpRegistry, MAX_API_BODY, REFERRERS_ABSENT, REFERRERS_PRESENT, Request};
use crate::digest::Digest;
use crate::manifest::{Descriptor, OCI_INDEX};

impl HttpRegistry {
    pub(super) async fn tag_list(&self, repo: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut next = Some(self.url(&format!("v2/{repo}/tags/list?n=1000")));
        let mut seen = std::collections::HashSet::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) {
                break;
            }
            let request = Request {
                method: Method::GET,
                url,
                access: Access::Pull(repo.to_string()),
                headers: Vec::new(),
                body: None,
                limit: MAX_API_BODY,
            };
            let response = self.execute(&request).await?;
            match response.status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(Vec::new()),
                _ => return Err(self.unexpected(&format!("a tag listing of {repo}"), &request, &response)),
            }
            self.check_not_html(&format!("the tag list of {repo}"), &response)?;
            let page: TagList = serde_json::from_slice(&response.body).map_err(|e| {
                Error::failed(format!(
                    "registry {} sent a tag list for {repo} that is not valid JSON: {e}",
                    self.registry
                ))
            })?;
            tags.extend(page.tags.unwrap_or_default());
            next = response.header("link").and_then(next_link).and_then(|l| request.url.join(l).ok());
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    pub(super) async fn referrer_list(&self, repo: &str, digest: &Digest) -> Result<Option<Vec<Descriptor>>> {
        if self.referrers_api.load(Ordering::Relaxed) == REFERRERS_ABSENT {
            return Ok(None);
        }
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let mut list = Vec::new();
        let mut next = Some(self.url(&format!("v2/{repo}/referrers/{digest}")));
        let mut seen = std::collections::HashSet::new();
        // Every page: registries with many referrers page the list with `Link`, as tag lists.
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) {
                break;
            }
            let mut request = self.request(Method::GET, "", Access::Pull(repo.to_string()));
            request.url = url;
            request.headers.push(("Accept", OCI_INDEX.to_string()));
            let response = self.execute(&request).await?;
            if response.status == StatusCode::NOT_FOUND && list.is_empty() && seen.len() == 1 {
                // A registry with the API answers an empty list; 404 means it has none.
                self.referrers_api.store(REFERRERS_ABSENT, Ordering::Relaxed);
                return Ok(None);
            }
            if response.status != StatusCode::OK
                || !response.header(CONTENT_TYPE.as_str()).unwrap_or_default().starts_with(OCI_INDEX)
            {
                return if seen.len() == 1 { Ok(None) } else { Ok(Some(list)) };
            }
            let index: Index = serde_json::from_slice(&response.body).map_err(|e| {
                Error::failed(format!(
                    "registry {} sent a referrers list for {repo}@{digest} that is not valid: {e}",
                    self.registry
                ))
            })?;
            list.extend(index.manifests);
            self.referrers_api.store(REFERRERS_PRESENT, Ordering::Relaxed);
            next = response.header("link").and_then(next_link).and_then(|l| request.url.join(l).ok());
        }
        Ok(Some(list))
    }
}
