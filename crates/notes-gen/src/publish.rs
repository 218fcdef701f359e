//! Idempotent publishing: find the release by tag (drafts included), create it only when there is
//! none, otherwise replace its body and flags; replace assets of the same name. A create whose
//! outcome is unclear is never repeated blindly: the release is looked up again first.
//! Revocation prepends a notice to the body and marks the release as a prerelease.

use std::collections::BTreeSet;
use std::path::PathBuf;

use relkit_core::{Error, Result};
use serde::Serialize;

use crate::forge::{CreateOutcome, Forge, ReleaseFields, RemoteRelease, normalized_asset_name};

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The tag.
    pub tag: String,
    /// The commit to create the tag at if it does not exist on the forge yet.
    pub target_commitish: Option<String>,
    /// The release title.
    pub name: String,
    /// The Markdown body.
    pub body: String,
    /// Prerelease flag (from the version).
    pub prerelease: bool,
    /// Make it "Latest" (only when it is the highest version).
    pub make_latest: bool,
    /// Create as a draft (an existing published release is never turned back into a draft).
    pub draft: bool,
    /// Lift a revocation (`--unrevoke`); otherwise a revoked release stays revoked.
    pub unrevoke: bool,
    /// Files to upload, each with the asset name to use.
    pub assets: Vec<(PathBuf, String)>,
}

/// What publishing did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublishOutcome {
    /// `created` or `updated`.
    pub action: &'static str,
    /// The forge's release id.
    pub id: u64,
    /// The release page.
    pub url: Option<String>,
    /// Assets uploaded.
    pub uploaded: Vec<String>,
    /// Of those, the ones that replaced an asset of the same name.
    pub replaced: Vec<String>,
}

/// Creates or updates the release for `request.tag`.
pub async fn publish(forge: &Forge, request: &PublishRequest) -> Result<PublishOutcome> {
    check_assets(&request.assets)?;
    let existing = forge.find_release(&request.tag).await?;
    let (action, release) = match existing {
        Some(release) => {
            ("updated", forge.update_release(release.id, &update_fields(request, &release)).await?)
        }
        None => match forge.create_release(&create_fields(request)).await {
            Ok(CreateOutcome::Created(release)) => ("created", release),
            Ok(CreateOutcome::AlreadyExists) => ("updated", update_found(forge, request).await?),
            Err(create_error) => {
                // The create may have happened (a timeout after the server acted): look again.
                match forge.find_release(&request.tag).await {
                    Ok(Some(release)) => (
                        "updated",
                        forge.update_release(release.id, &update_fields(request, &release)).await?,
                    ),
                    _ => return Err(create_error),
                }
            }
        },
    };
    let (uploaded, replaced) = upload_assets(forge, &release, &request.assets).await?;
    Ok(PublishOutcome { action, id: release.id, url: release.html_url.clone(), uploaded, replaced })
}

async fn update_found(forge: &Forge, request: &PublishRequest) -> Result<RemoteRelease> {
    let release = forge.find_release(&request.tag).await?.ok_or_else(|| {
        Error::failed(format!(
            "{} says a release for {} exists but it cannot be found; check the token's access to drafts",
            forge.name(),
            request.tag
        ))
    })?;
    forge.update_release(release.id, &update_fields(request, &release)).await
}

fn create_fields(request: &PublishRequest) -> ReleaseFields {
    ReleaseFields {
        tag_name: Some(request.tag.clone()),
        target_commitish: request.target_commitish.clone(),
        name: Some(request.name.clone()),
        body: Some(request.body.clone()),
        draft: Some(request.draft),
        prerelease: Some(request.prerelease),
        make_latest: Some(request.make_latest && !request.prerelease && !request.draft),
    }
}

fn update_fields(request: &PublishRequest, existing: &RemoteRelease) -> ReleaseFields {
    let publish_draft = existing.draft && !request.draft;
    let notice = revocation_notice(existing.body.as_deref().unwrap_or_default());
    if let Some(notice) = notice.filter(|_| !request.unrevoke) {
        // A revoked release stays revoked: the new notes go under the notice, and it stays a
        // prerelease that is not "Latest".
        return ReleaseFields {
            tag_name: None,
            target_commitish: None,
            name: Some(request.name.clone()),
            body: Some(format!("{notice}\n\n{}", request.body)),
            draft: publish_draft.then_some(false),
            prerelease: Some(true),
            make_latest: Some(false),
        };
    }
    ReleaseFields {
        tag_name: None,
        target_commitish: None,
        name: Some(request.name.clone()),
        body: Some(request.body.clone()),
        draft: publish_draft.then_some(false),
        prerelease: Some(request.prerelease),
        make_latest: Some(request.make_latest && !request.prerelease && !(existing.draft && request.draft)),
    }
}

/// The revocation notice at the top of a body, if there is one.
fn revocation_notice(body: &str) -> Option<&str> {
    let start = body.find(REVOKED_START)?;
    let end = body[start..].find(REVOKED_END)? + start + REVOKED_END.len();
    Some(&body[start..end])
}

fn check_assets(assets: &[(PathBuf, String)]) -> Result<()> {
    let mut names = BTreeSet::new();
    for (path, name) in assets {
        if !path.is_file() {
            return Err(Error::usage(format!("asset {} does not exist or is not a file", path.display())));
        }
        if name.is_empty() || name.contains('/') || normalized_asset_name(name).is_empty() {
            return Err(Error::usage(format!("asset name {name:?} must be a plain file name")));
        }
        if !names.insert(normalized_asset_name(name)) {
            return Err(Error::usage(format!("two assets are named {name:?}; asset names must be unique")));
        }
    }
    Ok(())
}

