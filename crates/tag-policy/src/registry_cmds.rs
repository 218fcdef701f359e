//! The registry-facing subcommands: `apply` (put tags on a digest), `promote` (copy a digest
//! with its signatures and attestations, then apply a channel's tags) and `prune` (retention and
//! garbage collection). Each takes its parsed arguments and returns a report; `main` prints it.

use clap::Args;
use relkit_core::actions::Env;
use relkit_core::{Error, Result};
use relkit_registry::ops::promote::{PromoteOptions, PromoteReport, promote as promote_image};
use relkit_registry::ops::prune::{PruneReport, Retention, prune as prune_repo};
use relkit_registry::ops::tags::{self, ApplyTagsOptions, TagDecision, TagRequest, TagRule};
use relkit_registry::ops::{copy::DEFAULT_CONCURRENCY, resolve_digest};
use relkit_registry::{AnyRegistry, Digest, HttpOptions, ImageRef, Registry};
use semver::Version;
use serde::Serialize;

/// Options shared by every registry command.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// Reach this registry host over plain HTTP (repeatable; loopback always is).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Blob transfers in flight.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
}

impl RegistryArgs {
    fn http_options(&self, env: &dyn Env) -> HttpOptions {
        let mut options = HttpOptions::from_env(env);
        options.insecure_registries.extend(self.insecure_registries.iter().cloned());
        options
    }
}

/// `tag-policy apply IMAGE --tag T…`: put tags on the digest IMAGE resolves to.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The image (`registry/repo:tag`, `…@sha256:…`, `oci:DIR[:tag]`).
    pub image: String,
    /// Tags to put on it (repeatable). The full version tag is immutable; `sha-*` tags are
    /// mutable; every other tag (`latest`, `X`, `X.Y`, channels) never moves to a lower version.
    #[arg(long = "tag", required = true)]
    pub tags: Vec<String>,
    /// The release version, when the image carries no `org.opencontainers.image.version`.
    #[arg(long)]
    pub version: Option<String>,
    /// Move immutable release tags too.
    #[arg(long)]
    pub force: bool,
    /// Print the decisions, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `tag-policy promote SOURCE --to CHANNEL`.
#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    /// The image to promote; resolved to a digest once.
    pub source: String,
    /// The channel tag to set (`testing`, `stable`, …).
    #[arg(long = "to")]
    pub channel: String,
    /// Destination repository (`registry/repo` or `oci:DIR`); default: the source's.
    #[arg(long)]
    pub repository: Option<String>,
    /// Also set the release tags of `--version` (`vX.Y.Z`, `X.Y`, `X`, `latest`; stable only).
    #[arg(long)]
    pub release_tags: bool,
    /// Extra tags (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// The release version, when the image carries none.
    #[arg(long)]
    pub version: Option<String>,
    /// Refuse unless a referrer of this artifact type exists (repeatable).
    #[arg(long = "require-referrer", value_name = "ARTIFACT_TYPE")]
    pub require_referrers: Vec<String>,
    /// Move immutable release tags too.
    #[arg(long)]
    pub force: bool,
    /// Print the decisions, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `tag-policy prune REPOSITORY`: dry run unless `--apply`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// The repository (`registry/repo` or `oci:DIR`).
    pub repository: String,
    /// Delete exactly the tags matching this glob (e.g. `v0.0.0-*`) instead of applying the
    /// retention rules.
    #[arg(long = "match", value_name = "GLOB")]
    pub only_matching: Option<String>,
    /// Delete (default: print what would go and why).
    #[arg(long)]
    pub apply: bool,
    /// Prerelease tags kept per `major.minor`.
    #[arg(long)]
    pub keep_prereleases: Option<usize>,
    /// Build tags (`sha-*`, `next-*`) kept.
    #[arg(long)]
    pub keep_builds: Option<usize>,
    /// Build tags older than this many days go.
    #[arg(long)]
    pub max_build_age_days: Option<u64>,
    /// Tags never deleted (glob, repeatable).
    #[arg(long)]
    pub protect: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The image as given.
    pub image: String,
    /// Its digest.
    pub digest: Digest,
    /// Per-tag decisions.
    pub tags: Vec<TagDecision>,
    /// True when nothing was written.
    pub dry_run: bool,
}

