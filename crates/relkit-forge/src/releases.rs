//! The release and asset calls, written once for both forges: each forge only says where a call
//! goes and what its answers mean ([`Dialect`]), and every request takes the one request path of
//! [`Http`] with its one retry policy.

use std::path::Path;

use relkit_core::{Error, Result};
use reqwest::{Method, StatusCode};

use crate::http::{Http, Payload, Replay, Sent};
use crate::{CreateOutcome, ReleaseFields, RemoteAsset, RemoteRelease, Uploaded, fields_json, path_segment};

/// What differs between GitHub's and Forgejo's release endpoints.
pub(crate) trait Dialect {
    /// The authenticated client.
    fn http(&self) -> &Http;
    /// `{api}/repos/{owner}/{repo}`.
    fn repo_url(&self) -> String;
    /// The release list that shows drafts (which get-by-tag does not return).
    fn drafts_url(&self) -> String;
    /// One asset, for DELETE and PATCH.
    fn asset_url(&self, release: &RemoteRelease, asset_id: u64) -> String;
    /// Where a file is POSTed, without the name.
    fn upload_base(&self, release: &RemoteRelease) -> Result<String>;
    /// Whether a create's answer says a release for the tag exists already.
    fn already_exists(&self, status: StatusCode, body: &str) -> bool;
    /// Whether the forge takes `make_latest`.
    fn has_make_latest(&self) -> bool;
}

/// The release for `tag`, drafts included.
pub(crate) async fn find_release(api: &impl Dialect, tag: &str) -> Result<Option<RemoteRelease>> {
    let url = format!("{}/releases/tags/{}", api.repo_url(), path_segment(tag));
    let reply = api.http().send(Method::GET, &url, Payload::Empty, Replay::Safe).await?;
    match reply.status {
        s if s.is_success() => return Ok(Some(reply.json("get release by tag")?)),
        StatusCode::NOT_FOUND => {}
        _ => return Err(api.http().unexpected(&reply, "get release by tag")),
    }
    let all: Vec<RemoteRelease> = api.http().get_all_pages(&api.drafts_url(), "list releases").await?;
    Ok(all.into_iter().find(|r| r.tag_name == tag))
}

/// Creates a release, never repeated after an unclear failure.
pub(crate) async fn create_release(api: &impl Dialect, fields: &ReleaseFields) -> Result<CreateOutcome> {
    let body = fields_json(fields, api.has_make_latest());
    let url = format!("{}/releases", api.repo_url());
    let reply = api.http().send(Method::POST, &url, Payload::Json(&body), Replay::OnlyIfRejected).await?;
    match reply.status {
        StatusCode::CREATED | StatusCode::OK => Ok(CreateOutcome::Created(reply.json("create release")?)),
        s if api.already_exists(s, &reply.body) => Ok(CreateOutcome::AlreadyExists),
        _ => Err(api.http().unexpected(&reply, "create release")),
    }
}

/// Updates the given fields.
pub(crate) async fn update_release(
    api: &impl Dialect,
    id: u64,
    fields: &ReleaseFields,
) -> Result<RemoteRelease> {
    let body = fields_json(fields, api.has_make_latest());
    let url = format!("{}/releases/{id}", api.repo_url());
    let reply = api.http().send(Method::PATCH, &url, Payload::Json(&body), Replay::Safe).await?;
    if !reply.status.is_success() {
        return Err(api.http().unexpected(&reply, "update release"));
    }
    reply.json("update release")
}

/// All assets of a release (every page).
pub(crate) async fn list_assets(api: &impl Dialect, release: &RemoteRelease) -> Result<Vec<RemoteAsset>> {
    let url = format!("{}/releases/{}/assets?per_page=100", api.repo_url(), release.id);
    api.http().get_all_pages(&url, "list release assets").await
}

/// Deletes an asset (a 404 means it is gone already).
pub(crate) async fn delete_asset(
    api: &impl Dialect,
    release: &RemoteRelease,
    asset: &RemoteAsset,
) -> Result<()> {
    let url = api.asset_url(release, asset.id);
    let reply = api.http().send(Method::DELETE, &url, Payload::Empty, Replay::Safe).await?;
    if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(api.http().unexpected(&reply, "delete release asset"))
    }
}

/// Renames an asset (PATCH with `name`).
pub(crate) async fn rename_asset(
    api: &impl Dialect,
    release: &RemoteRelease,
    asset: &RemoteAsset,
    name: &str,
) -> Result<RemoteAsset> {
    let url = api.asset_url(release, asset.id);
    let body = serde_json::json!({ "name": name });
    let reply = api.http().send(Method::PATCH, &url, Payload::Json(&body), Replay::Safe).await?;
    if !reply.status.is_success() {
        return Err(api.http().unexpected(&reply, "rename release asset"));
    }
    reply.json("rename release asset")
}

/// Streams a file as the asset `name` (one request; the caller checks an unclear outcome).
pub(crate) async fn upload_asset(
    api: &impl Dialect,
    release: &RemoteRelease,
    path: &Path,
    name: &str,
) -> Result<Uploaded> {
    let base = api.upload_base(release)?;
    let mut url =
        url::Url::parse(&base).map_err(|e| Error::failed(format!("invalid upload URL {base:?}: {e}")))?;
    url.query_pairs_mut().append_pair("name", name);
    let len = std::fs::metadata(path)
        .map_err(|e| Error::usage(format!("cannot read asset {}: {e}", path.display())))?
        .len();
    let payload = Payload::File { path, content_type: "application/octet-stream", len };
    let reply =
        match api.http().send_checked(Method::POST, url.as_str(), payload, Replay::OnlyIfRejected).await? {
            Sent::Reply(reply) => reply,
            Sent::Unclear(why) => return Ok(Uploaded::Unclear(why)),
        };
    if reply.status.is_success() {
        Ok(Uploaded::Stored(reply.json("upload release asset")?))
    } else {
        Err(api.http().unexpected(&reply, &format!("upload of asset {name:?}")))
    }
}
