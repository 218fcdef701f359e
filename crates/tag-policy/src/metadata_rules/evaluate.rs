//! Evaluation: the rules applied to a context, in metadata-action's order.

use super::template::*;
use super::*;

/// Applies the rules to the context: the tags (deduplicated, in metadata-action's order) and
/// the `version` output. Errors (exit 2) name the rule: an `enable=` that is not `true` or
/// `false`, an invalid semver version, a tag a registry would refuse.
pub fn evaluate(rules: &Rules, flavor: &Flavor, ctx: &RuleContext) -> Result<Evaluation> {
    let git_ref = ctx.effective_ref();
    let env = RenderEnv { ctx, git_ref: &git_ref, semver: None };
    let mut evaluation = Evaluation::default();
    let mut latest: Option<(bool, i64)> = None;

    for rule in rules.iter() {
        let fail = |why: String| Error::usage(format!("tags rule {:?}: {why}", rule.text));
        let enabled = rule.enable.render(&env).map_err(|e| fail(e.message().to_owned()))?;
        match enabled.as_str() {
            "true" => {}
            "false" => continue,
            other => return Err(fail(format!("enable= must render true or false, got {other:?}"))),
        }
        let Some(produced) = produce(rule, flavor, ctx, &env, &mut evaluation.warnings)
            .map_err(|e| Error::usage(format!("tags rule {:?}: {}", rule.text, e.message())))?
        else {
            continue;
        };
        if produced.value.is_empty() {
            continue;
        }
        let name = sanitize_tag(&produced.value);
        if ctx.dialect.is_strict() {
            check_tag(&name).map_err(fail)?;
        }
        if latest.is_none() {
            let wanted = match flavor.latest {
                LatestMode::Auto => produced.latest_if_auto,
                LatestMode::Always => true,
                LatestMode::Never => false,
            };
            latest = Some((wanted, rule.priority));
        }
        if !evaluation.tags.iter().any(|tag| tag.name == name) {
            evaluation.tags.push(RuleTag { name, priority: rule.priority, is_latest: false });
        }
    }

    if let Some((true, priority)) = latest {
        let mut name = String::new();
        if flavor.prefix_on_latest {
            name.push_str(&flavor.prefix.render(&env)?);
        }
        name.push_str("latest");
        if flavor.suffix_on_latest {
            name.push_str(&flavor.suffix.render(&env)?);
        }
        let name = sanitize_tag(&name);
        if ctx.dialect.is_strict() {
            check_tag(&name).map_err(|why| Error::usage(format!("flavor: {why}")))?;
        }
        if !evaluation.tags.iter().any(|tag| tag.name == name) {
            evaluation.tags.push(RuleTag { name, priority, is_latest: true });
        }
    }
    evaluation.version = evaluation.tags.first().map(|tag| tag.name.clone());
    Ok(evaluation)
}

/// What one rule produced: the tag before sanitizing, and whether it asks for `latest` under
/// `latest=auto`.
pub(super) struct Produced {
    value: String,
    latest_if_auto: bool,
}