/// The rule for a tag: a version tag is immutable, `sha-*` tags are mutable,
/// everything else (`latest`, `X`, `X.Y`, channels) is monotonic.
pub fn rule_for(tag: &str) -> TagRule {
    if tags::parse_version(tag).is_some() {
        return TagRule::Immutable;
    }
    if tag.starts_with("sha-") {
        return TagRule::Mutable;
    }
    TagRule::Monotonic
}

/// The release tags of a stable version: `vX.Y.Z`, `X.Y`, `X`, `latest`.
pub fn release_tags(version: &Version) -> Vec<TagRequest> {
    if !version.pre.is_empty() {
        return vec![TagRequest { name: format!("v{version}"), rule: TagRule::Immutable }];
    }
    vec![
        TagRequest { name: format!("v{version}"), rule: TagRule::Immutable },
        TagRequest { name: format!("{}.{}", version.major, version.minor), rule: TagRule::Monotonic },
        TagRequest { name: version.major.to_string(), rule: TagRule::Monotonic },
        TagRequest { name: "latest".to_string(), rule: TagRule::Monotonic },
    ]
}

fn parse_version_arg(text: Option<&str>) -> Result<Option<Version>> {
    text.map(|t| {
        tags::parse_version(t).ok_or_else(|| {
            Error::usage(format!("--version `{t}` is not a SemVer version (like 1.4.0 or v1.4.0-rc.1)"))
        })
    })
    .transpose()
}

fn validate_tags(tags: &[String]) -> Result<()> {
    match tags.iter().find(|t| !relkit_registry::reference::is_valid_tag(t)) {
        Some(bad) => Err(Error::usage(format!(
            "tag `{bad}` is not a valid OCI tag (1-128 of [A-Za-z0-9_.-], not starting with `.` or `-`)"
        ))),
        None => Ok(()),
    }
}

/// Runs `apply`.
pub async fn apply(args: &ApplyArgs, env: &dyn Env) -> Result<ApplyReport> {
    validate_tags(&args.tags)?;
    let reference = ImageRef::parse(&args.image)?;
    let registry = AnyRegistry::open(&reference, &args.registry.http_options(env))?;
    let planned = parse_version_arg(args.version.as_deref())?;
    let digest = resolve_digest(&registry, &reference).await?;
    let repo = reference.repository();
    let target = registry
        .get_manifest(repo, digest.as_str())
        .await?
        .ok_or_else(|| {
            Error::failed(format!("{reference} vanished from {} while reading it", registry.name()))
        })?
        .manifest;
    let version = tags::target_version(&registry, repo, &target, planned.as_ref()).await?;
    let requests: Vec<TagRequest> =
        args.tags.iter().map(|t| TagRequest { name: t.clone(), rule: rule_for(t) }).collect();
    let options = ApplyTagsOptions { force: args.force, dry_run: args.dry_run };
    let decisions = tags::apply_tags(&registry, repo, &target, version.as_ref(), &requests, options)
        .await
        .map_err(|e| e.context(format!("apply tags to {reference}")))?;
    Ok(ApplyReport { image: args.image.clone(), digest, tags: decisions, dry_run: args.dry_run })
}

