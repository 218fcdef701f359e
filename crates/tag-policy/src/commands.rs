//! The I/O edge of `tag-policy plan` and `tag-policy check`: read the resolved version, the
//! configuration, existing tags and the GitHub context; call the pure cores; print and write
//! step outputs.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use relkit_core::actions::{self, Env, Outputs};
use relkit_core::config::Config;
use relkit_core::github::GithubContext;
use relkit_core::resolved::{ResolvedVersion, Source};
use relkit_core::tagset::TagSet;
use relkit_core::version::TagGrammar;
use relkit_core::{Error, Result};
use relkit_git::Repo;

use crate::check::{CheckInput, ExistingTag, check};
use crate::metadata_rules::{self, Dialect, ReleaseVersion, RuleContext};
use crate::plan::{self, Plan, PlannedTag, RepoMetadata, TagKind};

/// Options of `tag-policy plan`.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// version-resolve JSON: a file, `-` for stdin, or the JSON text itself.
    pub from: Option<String>,
    /// Image names.
    pub images: Vec<String>,
    /// A file of existing image tags (one per line) that also count for "highest".
    pub existing_tags: Option<PathBuf>,
    /// A repository (`registry/repo` or `oci:DIR`) whose tags also count for "highest".
    pub registry_tags: Option<String>,
    /// docker/metadata-action `tags:` rules, replacing the default policy.
    pub tags: Option<String>,
    /// docker/metadata-action `flavor:` settings (with `tags`).
    pub flavor: Option<String>,
    /// Options for resolving in-process when `from` is not given.
    pub resolve: version_resolve::Options,
}

/// Runs `tag-policy plan`; returns the exit code.
pub fn run_plan(options: &PlanOptions, json: bool, env: &dyn Env) -> Result<i32> {
    let plan = make_plan(options, env)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan.to_json()).expect("serializable"));
    } else {
        for reference in plan.references() {
            println!("{reference}");
        }
    }
    if actions::running_in_actions(env) {
        let mut outputs = Outputs::new();
        outputs
            .set("version", plan.version.clone())
            .set("tags", plan.references().join("\n"))
            .set("tag-names", plan.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join("\n"))
            .set("labels", plan.label_lines().join("\n"))
            .set("annotations", plan.annotation_lines().join("\n"))
            .set("json", plan.to_json().to_string());
        outputs.write(env)?;
        actions::append_summary(env, &summary(&plan))?;
    }
    Ok(0)
}

fn summary(plan: &Plan) -> String {
    let mut md = format!("### Image tags for {}\n\n| tag | kind |\n|---|---|\n", plan.version);
    for t in &plan.tags {
        md.push_str(&format!("| `{}` | {:?} |\n", t.name, t.kind));
    }
    md.push_str(&format!("\nImages: {}\n\n", plan.images.join(", ")));
    md
}

/// Computes the plan (everything but printing).
pub fn make_plan(options: &PlanOptions, env: &dyn Env) -> Result<Plan> {
    let github = GithubContext::from_env(env)?;
    let from = options.from.clone().or_else(|| actions::input(env, "from"));
    let resolved = match from {
        Some(from) => read_resolved(&from)?,
        None => version_resolve::resolve(&options.resolve, env)?,
    };
    let dir = options.resolve.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let config_path =
        options.resolve.config.clone().or_else(|| actions::input(env, "config").map(PathBuf::from));
    let config = Config::load(config_path.as_deref(), Some(&dir))?;

    let existing_path =
        options.existing_tags.clone().or_else(|| actions::input(env, "existing-tags").map(PathBuf::from));
    let existing = existing_path.as_deref().map(read_existing_tags).transpose()?;
    let existing = match &options.registry_tags {
        Some(repository) => {
            let names = crate::registry_cmds::registry_tags(repository, env)?;
            let live = TagSet::from_names(&TagGrammar::plain(), names);
            Some(match existing {
                Some(file) => file.merge(live),
                None => live,
            })
        }
        None => existing,
    };
    let resolved = match &existing {
        Some(set) => plan::with_existing(resolved, set)?,
        None => resolved,
    };

    let images = images(options, env, &config, &resolved);
    let rules = options.tags.clone().or_else(|| actions::input(env, "tags"));
    let tags = match rules {
        Some(rules) => {
            let flavor = options.flavor.clone().or_else(|| actions::input(env, "flavor")).unwrap_or_default();
            let parsed = metadata_rules::parse_tags(&rules)?;
            let mut known = Vec::new();
            if parsed.ranks_values() {
                known = git_versions(&dir, &config, options.resolve.component.as_deref());
            }
            known.extend(existing.iter().flat_map(|s| s.entries().iter().map(|e| e.version().clone())));
            rule_tags(&parsed, &flavor, &resolved, &github, known, env)?
        }
        None => plan::policy_tags(&resolved, &config.plan)?,
    };
    let meta =
        RepoMetadata {
            url: resolved.repository_url.clone(),
            title: config.plan.title.clone().or_else(|| {
                resolved.namespace.as_deref().and_then(|n| n.rsplit('/').next()).map(str::to_string)
            }),
            description: config
                .plan
                .description
                .clone()
                .or_else(|| github.repository_description().map(String::from)),
            licenses: config.plan.licenses.clone().or_else(|| github.repository_license().map(String::from)),
            created: created(env, &resolved.commit_time)?,
        };
    plan::build_plan(resolved, images, tags, &meta)
}