async fn upload_assets(
    forge: &Forge,
    release: &RemoteRelease,
    assets: &[(PathBuf, String)],
) -> Result<(Vec<String>, Vec<String>)> {
    if assets.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let existing = forge.list_assets(release).await?;
    let mut uploaded = Vec::new();
    let mut replaced = Vec::new();
    for (path, name) in assets {
        let put = forge.replace_asset(release, &existing, path, name).await?;
        if put.replaced {
            replaced.push(put.name.clone());
        }
        uploaded.push(put.name);
    }
    Ok((uploaded, replaced))
}

/// The marker lines around a revocation notice, so that a second revocation replaces it.
const REVOKED_START: &str = "<!-- relkit:revoked -->";
const REVOKED_END: &str = "<!-- /relkit:revoked -->";

/// Prepends (or replaces) the revocation notice and marks the release as a prerelease, keeping
/// everything else.
pub async fn revoke(forge: &Forge, tag: &str, reason: &str) -> Result<RemoteRelease> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::usage("--reason must say why the release is revoked"));
    }
    let release = forge.find_release(tag).await?.ok_or_else(|| {
        Error::usage(format!("there is no {} release for tag {tag}; nothing to revoke", forge.name()))
    })?;
    let body = revoked_body(release.body.as_deref().unwrap_or_default(), tag, reason);
    let fields = ReleaseFields {
        body: Some(body),
        prerelease: Some(true),
        make_latest: Some(false),
        ..ReleaseFields::default()
    };
    forge.update_release(release.id, &fields).await
}

/// The body with a revocation notice at the top (an earlier notice is replaced).
pub fn revoked_body(body: &str, tag: &str, reason: &str) -> String {
    let rest = match (body.find(REVOKED_START), body.find(REVOKED_END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &body[..start], body[end + REVOKED_END.len()..].trim_start_matches('\n'))
        }
        _ => body.to_string(),
    };
    let reason = reason.replace('\n', " ");
    format!(
        "{REVOKED_START}\n> [!CAUTION]\n> **{tag} is revoked and must not be used.** Reason: {reason}\n{REVOKED_END}\n\n{rest}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_release_stays_revoked_unless_asked() {
        let body = revoked_body("## Features\n- a\n", "v1.2.3", "data loss");
        let existing = RemoteRelease {
            id: 1,
            tag_name: "v1.2.3".into(),
            name: None,
            body: Some(body),
            draft: false,
            prerelease: true,
            upload_url: None,
            html_url: None,
        };
        let req = PublishRequest {
            tag: "v1.2.3".into(),
            target_commitish: None,
            name: "v1.2.3".into(),
            body: "## Features\n- b\n".into(),
            prerelease: false,
            make_latest: true,
            draft: false,
            unrevoke: false,
            assets: vec![],
        };
        let kept = update_fields(&req, &existing);
        assert_eq!((kept.prerelease, kept.make_latest), (Some(true), Some(false)));
        let kept_body = kept.body.unwrap();
        assert!(kept_body.contains("Reason: data loss") && kept_body.ends_with("- b\n"), "{kept_body}");
        let lifted = update_fields(&PublishRequest { unrevoke: true, ..req }, &existing);
        assert_eq!((lifted.prerelease, lifted.make_latest), (Some(false), Some(true)));
        assert!(!lifted.body.unwrap().contains("revoked"));
    }

    #[test]
    fn revocation_is_prepended_once() {
        let once = revoked_body("## Features\n- a\n", "v1.2.3", "broken migration");
        assert!(once.starts_with("<!-- relkit:revoked -->\n> [!CAUTION]\n> **v1.2.3 is revoked"));
        assert!(once.ends_with("\n\n## Features\n- a\n"));
        let twice = revoked_body(&once, "v1.2.3", "CVE-2025-1");
        assert_eq!(twice.matches(REVOKED_START).count(), 1);
        assert!(twice.contains("Reason: CVE-2025-1"));
        assert!(twice.ends_with("\n\n## Features\n- a\n"));
    }

    #[test]
    fn make_latest_only_for_a_published_stable_highest() {
        let req = PublishRequest {
            tag: "v1".into(),
            target_commitish: None,
            name: "v1".into(),
            body: "b".into(),
            prerelease: false,
            make_latest: true,
            draft: false,
            unrevoke: false,
            assets: vec![],
        };
        assert_eq!(create_fields(&req).make_latest, Some(true));
        assert_eq!(
            create_fields(&PublishRequest { prerelease: true, ..req.clone() }).make_latest,
            Some(false)
        );
        assert_eq!(
            create_fields(&PublishRequest { make_latest: false, ..req.clone() }).make_latest,
            Some(false)
        );
        let draft = RemoteRelease {
            id: 1,
            tag_name: "v1".into(),
            name: None,
            body: None,
            draft: true,
            prerelease: false,
            upload_url: None,
            html_url: None,
        };
        assert_eq!(update_fields(&req, &draft).draft, Some(false), "a re-run without --draft publishes");
        let published = RemoteRelease { draft: false, ..draft };
        assert_eq!(update_fields(&PublishRequest { draft: true, ..req }, &published).draft, None);
    }
}
