//! The registry-facing subcommands: `apply` (put tags on a digest), `promote` (copy a digest
//! with its signatures and attestations, then apply a channel's tags) and `prune` (retention and
//! garbage collection). Each takes its parsed arguments and returns a report; `main` prints it.

use clap::Args;
use relkit_core::actions::Env;
use relkit_core::{Error, Result};
use relkit_registry::ops::promote::{PromoteOptions, PromoteReport, promote as promote_image};
use relkit_registry::ops::prune::{PruneReport, Retention, prune as prune_repo};
use relkit_registry::ops::tags::{self, ApplyTagsOptions, TagAction, TagDecision, TagRequest, TagRule};
use relkit_registry::ops::{copy::DEFAULT_CONCURRENCY, resolve_digest};
use relkit_registry::{AnyRegistry, Digest, HttpOptions, ImageRef, Registry};
use semver::Version;
use serde::Serialize;

/// Options shared by every registry command.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// Reach this registry host over plain HTTP, or HTTPS when it answers that it serves TLS
    /// (repeatable; also `RELKIT_INSECURE_REGISTRIES`; loopback hosts always may be).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Trust the root certificates in this PEM file for every registry (repeatable; also
    /// `RELKIT_CA_FILES`). Per-registry roots and client certificates are read from docker's
    /// `/etc/docker/certs.d/HOST/` (`*.crt`, `client.cert`, `client.key`).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<std::path::PathBuf>,
    /// Blob transfers in flight.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
}

impl RegistryArgs {
    fn http_options(&self, env: &dyn Env) -> HttpOptions {
        let mut options = HttpOptions::from_env(env);
        options.insecure_registries.extend(self.insecure_registries.iter().cloned());
        options.ca_files.extend(self.ca_files.iter().cloned());
        options
    }
}

/// `tag-policy apply IMAGE --tag T…` or `--plan FILE`: put tags on the digest IMAGE resolves to.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The image (`registry/repo:tag`, `…@sha256:…`, `oci:DIR[:tag]`).
    pub image: String,
    /// Tags to put on it (repeatable). The full version tag is immutable; `sha-*` tags are
    /// mutable; every other tag (`latest`, `X`, `X.Y`, channels) never moves to a lower version.
    #[arg(long = "tag", required_unless_present = "plan", conflicts_with = "plan")]
    pub tags: Vec<String>,
    /// The tags, their kinds and the version from `tag-policy plan --json` output (a file, or
    /// `-` for stdin): version and sha tags are immutable, the floating ones never move back.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<String>,
    /// The release version, when the image carries no `org.opencontainers.image.version`.
    #[arg(long, conflicts_with = "plan")]
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
    /// Stable releases kept: the N highest of the repository (default: every release).
    #[arg(long)]
    pub keep_releases: Option<usize>,
    /// Stable releases kept per `major.minor` line: the N highest of each.
    #[arg(long)]
    pub keep_per_line: Option<usize>,
    /// Build tags (`sha-*`, `next-*`) kept.
    #[arg(long)]
    pub keep_builds: Option<usize>,
    /// Build tags older than this many days go.
    #[arg(long)]
    pub max_build_age_days: Option<u64>,
    /// Tags never deleted (glob, repeatable; added to the configured ones).
    #[arg(long)]
    pub protect: Vec<String>,
    /// Configuration file with a `prune:` section [default: .github/relkit.yml if present].
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
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