pub(super) fn produce(
    rule: &Rule,
    flavor: &Flavor,
    ctx: &RuleContext,
    env: &RenderEnv<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<Produced>> {
    let git_ref = env.git_ref;
    let (value, latest_if_auto) = match &rule.kind {
        RuleKind::Schedule { pattern } => {
            if !ctx.event_name.contains("schedule") {
                return Ok(None);
            }
            (pattern.render(env)?, false)
        }
        RuleKind::Semver { pattern, value, matcher } => {
            return semver_tag(rule, flavor, ctx, env, pattern, value.as_ref(), matcher.as_ref(), warnings);
        }
        RuleKind::Match { pattern, group, value } => {
            let subject = match value {
                Some(value) => value.render(env)?,
                None => match git_ref.strip_prefix("refs/tags/") {
                    Some(tag) => tag.to_owned(),
                    None => match &ctx.release {
                        Some(release) => release.tag.clone(),
                        None => return Ok(None),
                    },
                },
            };
            let Some(matched) = pattern.group(&subject, *group) else {
                warnings.push(if pattern.matches(&subject) {
                    format!("tags rule {:?}: group {group} does not exist in {:?}", rule.text, pattern.source)
                } else {
                    format!("tags rule {:?}: {:?} does not match {subject:?}", rule.text, pattern.source)
                });
                return Ok(None);
            };
            (matched.to_owned(), release_wants_latest(ctx))
        }
        RuleKind::Edge { branch } => {
            let Some(current) = git_ref.strip_prefix("refs/heads/") else { return Ok(None) };
            let wanted = match (branch, &ctx.default_branch) {
                (Some(branch), _) | (None, Some(branch)) => branch,
                (None, None) => {
                    return Err(Error::usage(
                        "the repository's default branch is unknown; name it with type=edge,branch=main",
                    ));
                }
            };
            if current != wanted {
                return Ok(None);
            }
            ("edge".to_owned(), false)
        }
        RuleKind::Ref { event: RefEvent::Branch } => match git_ref.strip_prefix("refs/heads/") {
            Some(branch) => (branch.to_owned(), false),
            None => return Ok(None),
        },
        RuleKind::Ref { event: RefEvent::Tag } => match git_ref.strip_prefix("refs/tags/") {
            Some(tag) => (tag.to_owned(), release_wants_latest(ctx)),
            None => return Ok(None),
        },
        RuleKind::Ref { event: RefEvent::Pr } => match git_ref.strip_prefix("refs/pull/") {
            Some(pull) => (pull.strip_suffix("/merge").unwrap_or(pull).to_owned(), false),
            None => return Ok(None),
        },
        RuleKind::Raw { value } => (value.render(env)?, false),
        RuleKind::Sha { format } => {
            if ctx.sha.is_empty() {
                return Ok(None);
            }
            let sha = match format {
                ShaFormat::Short => ctx.short_sha(),
                ShaFormat::Long => &ctx.sha,
            };
            (sha.to_owned(), false)
        }
    };
    let value = affix(rule, flavor, env, value)?;
    Ok(Some(Produced { value, latest_if_auto }))
}

/// `latest=auto` for `type=ref,event=tag` and `type=match`: with a release version, only a
/// stable one that is the highest; without one (a tag that is not a version), as
/// metadata-action does.
pub(super) fn release_wants_latest(ctx: &RuleContext) -> bool {
    match &ctx.release {
        // metadata-action: always; with the one deliberate difference: the highest version only.
        Some(release) if !ctx.dialect.is_strict() => !ctx.dialect.ranks() || release.is_highest,
        Some(release) => release.version.pre.is_empty() && release.is_highest,
        None => true,
    }
}

/// Rule prefix/suffix, else the flavor's (metadata-action's `setValue`).
pub(super) fn affix(rule: &Rule, flavor: &Flavor, env: &RenderEnv<'_>, value: String) -> Result<String> {
    let prefix = match &rule.prefix {
        Some(prefix) => prefix.render(env)?,
        None if !flavor.prefix.is_empty() => flavor.prefix.render(env)?,
        None => String::new(),
    };
    let suffix = match &rule.suffix {
        Some(suffix) => suffix.render(env)?,
        None if !flavor.suffix.is_empty() => flavor.suffix.render(env)?,
        None => String::new(),
    };
    Ok(format!("{prefix}{value}{suffix}"))
}

/// Which "highest" a semver pattern needs before it is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PatternLine {
    /// Names the full version (`{{version}}`, `{{raw}}`, `{{patch}}`): always.
    Exact,
    /// `{{major}}.{{minor}}`-like: highest in its minor.
    Minor,
    /// `{{major}}`-like: highest in its major.
    Major,
    /// No version field at all (a fixed name): highest overall.
    Overall,
}