fn images(options: &PlanOptions, env: &dyn Env, config: &Config, resolved: &ResolvedVersion) -> Vec<String> {
    let mut images = options.images.clone();
    if images.is_empty() {
        images = actions::input(env, "images")
            .map(|s| {
                s.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
            })
            .unwrap_or_default();
    }
    if images.is_empty() {
        images = config.plan.images.clone();
    }
    if images.is_empty() {
        images.extend(resolved.namespace.as_ref().map(|n| format!("ghcr.io/{n}")));
    }
    // Registries take lower-case repository names: `ghcr.io/${{ github.repository }}` with an
    // owner `MyOrg` is `ghcr.io/myorg/…`, as docker/metadata-action writes it.
    images.into_iter().map(|image| image.to_lowercase()).collect()
}

/// `SOURCE_DATE_EPOCH` as RFC 3339 when set, else the commit time: identical inputs, identical output.
fn created(env: &dyn Env, commit_time: &str) -> Result<String> {
    match env.var("SOURCE_DATE_EPOCH").filter(|s| !s.is_empty()) {
        Some(epoch) => epoch
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| t.to_string())
            .ok_or_else(|| {
                Error::usage(format!("SOURCE_DATE_EPOCH={epoch:?} is not a Unix time in seconds"))
            }),
        None => Ok(commit_time.to_string()),
    }
}

fn read_resolved(from: &str) -> Result<ResolvedVersion> {
    if from.trim_start().starts_with('{') {
        return ResolvedVersion::from_json(from, "the `from` input");
    }
    let text = if from == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::usage(format!("cannot read version-resolve JSON from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(from)
            .map_err(|e| Error::usage(format!("cannot read version-resolve JSON {from}: {e}")))?
    };
    ResolvedVersion::from_json(&text, if from == "-" { "stdin" } else { from })
}

/// Reads existing image tags, one per line (blank lines and `#` comments ignored).
pub fn read_existing_tags(path: &Path) -> Result<TagSet> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read existing tags {}: {e}", path.display())))?;
    let names = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    Ok(TagSet::from_names(&TagGrammar::plain(), names))
}

/// The versions of the repository's release tags (none when `dir` is not a git repository,
/// as when the plan is made from version-resolve's JSON alone).
fn git_versions(dir: &Path, config: &Config, component: Option<&str>) -> Vec<semver::Version> {
    let Ok(repo) = Repo::discover(dir) else { return Vec::new() };
    let grammar = config.tags.grammar(component);
    let refs = repo.tag_refs().unwrap_or_default();
    TagSet::from_refs(&grammar, refs).entries().iter().map(|e| e.version().clone()).collect()
}

/// The `{{base_ref}}` of the event: `base_ref` of a tag push payload, the base branch of a pull
/// request.
pub(crate) fn event_base_ref(github: &GithubContext) -> Option<String> {
    github
        .payload_base_ref()
        .or_else(|| github.pull_request_base_ref())
        .map(String::from)
        .or_else(|| github.base_ref.clone())
}