/// Runs `promote`.
pub async fn promote(args: &PromoteArgs, env: &dyn Env) -> Result<PromoteReport> {
    validate_tags(&args.tags)?;
    validate_tags(std::slice::from_ref(&args.channel))?;
    let source = ImageRef::parse(&args.source)?;
    let dest = match &args.repository {
        Some(r) => ImageRef::parse(r)?,
        None => source.clone(),
    };
    let version = parse_version_arg(args.version.as_deref())?;
    let mut requests = vec![TagRequest { name: args.channel.clone(), rule: TagRule::Monotonic }];
    if args.release_tags {
        let v = version.as_ref().ok_or_else(|| Error::usage("--release-tags needs --version X.Y.Z"))?;
        requests.extend(release_tags(v));
    }
    requests.extend(args.tags.iter().map(|t| TagRequest { name: t.clone(), rule: rule_for(t) }));
    requests.dedup_by(|a, b| a.name == b.name);
    let http = args.registry.http_options(env);
    let source_registry = AnyRegistry::open(&source, &http)?;
    let dest_registry = AnyRegistry::open(&dest, &http)?;
    let options = PromoteOptions {
        tags: requests,
        version,
        require_referrers: args.require_referrers.clone(),
        force: args.force,
        dry_run: args.dry_run,
        concurrency: args.registry.concurrency,
    };
    promote_image(&source_registry, &source, &dest_registry, &dest, &options).await
}

/// Runs `prune`.
pub async fn prune(args: &PruneArgs, env: &dyn Env) -> Result<PruneReport> {
    let reference = ImageRef::parse(&args.repository)?;
    let registry = AnyRegistry::open(&reference, &args.registry.http_options(env))?;
    let mut retention = Retention::default();
    if let Some(n) = args.keep_prereleases {
        retention.keep_prereleases = n;
    }
    if let Some(n) = args.keep_builds {
        retention.keep_builds = n;
    }
    retention.max_build_age_days = args.max_build_age_days.or(retention.max_build_age_days);
    retention.protect.extend(args.protect.iter().cloned());
    let now = jiff::Timestamp::now();
    prune_repo(&registry, reference.repository(), &retention, args.only_matching.as_deref(), args.apply, now)
        .await
        .map_err(|e| e.context(format!("prune {}", reference.repository_name())))
}

/// Runs one registry subcommand to completion for `main`: prints the report as JSON, sets the
/// `digest` step output under Actions, and returns the exit code.
pub fn run<T: Serialize + HasDigest, F: std::future::Future<Output = Result<T>>>(
    env: &dyn Env,
    command: impl FnOnce() -> F,
) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(command())?;
    println!("{}", serde_json::to_string_pretty(&report).expect("reports serialize"));
    if relkit_core::actions::running_in_actions(env)
        && let Some(digest) = report.digest()
    {
        let mut outputs = relkit_core::actions::Outputs::new();
        outputs.set("digest", digest.to_string());
        outputs.write(env)?;
    }
    Ok(0)
}

/// Reports that name the digest they acted on.
pub trait HasDigest {
    /// The digest, if the command acted on one.
    fn digest(&self) -> Option<&Digest>;
}

impl HasDigest for ApplyReport {
    fn digest(&self) -> Option<&Digest> {
        Some(&self.digest)
    }
}

impl HasDigest for PromoteReport {
    fn digest(&self) -> Option<&Digest> {
        Some(&self.digest)
    }
}

impl HasDigest for PruneReport {
    fn digest(&self) -> Option<&Digest> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rules() {
        for (tag, rule) in [
            ("v1.4.0", TagRule::Immutable),
            ("1.4.0", TagRule::Immutable),
            ("v1.3.0", TagRule::Immutable),
            ("latest", TagRule::Monotonic),
            ("1", TagRule::Monotonic),
            ("1.4", TagRule::Monotonic),
            ("stable", TagRule::Monotonic),
            ("sha-abc1234", TagRule::Mutable),
        ] {
            assert_eq!(rule_for(tag), rule, "{tag}");
        }
    }

    #[test]
    fn prereleases_get_only_their_version_tag() {
        let tags = release_tags(&Version::parse("2.0.0-rc.1").unwrap());
        assert_eq!(tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["v2.0.0-rc.1"]);
        let tags = release_tags(&Version::parse("2.1.3").unwrap());
        assert_eq!(
            tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            vec!["v2.1.3", "2.1", "2", "latest"]
        );
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        assert_eq!(validate_tags(&["-bad".into()]).unwrap_err().exit_code(), 2);
        assert_eq!(parse_version_arg(Some("1.2")).unwrap_err().exit_code(), 2);
    }
}