pub(super) fn pattern_scope(pattern: &Template) -> PatternLine {
    if [Variable::Version, Variable::Raw, Variable::Patch].iter().any(|v| pattern.uses(*v)) {
        PatternLine::Exact
    } else if pattern.uses(Variable::Minor) {
        PatternLine::Minor
    } else if pattern.uses(Variable::Major) {
        PatternLine::Major
    } else {
        PatternLine::Overall
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Highest {
    overall: bool,
    in_major: bool,
    in_minor: bool,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn semver_tag(
    rule: &Rule,
    flavor: &Flavor,
    ctx: &RuleContext,
    env: &RenderEnv<'_>,
    pattern: &Template,
    value: Option<&Template>,
    matcher: Option<&Regex>,
    warnings: &mut Vec<String>,
) -> Result<Option<Produced>> {
    // The text the version is read from: value=, else the release version's tag, else the tag
    // of the ref (which then must be a version).
    let (mut raw, from_release) = match value {
        Some(value) => {
            let rendered = value.render(env)?;
            if rendered.is_empty() {
                return Ok(None);
            }
            (rendered, false)
        }
        None => match (&ctx.release, env.git_ref.strip_prefix("refs/tags/")) {
            (Some(release), _) => (release.tag.clone(), true),
            (None, Some(tag)) => (tag.to_owned(), false),
            (None, None) => return Ok(None),
        },
    };
    if let Some(matcher) = matcher {
        let group = matcher.captures(&raw).and_then(|c| c.get(1)).map(|m| m.as_str().to_owned());
        match group {
            Some(group) => raw = group,
            None if ctx.dialect.is_strict() => {
                return Err(Error::usage(format!(
                    "match={:?} does not match {raw:?}; fix the pattern",
                    matcher.as_str()
                )));
            }
            // metadata-action warns and goes on with the whole text.
            None => warnings.push(format!(
                "tags rule {:?}: {:?} does not match {raw:?}",
                rule.text,
                matcher.as_str()
            )),
        }
    }
    // As metadata-action: `/` becomes `-`.
    let raw = raw.replace('/', "-");
    let (version, highest) = match (&ctx.release, from_release && matcher.is_none()) {
        (Some(release), true) => (release.version.clone(), highest_of_release(release)),
        _ => {
            let version = match parse_semver(&raw) {
                Ok(version) => version,
                Err(error) if ctx.dialect.is_strict() => return Err(error),
                Err(_) => {
                    warnings.push(format!(
                        "tags rule {:?}: {raw:?} is not a valid semver version; the rule yields no tag",
                        rule.text
                    ));
                    return Ok(None);
                }
            };
            let highest = match &ctx.release {
                Some(release) if release.version == version => highest_of_release(release),
                _ => highest_among(&version, &ctx.existing_versions),
            };
            (version, highest)
        }
    };
    let highest =
        if ctx.dialect.ranks() { highest } else { Highest { overall: true, in_major: true, in_minor: true } };
    // relkit's own policy (and Helm) spells the build metadata separator `+` as `_`, so
    // `v1.2.3+build.5` stays distinguishable; metadata-action leaves it to the sanitizer (`-`).
    let raw = if ctx.dialect.is_strict() { raw.replace('+', "_") } else { raw };
    let values = SemverValues { raw, version };
    let env = RenderEnv { ctx, git_ref: env.git_ref, semver: Some(&values) };
    let is_prerelease = !values.version.pre.is_empty();
    let rendered = if is_prerelease {
        if pattern.is_raw() { values.raw.clone() } else { version_without_build(&values.version) }
    } else {
        let emitted = match pattern_scope(pattern) {
            PatternLine::Exact => true,
            PatternLine::Minor => highest.in_minor,
            PatternLine::Major => highest.in_major,
            PatternLine::Overall => highest.overall,
        };
        if !emitted {
            return Ok(None);
        }
        pattern.render(&env)?
    };
    let value = affix(rule, flavor, &env, rendered)?;
    Ok(Some(Produced { value, latest_if_auto: !is_prerelease && highest.overall }))
}

pub(super) fn highest_of_release(release: &ReleaseVersion) -> Highest {
    Highest {
        overall: release.is_highest,
        in_major: release.is_highest_in_major,
        in_minor: release.is_highest_in_minor,
    }
}

/// Ranks `version` among the existing stable versions.
pub(super) fn highest_among(version: &Version, existing: &[Version]) -> Highest {
    let higher = |same_line: &dyn Fn(&Version) -> bool| {
        existing
            .iter()
            .filter(|other| other.pre.is_empty() && same_line(other))
            .any(|other| other.cmp_precedence(version).is_gt())
    };
    Highest {
        overall: !higher(&|_| true),
        in_major: !higher(&|other| other.major == version.major),
        in_minor: !higher(&|other| other.major == version.major && other.minor == version.minor),
    }
}

/// Strict SemVer 2.0 with an optional leading `v` (node-semver's `valid`).
pub(super) fn parse_semver(text: &str) -> Result<Version> {
    let trimmed = text.trim();
    let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
    Version::parse(bare).map_err(|e| {
        Error::usage(format!(
            "{text:?} is not a valid SemVer version ({e}); expected e.g. v1.2.3 or 1.2.3-rc.1"
        ))
    })
}

/// Replaces every run of characters a tag may not contain with `-` (metadata-action's rule).
pub fn sanitize_tag(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    let mut in_run = false;
    for c in tag.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

/// A registry refuses tags over 128 characters or starting with `.` or `-`.
pub(super) fn check_tag(tag: &str) -> Result<(), String> {
    if tag.len() > MAX_TAG_LENGTH {
        return Err(format!(
            "tag {tag:?} is {} characters, registries accept at most {MAX_TAG_LENGTH}; shorten the rule's value",
            tag.len()
        ));
    }
    if tag.starts_with(['.', '-']) {
        return Err(format!(
            "tag {tag:?} starts with {:?}, which registries refuse; add a prefix",
            &tag[..1]
        ));
    }
    Ok(())
}