fn rule_tags(
    rules: &metadata_rules::Rules,
    flavor: &str,
    resolved: &ResolvedVersion,
    github: &GithubContext,
    existing_versions: Vec<semver::Version>,
    env: &dyn Env,
) -> Result<Vec<PlannedTag>> {
    let flavor = metadata_rules::parse_flavor(flavor)?;
    let release = match resolved.source {
        Source::Development => None,
        _ => Some(ReleaseVersion {
            version: resolved.semver()?,
            tag: resolved.tag.clone(),
            is_highest: resolved.is_highest,
            is_highest_in_major: resolved.is_highest_in_major,
            is_highest_in_minor: resolved.is_highest_in_minor,
        }),
    };
    let timestamp = |s: &str| s.parse::<jiff::Timestamp>().ok();
    let short_sha_length = match env.var("DOCKER_METADATA_SHORT_SHA_LENGTH") {
        Some(v) => metadata_rules::parse_short_sha_length(&v)?,
        None => RuleContext::default().short_sha_length,
    };
    let git_ref = github.git_ref.clone().unwrap_or_else(|| match (&release, &resolved.branch) {
        (Some(_), _) => format!("refs/tags/{}", resolved.tag),
        (None, Some(branch)) => format!("refs/heads/{branch}"),
        (None, None) => String::new(),
    });
    let ctx = RuleContext {
        event_name: github.event_name.clone().unwrap_or_else(|| "push".into()),
        git_ref,
        sha: resolved.sha.clone(),
        default_branch: github
            .default_branch()
            .map(String::from)
            .or_else(|| resolved.is_default_branch.then(|| resolved.branch.clone()).flatten()),
        base_ref: event_base_ref(github),
        pr_number: github.pull_request_number(),
        now: timestamp(&created(env, &resolved.commit_time)?).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        commit_time: timestamp(&resolved.commit_time),
        release,
        existing_versions,
        short_sha_length,
        dialect: Dialect::Relkit,
    };
    let evaluation = metadata_rules::evaluate(rules, &flavor, &ctx)?;
    for warning in &evaluation.warnings {
        actions::report_warning(env, "tag-policy", warning);
    }
    if evaluation.tags.is_empty() {
        return Err(Error::usage(format!(
            "the tags rules produced no tag for {} (event {}, ref {}); add a rule that applies, e.g. type=sha",
            resolved.version, ctx.event_name, ctx.git_ref
        )));
    }
    Ok(evaluation.tags.into_iter().map(|t| PlannedTag { name: t.name, kind: TagKind::Rule }).collect())
}

/// Options of `tag-policy check`.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The tag to check.
    pub tag: String,
    /// Repository directory.
    pub repo: Option<PathBuf>,
    /// The commit the tag is for (default HEAD).
    pub commit: Option<String>,
    /// Allow a version below the highest of its major line.
    pub allow_lower: bool,
    /// Monorepo component.
    pub component: Option<String>,
    /// Configuration file.
    pub config: Option<PathBuf>,
}

/// Runs `tag-policy check`: prints one line per violation and returns 2 if there are any.
pub fn run_check(options: &CheckOptions, env: &dyn Env) -> Result<i32> {
    let dir = options.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let repo = Repo::discover(&dir)?;
    repo.require_full_history("tag-policy check (all existing tags)")?;
    let config = Config::load(options.config.as_deref(), Some(&repo.root()))?;
    let grammar = config.tags.grammar(options.component.as_deref());
    let local = repo.tag_ref(&options.tag)?.map(|r| ExistingTag {
        commit: r.commit,
        annotated: r.annotated,
        signed: r.signed,
    });
    let tags = TagSet::from_refs(&grammar, repo.tag_refs()?);
    let target = match &options.commit {
        Some(rev) => repo.resolve(rev)?,
        None => repo.head()?.id,
    };
    let violations = check(&CheckInput {
        tag: &options.tag,
        grammar: &grammar,
        rules: &config.check,
        tags: &tags,
        local,
        target: &target,
        allow_lower: options.allow_lower,
    });
    for v in &violations {
        eprintln!("tag-policy: {v}");
        if actions::running_in_actions(env) {
            println!("{}", actions::annotation(actions::Level::Error, None, v));
        }
    }
    if violations.is_empty() {
        println!("{}: ok", options.tag);
        Ok(0)
    } else {
        Ok(2)
    }
}