/// Each tag once, where it first appears (`--to latest --release-tags` names `latest` twice).
pub fn unique_tags(requests: Vec<TagRequest>) -> Vec<TagRequest> {
    let mut seen = std::collections::BTreeSet::new();
    requests.into_iter().filter(|r| seen.insert(r.name.clone())).collect()
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

/// The rule for a tag the plan chose, by its kind (`TagKind` as `plan --json` spells it).
pub fn rule_for_kind(kind: &str, name: &str) -> Result<TagRule> {
    Ok(match kind {
        "version" | "sha" => TagRule::Immutable,
        "major_minor" | "major" | "latest" | "channel" => TagRule::Monotonic,
        "rule" => rule_for(name),
        other => {
            return Err(Error::usage(format!(
                "the plan gives tag `{name}` the unknown kind `{other}`; regenerate it with `tag-policy plan --json`"
            )));
        }
    })
}

/// The tags and version of a `tag-policy plan --json` document.
pub fn read_plan(text: &str, source: &str) -> Result<(Version, Vec<TagRequest>)> {
    #[derive(serde::Deserialize)]
    struct PlanDocument {
        version: String,
        plan: Vec<PlanEntry>,
    }
    #[derive(serde::Deserialize)]
    struct PlanEntry {
        name: String,
        kind: String,
    }
    let document: PlanDocument = serde_json::from_str(text).map_err(|e| {
        Error::usage(format!(
            "{source} is not `tag-policy plan --json` output ({e}); pass the JSON document the plan step printed"
        ))
    })?;
    let version = tags::parse_version(&document.version).ok_or_else(|| {
        Error::usage(format!("{source}: plan version `{}` is not a SemVer version", document.version))
    })?;
    if document.plan.is_empty() {
        return Err(Error::usage(format!("{source}: the plan has no tags")));
    }
    let requests = document
        .plan
        .into_iter()
        .map(|entry| Ok(TagRequest { rule: rule_for_kind(&entry.kind, &entry.name)?, name: entry.name }))
        .collect::<Result<Vec<_>>>()?;
    validate_tags(&requests.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
        .map_err(|e| e.context(source.to_string()))?;
    Ok((version, requests))
}

fn read_plan_file(path: &str) -> Result<(Version, Vec<TagRequest>)> {
    let text = if path == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| Error::usage(format!("cannot read the plan from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|e| Error::usage(format!("cannot read plan {path}: {e}")))?
    };
    read_plan(&text, if path == "-" { "stdin" } else { path })
}

/// Runs `apply`.
pub async fn apply(args: &ApplyArgs, env: &dyn Env) -> Result<ApplyReport> {
    let (planned, requests) = match &args.plan {
        Some(path) => {
            let (version, requests) = read_plan_file(path)?;
            (Some(version), requests)
        }
        None => {
            validate_tags(&args.tags)?;
            let requests = unique_tags(
                args.tags.iter().map(|t| TagRequest { name: t.clone(), rule: rule_for(t) }).collect(),
            );
            (parse_version_arg(args.version.as_deref())?, requests)
        }
    };
    let reference = ImageRef::parse(&args.image)?;
    let registry = AnyRegistry::open(&reference, &args.registry.http_options(env))?;
    if !args.dry_run {
        registry.plan_access(reference.repository(), &["pull", "push"]);
    }
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
    let options = ApplyTagsOptions { force: args.force, dry_run: args.dry_run };
    let decisions = tags::apply_tags(&registry, repo, &target, version.as_ref(), &requests, options)
        .await
        .map_err(|e| e.context(format!("apply tags to {reference}")))?;
    Ok(ApplyReport { image: args.image.clone(), digest, tags: decisions, dry_run: args.dry_run })
}

/// One line per tag for people: `add TAG -> DIGEST`, `move TAG FROM -> DIGEST`, `keep TAG`,
/// `hold TAG (reason)`.
pub fn decision_lines(target: &Digest, decisions: &[TagDecision]) -> Vec<String> {
    decisions
        .iter()
        .map(|d| match &d.action {
            TagAction::Add => format!("add   {} -> {target}", d.tag),
            TagAction::Move { from } => format!("move  {} {from} -> {target}", d.tag),
            TagAction::Keep => format!("keep  {} at {target}", d.tag),
            TagAction::Hold { at, reason } => format!("hold  {} at {at} ({reason})", d.tag),
            TagAction::Refuse { at, reason } => format!("refuse {} at {at} ({reason})", d.tag),
        })
        .collect()
}

/// The tags of a repository (`registry/repo` or `oci:DIR`), every page, for `plan
/// --registry-tags`.
pub fn registry_tags(repository: &str, env: &dyn Env) -> Result<Vec<String>> {
    let reference = ImageRef::parse(repository)?;
    let registry = AnyRegistry::open(&reference, &HttpOptions::from_env(env))?;
    runtime()?
        .block_on(registry.list_tags(reference.repository()))
        .map_err(|e| e.context(format!("read the tags of {}", reference.repository_name())))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}")))
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
    let requests = unique_tags(requests);
    let http = args.registry.http_options(env);
    let (source_registry, dest_registry) = AnyRegistry::open_pair(&source, &dest, &http)?;
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
    let config = relkit_core::config::Config::load(args.config.as_deref(), Some(std::path::Path::new(".")))?;
    let mut retention: Retention = config.prune;
    if let Some(n) = args.keep_prereleases {
        retention.keep_prereleases = n;
    }
    retention.keep_releases = args.keep_releases.or(retention.keep_releases);
    retention.keep_per_line = args.keep_per_line.or(retention.keep_per_line);
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
    let report = runtime()?.block_on(command())?;
    if report.dry_run() {
        for line in report.dry_run_lines() {
            eprintln!("dry run: {line}");
        }
    }
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
    /// The tag decisions, if the command made any.
    fn decisions(&self) -> &[TagDecision] {
        &[]
    }
    /// True when nothing was written.
    fn dry_run(&self) -> bool;
    /// What a dry run would do, one line each, for people (stderr).
    fn dry_run_lines(&self) -> Vec<String> {
        self.digest().map(|d| decision_lines(d, self.decisions())).unwrap_or_default()
    }
}

impl HasDigest for ApplyReport {
    fn digest(&self) -> Option<&Digest> {
        Some(&self.digest)
    }
    fn decisions(&self) -> &[TagDecision] {
        &self.tags
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

impl HasDigest for PromoteReport {
    fn digest(&self) -> Option<&Digest> {
        Some(&self.digest)
    }
    fn decisions(&self) -> &[TagDecision] {
        &self.tags
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

impl HasDigest for PruneReport {
    fn digest(&self) -> Option<&Digest> {
        None
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
    /// One line per tag with the rule that kept or dropped it.
    fn dry_run_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .tags
            .iter()
            .map(|v| format!("{} {} ({})", if v.delete { "delete" } else { "keep  " }, v.tag, v.reason))
            .collect();
        lines.extend(
            self.kept_attachments.iter().map(|t| format!("keep   {t} (its subject still exists, untagged)")),
        );
        lines
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
    fn a_channel_that_is_also_a_release_tag_is_written_once() {
        let mut requests = vec![TagRequest { name: "latest".into(), rule: TagRule::Monotonic }];
        requests.extend(release_tags(&Version::parse("2.1.3").unwrap()));
        requests.push(TagRequest { name: "2".into(), rule: TagRule::Monotonic });
        let names: Vec<String> = unique_tags(requests).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["latest", "v2.1.3", "2.1", "2"]);
    }

    #[test]
    fn plan_kinds_map_to_rules() {
        use crate::plan::TagKind;
        for (kind, rule) in [
            (TagKind::Version, TagRule::Immutable),
            (TagKind::Sha, TagRule::Immutable),
            (TagKind::MajorMinor, TagRule::Monotonic),
            (TagKind::Major, TagRule::Monotonic),
            (TagKind::Latest, TagRule::Monotonic),
            (TagKind::Channel, TagRule::Monotonic),
        ] {
            let spelled = serde_json::to_value(kind).unwrap();
            assert_eq!(rule_for_kind(spelled.as_str().unwrap(), "t").unwrap(), rule, "{kind:?}");
        }
        let spelled = serde_json::to_value(TagKind::Rule).unwrap();
        assert_eq!(rule_for_kind(spelled.as_str().unwrap(), "sha-1").unwrap(), TagRule::Mutable);
        assert_eq!(rule_for_kind("shiny", "t").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn plan_documents() {
        let (version, requests) = read_plan(
            r#"{"version":"1.4.0","plan":[{"name":"v1.4.0","kind":"version"},{"name":"latest","kind":"latest"}]}"#,
            "plan.json",
        )
        .unwrap();
        assert_eq!(version, Version::new(1, 4, 0));
        assert_eq!(
            requests,
            vec![
                TagRequest { name: "v1.4.0".into(), rule: TagRule::Immutable },
                TagRequest { name: "latest".into(), rule: TagRule::Monotonic },
            ]
        );
        for bad in [
            "not json",
            r#"{"version":"1.4","plan":[{"name":"x","kind":"version"}]}"#,
            r#"{"version":"1.4.0","plan":[]}"#,
            r#"{"version":"1.4.0","plan":[{"name":"-x","kind":"channel"}]}"#,
        ] {
            let e = read_plan(bad, "plan.json").unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.message().contains("plan"), "{e}");
        }
    }

    #[test]
    fn decision_lines_name_both_digests_of_a_move() {
        let (old, new) = (Digest::of(b"old"), Digest::of(b"new"));
        let decisions = vec![
            TagDecision { tag: "v1".into(), rule: TagRule::Immutable, action: TagAction::Add },
            TagDecision {
                tag: "latest".into(),
                rule: TagRule::Monotonic,
                action: TagAction::Move { from: old.clone() },
            },
            TagDecision { tag: "1".into(), rule: TagRule::Monotonic, action: TagAction::Keep },
        ];
        assert_eq!(
            decision_lines(&new, &decisions),
            vec![
                format!("add   v1 -> {new}"),
                format!("move  latest {old} -> {new}"),
                format!("keep  1 at {new}")
            ]
        );
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        assert_eq!(validate_tags(&["-bad".into()]).unwrap_err().exit_code(), 2);
        assert_eq!(parse_version_arg(Some("1.2")).unwrap_err().exit_code(), 2);
    }
}
