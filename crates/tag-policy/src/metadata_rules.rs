//! docker/metadata-action's `tags:` and `flavor:` rule syntax, evaluated by relkit.
//!
//! A pure module (no I/O): [`parse_tags`] and [`parse_flavor`] turn the action inputs into
//! [`Rules`] and a [`Flavor`]; [`evaluate`] applies them to a [`RuleContext`] and returns the
//! tags in metadata-action's order (the `version` tag first, then the others by rule priority,
//! `latest` last) plus the `version` output.
//!
//! The output is metadata-action's, except where relkit deliberately differs (each difference
//! is described in `docs/migrate-from-metadata-action.md`):
//! - `latest` (with `latest=auto`), `{{major}}` and `{{major}}.{{minor}}` are emitted only when
//!   the version is the highest overall, in its major, in its minor;
//! - `type=semver` and `type=match` take the version resolved by version-resolve when the ref
//!   is not a tag (`release`, `workflow_dispatch`, `workflow_call`, API-created tags);
//! - `{{raw}}` spells the build metadata separator `+` as `_` (as relkit's default policy does);
//! - an invalid version, an unknown attribute, an unknown `{{expression}}` or a tag that a
//!   registry would refuse is an error, not a warning.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use regex::{Regex, RegexBuilder};
use relkit_core::{Error, Result};
use semver::Version;

/// Longest tag a registry accepts (OCI distribution spec).
const MAX_TAG_LENGTH: usize = 128;

/// metadata-action's default short SHA length.
pub const DEFAULT_SHORT_SHA_LENGTH: usize = 7;

/// The `type=` of a tag rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleType {
    /// `type=schedule`: on `schedule` events.
    Schedule,
    /// `type=semver`: from the release version.
    Semver,
    /// `type=match`: a regular expression on the tag.
    Match,
    /// `type=edge`: on pushes to the default (or named) branch.
    Edge,
    /// `type=ref`: the branch, tag or pull request of the ref.
    Ref,
    /// `type=raw`: a literal value (with expressions).
    Raw,
    /// `type=sha`: the commit SHA.
    Sha,
}

impl RuleType {
    const ALL: [Self; 7] =
        [Self::Schedule, Self::Semver, Self::Match, Self::Edge, Self::Ref, Self::Raw, Self::Sha];

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule_type| rule_type.name() == name)
    }

    /// The name used in `type=`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Semver => "semver",
            Self::Match => "match",
            Self::Edge => "edge",
            Self::Ref => "ref",
            Self::Raw => "raw",
            Self::Sha => "sha",
        }
    }

    /// metadata-action's default priority for this type.
    pub fn default_priority(self) -> i64 {
        match self {
            Self::Schedule => 1000,
            Self::Semver => 900,
            Self::Match => 800,
            Self::Edge => 700,
            Self::Ref => 600,
            Self::Raw => 200,
            Self::Sha => 100,
        }
    }

    /// Attributes this type accepts besides the global ones.
    fn own_attributes(self) -> &'static [&'static str] {
        match self {
            Self::Schedule => &["pattern"],
            Self::Semver => &["pattern", "value", "match"],
            Self::Match => &["pattern", "group", "value"],
            Self::Edge => &["branch"],
            Self::Ref => &["event"],
            Self::Raw => &["value"],
            Self::Sha => &["format"],
        }
    }

    fn expected_form(self) -> &'static str {
        match self {
            Self::Schedule => "type=schedule[,pattern=nightly]",
            Self::Semver => "type=semver,pattern={{version}}[,value=v1.2.3][,match=REGEX]",
            Self::Match => "type=match,pattern=REGEX[,group=N][,value=...]",
            Self::Edge => "type=edge[,branch=main]",
            Self::Ref => "type=ref,event=branch|tag|pr",
            Self::Raw => "type=raw,value=TAG",
            Self::Sha => "type=sha[,prefix=sha-][,format=short|long]",
        }
    }
}

/// Which ref `type=ref` turns into a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefEvent {
    /// `refs/heads/<branch>`.
    Branch,
    /// `refs/tags/<tag>`.
    Tag,
    /// `refs/pull/<n>/merge`.
    Pr,
}

/// Short or full commit SHA for `type=sha`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShaFormat {
    /// The first `short_sha_length` characters.
    Short,
    /// The full SHA.
    Long,
}

/// What a rule produces, with its type-specific attributes.
#[derive(Debug, Clone)]
pub enum RuleKind {
    /// `type=schedule,pattern=`.
    Schedule { pattern: Template },
    /// `type=semver,pattern=,value=,match=`.
    Semver { pattern: Template, value: Option<Template>, matcher: Option<Regex> },
    /// `type=match,pattern=,group=,value=`.
    Match { pattern: JsRegex, group: usize, value: Option<Template> },
    /// `type=edge,branch=`.
    Edge { branch: Option<String> },
    /// `type=ref,event=`.
    Ref { event: RefEvent },
    /// `type=raw,value=`.
    Raw { value: Template },
    /// `type=sha,format=`.
    Sha { format: ShaFormat },
}

/// One line of the `tags:` input.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The line as written, for messages.
    pub text: String,
    /// The rule's type.
    pub rule_type: RuleType,
    /// Type-specific attributes.
    pub kind: RuleKind,
    /// `enable=` (an expression that must render `true` or `false`).
    pub enable: Template,
    /// `priority=` (or the type's default).
    pub priority: i64,
    /// `prefix=`, if the rule sets one (an empty value still overrides the flavor's).
    pub prefix: Option<Template>,
    /// `suffix=`, if the rule sets one.
    pub suffix: Option<Template>,
}

/// The parsed `tags:` input, sorted by priority (highest first, stable for ties).
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// The rules, highest priority first.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }
}

/// `latest=` of the `flavor:` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatestMode {
    /// relkit: `latest` for a stable release that is the highest version (see module docs).
    Auto,
    /// Always add `latest` when any tag is produced.
    Always,
    /// Never add `latest`.
    Never,
}

/// The parsed `flavor:` input.
#[derive(Debug, Clone)]
pub struct Flavor {
    /// `latest=auto|true|false`.
    pub latest: LatestMode,
    /// Global `prefix=` for tags whose rule sets none.
    pub prefix: Template,
    /// Whether the prefix also applies to `latest` (`prefix=...,onlatest=true`).
    pub prefix_on_latest: bool,
    /// Global `suffix=`.
    pub suffix: Template,
    /// Whether the suffix also applies to `latest`.
    pub suffix_on_latest: bool,
}

impl Default for Flavor {
    fn default() -> Self {
        Self {
            latest: LatestMode::Auto,
            prefix: Template::default(),
            prefix_on_latest: false,
            suffix: Template::default(),
            suffix_on_latest: false,
        }
    }
}

/// The release version the rules are evaluated against, as version-resolve resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseVersion {
    /// The version.
    pub version: Version,
    /// The tag it was read from, as spelled (`v1.2.3`, `api/v1.2.3`); the `{{raw}}` of semver
    /// patterns and the subject of `match=` attributes and `type=match` rules.
    pub tag: String,
    /// No stable version of higher precedence exists.
    pub is_highest: bool,
    /// No stable version of the same major with higher precedence exists.
    pub is_highest_in_major: bool,
    /// No stable version of the same major.minor with higher precedence exists.
    pub is_highest_in_minor: bool,
}

/// Everything the rules may look at. Build it from the GitHub context and version-resolve.
#[derive(Debug, Clone)]
pub struct RuleContext {
    /// `GITHUB_EVENT_NAME` (`push`, `pull_request`, `schedule`, `release`, ...).
    pub event_name: String,
    /// `GITHUB_REF` (`refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/15/merge`).
    pub git_ref: String,
    /// The commit SHA (the caller applies `DOCKER_METADATA_PR_HEAD_SHA` if it wants to).
    pub sha: String,
    /// The repository's default branch, if known (`type=edge`, `{{is_default_branch}}`).
    pub default_branch: Option<String>,
    /// The event's base ref: `base_ref` of a tag push payload, `pull_request.base.ref` of a
    /// pull request (`{{base_ref}}`).
    pub base_ref: Option<String>,
    /// The pull request number (used for `pull_request_target`, whose ref is the base branch).
    pub pr_number: Option<u64>,
    /// The current time (`{{date}}`); pass `SOURCE_DATE_EPOCH` for reproducible output.
    pub now: Timestamp,
    /// The commit time (`{{commit_date}}`); falls back to `now`.
    pub commit_time: Option<Timestamp>,
    /// The release version, when this run releases one (tag ref, `release` event, explicit
    /// version input, tag on the commit). `None` for development builds.
    pub release: Option<ReleaseVersion>,
    /// Stable versions that already exist, to rank a version given by a semver `value=` that
    /// is not [`RuleContext::release`]. Empty means "no others".
    pub existing_versions: Vec<Version>,
    /// Length of short SHAs (`DOCKER_METADATA_SHORT_SHA_LENGTH`, default 7).
    pub short_sha_length: usize,
}

impl Default for RuleContext {
    fn default() -> Self {
        Self {
            event_name: String::new(),
            git_ref: String::new(),
            sha: String::new(),
            default_branch: None,
            base_ref: None,
            pr_number: None,
            now: Timestamp::UNIX_EPOCH,
            commit_time: None,
            release: None,
            existing_versions: Vec::new(),
            short_sha_length: DEFAULT_SHORT_SHA_LENGTH,
        }
    }
}

impl RuleContext {
    /// The ref the rules see: for `pull_request_target` it is the pull request's merge ref, as
    /// in metadata-action, not the base branch.
    fn effective_ref(&self) -> String {
        match self.pr_number {
            Some(number) if self.event_name.contains("pull_request_target") => {
                format!("refs/pull/{number}/merge")
            }
            _ => self.git_ref.clone(),
        }
    }

    fn short_sha(&self) -> &str {
        let length = self.short_sha_length;
        if length >= self.sha.len() { &self.sha } else { self.sha.get(..length).unwrap_or(&self.sha) }
    }
}

/// Parses `DOCKER_METADATA_SHORT_SHA_LENGTH` (a positive integer).
pub fn parse_short_sha_length(value: &str) -> Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(length) if length > 0 => Ok(length),
        _ => Err(Error::usage(format!(
            "DOCKER_METADATA_SHORT_SHA_LENGTH is not a positive number: {value:?}; set it to e.g. 12"
        ))),
    }
}

/// One produced tag (without the image name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTag {
    /// The tag, sanitized as metadata-action does.
    pub name: String,
    /// Priority of the rule that produced it first.
    pub priority: i64,
    /// Whether this is the `latest` tag added by the flavor.
    pub is_latest: bool,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Tags in metadata-action's order: the version first, the others by priority (first
    /// occurrence wins), `latest` last. Empty when no rule applied.
    pub tags: Vec<RuleTag>,
    /// The `version` output: the highest-priority tag.
    pub version: Option<String>,
    /// Non-fatal notes (a `type=match` pattern that did not match), for `::warning::`.
    pub warnings: Vec<String>,
}

impl Evaluation {
    /// The tag names (metadata-action's `tag-names` output).
    pub fn tag_names(&self) -> Vec<String> {
        self.tags.iter().map(|tag| tag.name.clone()).collect()
    }

    /// `image:tag` for every image and tag, image by image (metadata-action's `tags` output);
    /// image names are lowercased. With no images, the bare tag names.
    pub fn image_tags(&self, images: &[&str]) -> Vec<String> {
        if images.is_empty() {
            return self.tag_names();
        }
        images
            .iter()
            .flat_map(|image| {
                let image = image.to_lowercase();
                self.tags.iter().map(move |tag| format!("{image}:{}", tag.name))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing the inputs
// ---------------------------------------------------------------------------------------------

/// The rules metadata-action uses when `tags:` is empty.
const DEFAULT_RULES: [&str; 4] =
    ["type=schedule", "type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr"];

/// Parses the `tags:` input: one rule per line, attributes separated by commas (CSV: a field
/// in double quotes may contain commas), `#` starts a comment line. An empty input gives
/// metadata-action's defaults (`schedule`, `ref` branch/tag/pr).
pub fn parse_tags(input: &str) -> Result<Rules> {
    let mut lines: Vec<&str> = input_lines(input).collect();
    if lines.is_empty() {
        lines = DEFAULT_RULES.to_vec();
    }
    let mut rules = lines.into_iter().map(parse_rule).collect::<Result<Vec<_>>>()?;
    rules.sort_by_key(|rule| std::cmp::Reverse(rule.priority));
    Ok(Rules { rules })
}

/// Parses the `flavor:` input (`latest=auto|true|false`, `prefix=...[,onlatest=true]`,
/// `suffix=...[,onlatest=true]`), one or more entries per line; later lines win.
pub fn parse_flavor(input: &str) -> Result<Flavor> {
    let mut flavor = Flavor::default();
    for line in input_lines(input) {
        let bad = |why: String| {
            Error::usage(format!(
                "invalid flavor entry {line:?}: {why}; expected latest=auto|true|false, \
                 prefix=TEXT[,onlatest=true] or suffix=TEXT[,onlatest=true]"
            ))
        };
        let mut onlatest_for = None;
        for field in split_fields(line).map_err(bad)? {
            let Some((key, value)) = split_attribute(&field) else {
                return Err(bad(format!("{field:?} is not key=value")));
            };
            match key.as_str() {
                "latest" => {
                    flavor.latest = match value.as_str() {
                        "auto" => LatestMode::Auto,
                        "true" => LatestMode::Always,
                        "false" => LatestMode::Never,
                        _ => return Err(bad(format!("latest must be auto, true or false, not {value:?}"))),
                    }
                }
                "prefix" => {
                    flavor.prefix = Template::parse(&value, Scope::Global).map_err(bad)?;
                    onlatest_for = Some(Affix::Prefix);
                }
                "suffix" => {
                    flavor.suffix = Template::parse(&value, Scope::Global).map_err(bad)?;
                    onlatest_for = Some(Affix::Suffix);
                }
                "onlatest" => {
                    let on = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad(format!("onlatest must be true or false, not {value:?}"))),
                    };
                    match onlatest_for {
                        Some(Affix::Prefix) => flavor.prefix_on_latest = on,
                        Some(Affix::Suffix) => flavor.suffix_on_latest = on,
                        None => return Err(bad("onlatest must follow prefix= or suffix=".into())),
                    }
                }
                _ => return Err(bad(format!("unknown key {key:?}"))),
            }
        }
    }
    Ok(flavor)
}

#[derive(Clone, Copy)]
enum Affix {
    Prefix,
    Suffix,
}

/// Non-empty, non-comment, trimmed lines.
fn input_lines(input: &str) -> impl Iterator<Item = &str> {
    input.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Splits one CSV record (`,` separated, `"` quoted with `""` for a quote). A quote inside an
/// unquoted field is an error, as in metadata-action's CSV parser.
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".into()),
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("text after a closing quote; quote the whole field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        break;
                    }
                    Some('"') => {
                        return Err("a quote inside an unquoted field; quote the whole field".into());
                    }
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

/// `key=value` at the first `=` (key lowercased, both trimmed); `None` for a bare value.
fn split_attribute(field: &str) -> Option<(String, String)> {
    match field.split_once('=') {
        Some((key, value)) if !key.is_empty() => Some((key.trim().to_lowercase(), value.trim().to_owned())),
        _ => None,
    }
}

fn parse_rule(line: &str) -> Result<Rule> {
    let bad =
        |why: String, form: &str| Error::usage(format!("invalid tags rule {line:?}: {why}; expected {form}"));
    const ANY_FORM: &str = "type=semver|match|ref|edge|raw|sha|schedule,... or a bare tag value";

    let fields = split_fields(line).map_err(|why| bad(why, ANY_FORM))?;
    let mut rule_type = None;
    let mut attributes: Vec<(String, String)> = Vec::new();
    for field in fields {
        let (key, value) = match split_attribute(&field) {
            None => ("value".to_owned(), field.trim().to_owned()),
            Some(attribute) => attribute,
        };
        if key == "type" && rule_type.is_some() || attributes.iter().any(|(k, _)| *k == key) {
            let why = format!(
                "{key}= is given twice (a field without `=` is the value; quote fields that contain commas)"
            );
            return Err(bad(why, ANY_FORM));
        }
        match (key, value) {
            (key, value) if key == "type" => {
                rule_type = Some(RuleType::from_name(&value).ok_or_else(|| {
                    let hint = if value == "pep440" {
                        "pep440 is not supported, relkit versions are SemVer: use type=semver".to_owned()
                    } else {
                        format!("unknown type {value:?}")
                    };
                    bad(hint, ANY_FORM)
                })?);
            }
            (key, value) => attributes.push((key, value)),
        }
    }
    let rule_type = rule_type.unwrap_or(RuleType::Raw);
    let form = rule_type.expected_form();
    let bad = |why: String| bad(why, form);

    for (key, _) in &attributes {
        let global = ["enable", "priority", "prefix", "suffix"].contains(&key.as_str());
        if !global && !rule_type.own_attributes().contains(&key.as_str()) {
            return Err(bad(format!("unknown attribute {key:?} for type={}", rule_type.name())));
        }
    }
    let take = |key: &str| attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let template = |key: &str, text: &str, scope: Scope| {
        Template::parse(text, scope).map_err(|why| bad(format!("{key}=: {why}")))
    };
    let optional_template =
        |key: &str, scope: Scope| take(key).map(|text| template(key, &text, scope)).transpose();

    let mut prefix = optional_template("prefix", Scope::Global)?;
    let suffix = optional_template("suffix", Scope::Global)?;
    let kind = match rule_type {
        RuleType::Schedule => {
            let pattern = take("pattern").unwrap_or_else(|| "nightly".to_owned());
            RuleKind::Schedule { pattern: template("pattern", &pattern, Scope::Schedule)? }
        }
        RuleType::Semver => {
            let pattern = take("pattern").ok_or_else(|| bad("missing pattern=".into()))?;
            let pattern = template("pattern", &pattern, Scope::Semver)?;
            let value = take("value").filter(|v| !v.is_empty()).map(|v| template("value", &v, Scope::Global));
            let matcher = match take("match").filter(|m| !m.is_empty()) {
                None => None,
                Some(source) => {
                    let regex = Regex::new(&source).map_err(|e| {
                        bad(format!("match= is not a supported regular expression: {}", error_summary(&e)))
                    })?;
                    if regex.captures_len() < 2 {
                        return Err(bad(
                            "match= needs a capture group around the version, e.g. v(\\d.\\d.\\d)$".into(),
                        ));
                    }
                    Some(regex)
                }
            };
            RuleKind::Semver { pattern, value: value.transpose()?, matcher }
        }
        RuleType::Match => {
            let pattern = take("pattern").ok_or_else(|| bad("missing pattern=".into()))?;
            let pattern = JsRegex::parse(&pattern).map_err(|why| bad(format!("pattern=: {why}")))?;
            let group = match take("group") {
                None => 0,
                Some(group) if group.is_empty() => 0,
                Some(group) => group
                    .parse::<usize>()
                    .map_err(|_| bad(format!("group= must be a capture group number, not {group:?}")))?,
            };
            let value = take("value").filter(|v| !v.is_empty()).map(|v| template("value", &v, Scope::Global));
            RuleKind::Match { pattern, group, value: value.transpose()? }
        }
        RuleType::Edge => RuleKind::Edge { branch: take("branch").filter(|b| !b.is_empty()) },
        RuleType::Ref => {
            let event = match take("event").as_deref() {
                Some("branch") => RefEvent::Branch,
                Some("tag") => RefEvent::Tag,
                Some("pr") => RefEvent::Pr,
                Some(other) => return Err(bad(format!("event must be branch, tag or pr, not {other:?}"))),
                None => return Err(bad("missing event=".into())),
            };
            if event == RefEvent::Pr && prefix.is_none() {
                prefix = Some(Template::literal("pr-"));
            }
            RuleKind::Ref { event }
        }
        RuleType::Raw => {
            let value = take("value").ok_or_else(|| bad("missing value=".into()))?;
            RuleKind::Raw { value: template("value", &value, Scope::Global)? }
        }
        RuleType::Sha => {
            if prefix.is_none() {
                prefix = Some(Template::literal("sha-"));
            }
            let format = match take("format").as_deref() {
                None | Some("short") => ShaFormat::Short,
                Some("long") => ShaFormat::Long,
                Some(other) => return Err(bad(format!("format must be short or long, not {other:?}"))),
            };
            RuleKind::Sha { format }
        }
    };
    let enable = template("enable", &take("enable").unwrap_or_else(|| "true".to_owned()), Scope::Global)?;
    let priority = match take("priority") {
        None => rule_type.default_priority(),
        Some(priority) => priority
            .parse::<i64>()
            .map_err(|_| bad(format!("priority= must be an integer, not {priority:?}")))?,
    };
    Ok(Rule { text: line.to_owned(), rule_type, kind, enable, priority, prefix, suffix })
}

/// The last line of a multi-line error (the regex crate puts the reason there).
fn error_summary(error: &impl std::fmt::Display) -> String {
    error.to_string().lines().last().unwrap_or_default().trim().to_owned()
}

/// A JavaScript-style regular expression as metadata-action's `type=match` takes it:
/// `/source/flags` or a bare source.
#[derive(Debug, Clone)]
pub struct JsRegex {
    regex: Regex,
    /// `g` flag: the "groups" are the successive whole matches, as JavaScript's
    /// `String.prototype.match` returns them.
    global: bool,
    source: String,
}

impl JsRegex {
    fn parse(pattern: &str) -> Result<Self, String> {
        let (source, flags) = match pattern.strip_prefix('/').and_then(|rest| rest.rsplit_once('/')) {
            Some((source, flags)) if !source.is_empty() => (source, flags),
            _ => (pattern, ""),
        };
        let mut builder = RegexBuilder::new(source);
        let mut global = false;
        for flag in flags.chars() {
            match flag {
                'i' => _ = builder.case_insensitive(true),
                'm' => _ = builder.multi_line(true),
                's' => _ = builder.dot_matches_new_line(true),
                'g' => global = true,
                'u' => {}
                other => {
                    return Err(format!(
                        "regular expression flag {other:?} is not supported (use i, m, s, g)"
                    ));
                }
            }
        }
        let regex = builder
            .build()
            .map_err(|e| format!("not a supported regular expression: {}", error_summary(&e)))?;
        Ok(Self { regex, global, source: pattern.to_owned() })
    }

    /// Group `group` of the first match (or, with `g`, the `group`-th match); `None` when the
    /// pattern does not match or the group does not exist or did not participate.
    fn group<'t>(&self, text: &'t str, group: usize) -> Option<&'t str> {
        if self.global {
            self.regex.find_iter(text).nth(group).map(|m| m.as_str())
        } else {
            self.regex.captures(text)?.get(group).map(|m| m.as_str())
        }
    }

    fn matches(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions: the subset of Handlebars metadata-action documents
// ---------------------------------------------------------------------------------------------

/// Where a template is used; decides which `{{names}}` it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `value=`, `prefix=`, `suffix=`, `enable=` and flavor prefix/suffix.
    Global,
    /// `pattern=` of `type=semver`.
    Semver,
    /// `pattern=` of `type=schedule`.
    Schedule,
}

impl Scope {
    fn names(self) -> &'static [&'static str] {
        match self {
            Self::Global => &[
                "branch",
                "tag",
                "sha",
                "base_ref",
                "is_default_branch",
                "is_not_default_branch",
                "date",
                "commit_date",
            ],
            Self::Semver => &["raw", "version", "major", "minor", "patch"],
            Self::Schedule => &["date", "commit_date"],
        }
    }
}

/// A parsed template: literal text and `{{expressions}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Variable(Variable),
    Date { clock: Clock, format: Option<String>, time_zone: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variable {
    Branch,
    Tag,
    Sha,
    BaseRef,
    IsDefaultBranch,
    IsNotDefaultBranch,
    Raw,
    Version,
    Major,
    Minor,
    Patch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Now,
    Commit,
}

impl Template {
    fn literal(text: &str) -> Self {
        Self { segments: vec![Segment::Text(text.to_owned())] }
    }

    fn parse(text: &str, scope: Scope) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if rest[..start].ends_with('\\') {
                // `\{{` is a literal `{{` in Handlebars.
                literal.push_str(&rest[..start - 1]);
                literal.push_str("{{");
                rest = &rest[start + 2..];
                continue;
            }
            literal.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let (inner, close) =
                if let Some(triple) = after.strip_prefix('{') { (triple, "}}}") } else { (after, "}}") };
            let end =
                inner.find(close).ok_or_else(|| format!("{{{{ without a closing {close} in {text:?}"))?;
            let expression = inner[..end].trim_matches(|c: char| c == '~' || c.is_whitespace());
            rest = &inner[end + close.len()..];
            if expression.starts_with('!') {
                continue;
            }
            if !literal.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut literal)));
            }
            segments.push(parse_expression(expression, scope)?);
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(Self { segments })
    }

    /// Whether the template is exactly `{{raw}}` (metadata-action keeps it for prereleases).
    fn is_raw(&self) -> bool {
        matches!(self.segments.as_slice(), [Segment::Variable(Variable::Raw)])
    }

    fn uses(&self, variable: Variable) -> bool {
        self.segments.contains(&Segment::Variable(variable))
    }

    fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    fn render(&self, env: &RenderEnv<'_>) -> Result<String> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Variable(variable) => out.push_str(&env.variable(*variable)),
                Segment::Date { clock, format, time_zone } => {
                    let at = match clock {
                        Clock::Now => env.ctx.now,
                        Clock::Commit => env.ctx.commit_time.unwrap_or(env.ctx.now),
                    };
                    out.push_str(&moment::format(at, format.as_deref(), time_zone.as_deref())?);
                }
            }
        }
        Ok(out)
    }
}

fn parse_expression(expression: &str, scope: Scope) -> Result<Segment, String> {
    let tokens = tokenize(expression)?;
    let expected = || {
        let names: Vec<String> = scope.names().iter().map(|n| format!("{{{{{n}}}}}")).collect();
        names.join(" ")
    };
    let Some(Token::Word(name)) = tokens.first() else {
        return Err(format!(
            "empty or malformed expression {{{{{expression}}}}}; expected one of {}",
            expected()
        ));
    };
    if !scope.names().contains(&name.as_str()) {
        return Err(format!("unknown expression {{{{{expression}}}}} here; expected one of {}", expected()));
    }
    let clock = match name.as_str() {
        "date" => Clock::Now,
        "commit_date" => Clock::Commit,
        _ => {
            if tokens.len() > 1 {
                return Err(format!("{{{{{name}}}}} takes no arguments, found {{{{{expression}}}}}"));
            }
            return Ok(Segment::Variable(match name.as_str() {
                "branch" => Variable::Branch,
                "tag" => Variable::Tag,
                "sha" => Variable::Sha,
                "base_ref" => Variable::BaseRef,
                "is_default_branch" => Variable::IsDefaultBranch,
                "is_not_default_branch" => Variable::IsNotDefaultBranch,
                "raw" => Variable::Raw,
                "version" => Variable::Version,
                "major" => Variable::Major,
                "minor" => Variable::Minor,
                _ => Variable::Patch,
            }));
        }
    };
    let usage = format!("expected {{{{{name} 'FORMAT'}}}} or {{{{{name} 'FORMAT' tz='Area/City'}}}}");
    let mut format = None;
    let mut time_zone = None;
    for token in &tokens[1..] {
        match token {
            Token::Quoted(text) if format.is_none() => format = Some(text.clone()),
            Token::Hash(key, Some(zone)) if key == "tz" => {
                TimeZone::get(zone)
                    .map_err(|_| format!("unknown time zone {zone:?} in {{{{{expression}}}}}"))?;
                time_zone = Some(zone.clone());
            }
            Token::Word(word) => return Err(format!("the format {word:?} must be quoted; {usage}")),
            _ => return Err(format!("unexpected argument in {{{{{expression}}}}}; {usage}")),
        }
    }
    Ok(Segment::Date { clock, format, time_zone })
}

#[derive(Debug)]
enum Token {
    Word(String),
    Quoted(String),
    /// `key=value` with a quoted value (`None` when the value is not quoted).
    Hash(String, Option<String>),
}

fn tokenize(expression: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = expression.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, quote: char| {
        let mut text = String::new();
        loop {
            match chars.next() {
                Some(c) if c == quote => return Ok(text),
                Some(c) => text.push(c),
                None => return Err(format!("unclosed quote in {{{{{expression}}}}}")),
            }
        }
    };
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' {
            chars.next();
            tokens.push(Token::Quoted(quoted(&mut chars, c)?));
        } else {
            let mut word = String::new();
            while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=' && *c != '\'' && *c != '"')
            {
                word.push(c);
            }
            if chars.next_if_eq(&'=').is_some() {
                let value = match chars.next_if(|c| *c == '\'' || *c == '"') {
                    Some(quote) => Some(quoted(&mut chars, quote)?),
                    None => {
                        while chars.next_if(|c| !c.is_whitespace()).is_some() {}
                        None
                    }
                };
                tokens.push(Token::Hash(word, value));
            } else if word.is_empty() {
                return Err(format!("malformed expression {{{{{expression}}}}}"));
            } else {
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Values the templates render from.
struct RenderEnv<'a> {
    ctx: &'a RuleContext,
    git_ref: &'a str,
    semver: Option<&'a SemverValues>,
}

/// The fields of a semver pattern (`{{raw}}`, `{{version}}`, ...).
struct SemverValues {
    raw: String,
    version: Version,
}

impl RenderEnv<'_> {
    fn variable(&self, variable: Variable) -> String {
        let git_ref = self.git_ref;
        match variable {
            Variable::Branch => git_ref.strip_prefix("refs/heads/").unwrap_or_default().to_owned(),
            Variable::Tag => git_ref.strip_prefix("refs/tags/").unwrap_or_default().to_owned(),
            Variable::Sha => self.ctx.short_sha().to_owned(),
            Variable::BaseRef => self.base_ref(),
            Variable::IsDefaultBranch => self.is_default_branch().to_string(),
            Variable::IsNotDefaultBranch => (!self.is_default_branch()).to_string(),
            Variable::Raw => self.semver.map(|s| s.raw.clone()).unwrap_or_default(),
            Variable::Version => self.semver.map(|s| version_without_build(&s.version)).unwrap_or_default(),
            Variable::Major => self.semver.map(|s| s.version.major.to_string()).unwrap_or_default(),
            Variable::Minor => self.semver.map(|s| s.version.minor.to_string()).unwrap_or_default(),
            Variable::Patch => self.semver.map(|s| s.version.patch.to_string()).unwrap_or_default(),
        }
    }

    fn base_ref(&self) -> String {
        let base = self.ctx.base_ref.as_deref().unwrap_or_default();
        if self.git_ref.starts_with("refs/tags/") {
            base.strip_prefix("refs/heads/").unwrap_or(base).to_owned()
        } else if self.git_ref.starts_with("refs/pull/") {
            base.to_owned()
        } else {
            String::new()
        }
    }

    /// metadata-action's rule: the ref's branch is the default branch, or the event always
    /// runs on the default branch (`create`, `discussion`, `issues`, `schedule`).
    fn is_default_branch(&self) -> bool {
        let branch = self.git_ref.strip_prefix("refs/heads/").unwrap_or(self.git_ref);
        if branch.is_empty() {
            return false;
        }
        if self.ctx.default_branch.as_deref() == Some(branch) {
            return true;
        }
        ["create", "discussion", "issues", "schedule"].iter().any(|event| self.ctx.event_name.contains(event))
    }
}

/// `major.minor.patch[-prerelease]`, without build metadata (node-semver's `version`).
fn version_without_build(version: &Version) -> String {
    let mut text = format!("{}.{}.{}", version.major, version.minor, version.patch);
    if !version.pre.is_empty() {
        text.push('-');
        text.push_str(version.pre.as_str());
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

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
        check_tag(&name).map_err(fail)?;
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
        check_tag(&name).map_err(|why| Error::usage(format!("flavor: {why}")))?;
        if !evaluation.tags.iter().any(|tag| tag.name == name) {
            evaluation.tags.push(RuleTag { name, priority, is_latest: true });
        }
    }
    evaluation.version = evaluation.tags.first().map(|tag| tag.name.clone());
    Ok(evaluation)
}

/// What one rule produced: the tag before sanitizing, and whether it asks for `latest` under
/// `latest=auto`.
struct Produced {
    value: String,
    latest_if_auto: bool,
}

fn produce(
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
            return semver_tag(rule, flavor, ctx, env, pattern, value.as_ref(), matcher.as_ref());
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
fn release_wants_latest(ctx: &RuleContext) -> bool {
    match &ctx.release {
        Some(release) => release.version.pre.is_empty() && release.is_highest,
        None => true,
    }
}

/// Rule prefix/suffix, else the flavor's (metadata-action's `setValue`).
fn affix(rule: &Rule, flavor: &Flavor, env: &RenderEnv<'_>, value: String) -> Result<String> {
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
enum PatternLine {
    /// Names the full version (`{{version}}`, `{{raw}}`, `{{patch}}`): always.
    Exact,
    /// `{{major}}.{{minor}}`-like: highest in its minor.
    Minor,
    /// `{{major}}`-like: highest in its major.
    Major,
    /// No version field at all (a fixed name): highest overall.
    Overall,
}

fn pattern_scope(pattern: &Template) -> PatternLine {
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
struct Highest {
    overall: bool,
    in_major: bool,
    in_minor: bool,
}

fn semver_tag(
    rule: &Rule,
    flavor: &Flavor,
    ctx: &RuleContext,
    env: &RenderEnv<'_>,
    pattern: &Template,
    value: Option<&Template>,
    matcher: Option<&Regex>,
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
        raw = group.ok_or_else(|| {
            Error::usage(format!("match={:?} does not match {raw:?}; fix the pattern", matcher.as_str()))
        })?;
    }
    // As metadata-action: `/` becomes `-`. As relkit's own policy (and Helm): the build
    // metadata separator `+` becomes `_`, so `v1.2.3+build.5` stays distinguishable.
    let raw = raw.replace('/', "-").replace('+', "_");
    let (version, highest) = match (&ctx.release, from_release && matcher.is_none()) {
        (Some(release), true) => (release.version.clone(), highest_of_release(release)),
        _ => {
            let version = parse_semver(&raw)?;
            let highest = match &ctx.release {
                Some(release) if release.version == version => highest_of_release(release),
                _ => highest_among(&version, &ctx.existing_versions),
            };
            (version, highest)
        }
    };
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

fn highest_of_release(release: &ReleaseVersion) -> Highest {
    Highest {
        overall: release.is_highest,
        in_major: release.is_highest_in_major,
        in_minor: release.is_highest_in_minor,
    }
}

/// Ranks `version` among the existing stable versions.
fn highest_among(version: &Version, existing: &[Version]) -> Highest {
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
fn parse_semver(text: &str) -> Result<Version> {
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
fn check_tag(tag: &str) -> Result<(), String> {
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

// ---------------------------------------------------------------------------------------------
// Dates: moment.js format strings
// ---------------------------------------------------------------------------------------------

mod moment {
    //! Renders a time with a moment.js format string (English locale), as `{{date}}` does.

    use super::{Error, Result, TimeZone, Timestamp};
    use jiff::Zoned;
    use jiff::civil::{Date, Weekday};

    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

    /// Tokens, longest first so that `YYYY` wins over `YY`.
    const TOKENS: [&str; 52] = [
        "YYYYYY",
        "YYYYY",
        "SSSSSSSSS",
        "SSSSSSSS",
        "SSSSSSS",
        "SSSSSS",
        "SSSSS",
        "YYYY",
        "MMMM",
        "DDDD",
        "dddd",
        "gggg",
        "GGGG",
        "SSSS",
        "LLLL",
        "llll",
        "MMM",
        "DDD",
        "ddd",
        "SSS",
        "LTS",
        "LLL",
        "lll",
        "DDDo",
        "YY",
        "MM",
        "Mo",
        "DD",
        "Do",
        "dd",
        "do",
        "HH",
        "hh",
        "kk",
        "mm",
        "ss",
        "SS",
        "ZZ",
        "ww",
        "wo",
        "WW",
        "Wo",
        "Qo",
        "gg",
        "GG",
        "zz",
        "LL",
        "ll",
        "LT",
        "Y",
        "S",
        "X",
    ];
    const SINGLE: &str = "MDdEeHhkmsAaZzwWQxLl";

    /// `format` = `None` renders moment's default ISO 8601 form.
    pub(super) fn format(at: Timestamp, format: Option<&str>, time_zone: Option<&str>) -> Result<String> {
        let zone = match time_zone {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|_| {
                Error::usage(format!("unknown time zone {name:?}; use an IANA name like Europe/Paris"))
            })?,
        };
        let zoned = at.to_zoned(zone);
        let utc = zoned.offset().seconds() == 0;
        let default = if utc { "YYYY-MM-DDTHH:mm:ss[Z]" } else { "YYYY-MM-DDTHH:mm:ssZ" };
        let mut out = String::new();
        render(&zoned, format.unwrap_or(default), &mut out);
        Ok(out)
    }

    fn render(zoned: &Zoned, format: &str, out: &mut String) {
        let mut rest = format;
        while let Some(c) = rest.chars().next() {
            if c == '['
                && let Some(end) = rest.find(']')
            {
                out.push_str(&rest[1..end]);
                rest = &rest[end + 1..];
                continue;
            }
            if c == '\\' {
                let mut chars = rest.chars();
                chars.next();
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                    rest = chars.as_str();
                    continue;
                }
            }
            let token = TOKENS
                .iter()
                .find(|t| rest.starts_with(**t))
                .copied()
                .or_else(|| SINGLE.contains(c).then(|| &rest[..c.len_utf8()]));
            match token {
                Some(token) => {
                    token_value(zoned, token, out);
                    rest = &rest[token.len()..];
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
    }

    fn ordinal(n: i64) -> String {
        let suffix = match (n % 10, n % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        format!("{n}{suffix}")
    }

    fn offset(zoned: &Zoned, separator: &str) -> String {
        let seconds = zoned.offset().seconds();
        let sign = if seconds < 0 { '-' } else { '+' };
        let minutes = seconds.abs() / 60;
        format!("{sign}{:02}{separator}{:02}", minutes / 60, minutes % 60)
    }

    /// moment's locale week (English: weeks start on Sunday, week 1 contains January 1st).
    fn locale_week(zoned: &Zoned) -> (i64, i64) {
        week_of_year(zoned, 0, 6)
    }

    /// January `day` of `year`, if the year is in range.
    fn january(year: i64, day: i64) -> Option<Date> {
        Date::new(i16::try_from(year).ok()?, 1, i8::try_from(day).ok()?).ok()
    }

    /// moment's `weekOfYear(mom, dow, doy)`.
    fn week_of_year(zoned: &Zoned, dow: i64, doy: i64) -> (i64, i64) {
        let year = i64::from(zoned.year());
        let first_week_offset = |year: i64| {
            let fwd = 7 + dow - doy;
            let weekday =
                january(year, fwd).map_or(Weekday::Sunday, |date| date.weekday()).to_sunday_zero_offset();
            let fwdlw = (7 + i64::from(weekday) - dow) % 7;
            -fwdlw + fwd - 1
        };
        let days_in_year =
            |year: i64| if january(year, 1).is_some_and(|date| date.in_leap_year()) { 366 } else { 365 };
        let weeks_in_year =
            |year: i64| (days_in_year(year) - first_week_offset(year) + first_week_offset(year + 1)) / 7;
        let day_of_year = i64::from(zoned.day_of_year());
        let week = (day_of_year - first_week_offset(year) - 1).div_euclid(7) + 1;
        if week < 1 {
            (week + weeks_in_year(year - 1), year - 1)
        } else if week > weeks_in_year(year) {
            (week - weeks_in_year(year), year + 1)
        } else {
            (week, year)
        }
    }

    fn token_value(zoned: &Zoned, token: &str, out: &mut String) {
        use std::fmt::Write;
        let year = i64::from(zoned.year());
        let month = i64::from(zoned.month());
        let day = i64::from(zoned.day());
        let hour = i64::from(zoned.hour());
        let weekday = i64::from(zoned.weekday().to_sunday_zero_offset());
        let millis = i64::from(zoned.millisecond());
        let iso = zoned.date().iso_week_date();
        let _ = match token {
            "YYYYYY" => write!(out, "{}{:06}", if year < 0 { '-' } else { '+' }, year.abs()),
            "YYYYY" => write!(out, "{:05}", year),
            "YYYY" => write!(out, "{:04}", year),
            "YY" => write!(out, "{:02}", year.rem_euclid(100)),
            "Y" => write!(out, "{year}"),
            "Q" => write!(out, "{}", (month - 1) / 3 + 1),
            "Qo" => write!(out, "{}", ordinal((month - 1) / 3 + 1)),
            "MMMM" => write!(out, "{}", MONTHS[(month - 1) as usize]),
            "MMM" => write!(out, "{}", &MONTHS[(month - 1) as usize][..3]),
            "MM" => write!(out, "{month:02}"),
            "Mo" => write!(out, "{}", ordinal(month)),
            "M" => write!(out, "{month}"),
            "DDDD" => write!(out, "{:03}", zoned.day_of_year()),
            "DDDo" => write!(out, "{}", ordinal(i64::from(zoned.day_of_year()))),
            "DDD" => write!(out, "{}", zoned.day_of_year()),
            "DD" => write!(out, "{day:02}"),
            "Do" => write!(out, "{}", ordinal(day)),
            "D" => write!(out, "{day}"),
            "dddd" => write!(out, "{}", DAYS[weekday as usize]),
            "ddd" => write!(out, "{}", &DAYS[weekday as usize][..3]),
            "dd" => write!(out, "{}", &DAYS[weekday as usize][..2]),
            "do" => write!(out, "{}", ordinal(weekday)),
            "d" | "e" => write!(out, "{weekday}"),
            "E" => write!(out, "{}", zoned.weekday().to_monday_one_offset()),
            "WW" => write!(out, "{:02}", iso.week()),
            "Wo" => write!(out, "{}", ordinal(i64::from(iso.week()))),
            "W" => write!(out, "{}", iso.week()),
            "GGGG" => write!(out, "{:04}", iso.year()),
            "GG" => write!(out, "{:02}", i64::from(iso.year()).rem_euclid(100)),
            "ww" => write!(out, "{:02}", locale_week(zoned).0),
            "wo" => write!(out, "{}", ordinal(locale_week(zoned).0)),
            "w" => write!(out, "{}", locale_week(zoned).0),
            "gggg" => write!(out, "{:04}", locale_week(zoned).1),
            "gg" => write!(out, "{:02}", locale_week(zoned).1.rem_euclid(100)),
            "HH" => write!(out, "{hour:02}"),
            "H" => write!(out, "{hour}"),
            "hh" => write!(out, "{:02}", (hour + 11) % 12 + 1),
            "h" => write!(out, "{}", (hour + 11) % 12 + 1),
            "kk" => write!(out, "{:02}", if hour == 0 { 24 } else { hour }),
            "k" => write!(out, "{}", if hour == 0 { 24 } else { hour }),
            "mm" => write!(out, "{:02}", zoned.minute()),
            "m" => write!(out, "{}", zoned.minute()),
            "ss" => write!(out, "{:02}", zoned.second()),
            "s" => write!(out, "{}", zoned.second()),
            "A" => write!(out, "{}", if hour < 12 { "AM" } else { "PM" }),
            "a" => write!(out, "{}", if hour < 12 { "am" } else { "pm" }),
            "ZZ" => write!(out, "{}", offset(zoned, "")),
            "Z" => write!(out, "{}", offset(zoned, ":")),
            "zz" | "z" => {
                let info = zoned.time_zone().to_offset_info(zoned.timestamp());
                write!(out, "{}", info.abbreviation())
            }
            "X" => write!(out, "{}", zoned.timestamp().as_second()),
            "x" => write!(out, "{}", zoned.timestamp().as_millisecond()),
            "LT" => return render(zoned, "h:mm A", out),
            "LTS" => return render(zoned, "h:mm:ss A", out),
            "L" => return render(zoned, "MM/DD/YYYY", out),
            "LL" => return render(zoned, "MMMM D, YYYY", out),
            "LLL" => return render(zoned, "MMMM D, YYYY h:mm A", out),
            "LLLL" => return render(zoned, "dddd, MMMM D, YYYY h:mm A", out),
            "l" => return render(zoned, "M/D/YYYY", out),
            "ll" => return render(zoned, "MMM D, YYYY", out),
            "lll" => return render(zoned, "MMM D, YYYY h:mm A", out),
            "llll" => return render(zoned, "ddd, MMM D, YYYY h:mm A", out),
            fraction => {
                // S..SSSSSSSSS: moment has millisecond precision and pads with zeros.
                let digits = format!("{millis:03}000000");
                write!(out, "{}", &digits[..fraction.len()])
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA: &str = "5d2f6c1e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
    const SHORT: &str = "5d2f6c1";

    fn instant(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// A context like a GitHub run: `main` is the default branch, the clock reads
    /// 2020-01-10T00:30:00Z and the commit was made the day before.
    fn run(event: &str, git_ref: &str) -> RuleContext {
        RuleContext {
            event_name: event.to_owned(),
            git_ref: git_ref.to_owned(),
            sha: SHA.to_owned(),
            default_branch: Some("main".to_owned()),
            now: instant("2020-01-10T00:30:00Z"),
            commit_time: Some(instant("2020-01-09T22:15:07Z")),
            ..RuleContext::default()
        }
    }

    fn push_branch(branch: &str) -> RuleContext {
        run("push", &format!("refs/heads/{branch}"))
    }

    /// A release version read from `tag` (any prefix before the version is kept as spelled).
    fn release(tag: &str, highest: bool, in_major: bool, in_minor: bool) -> ReleaseVersion {
        let bare = tag.rsplit('/').next().unwrap().trim_start_matches('v');
        ReleaseVersion {
            version: Version::parse(bare).unwrap(),
            tag: tag.to_owned(),
            is_highest: highest,
            is_highest_in_major: in_major,
            is_highest_in_minor: in_minor,
        }
    }

    /// A tag push of the highest version.
    fn push_tag(tag: &str) -> RuleContext {
        RuleContext {
            base_ref: Some("refs/heads/main".to_owned()),
            release: Some(release(tag, true, true, true)),
            ..run("push", &format!("refs/tags/{tag}"))
        }
    }

    /// A tag push of a tag that is not a version (relkit then has no release version).
    fn push_other_tag(tag: &str) -> RuleContext {
        run("push", &format!("refs/tags/{tag}"))
    }

    fn pull_request() -> RuleContext {
        RuleContext {
            base_ref: Some("main".to_owned()),
            pr_number: Some(15),
            ..run("pull_request", "refs/pull/15/merge")
        }
    }

    fn pull_request_target() -> RuleContext {
        RuleContext {
            base_ref: Some("main".to_owned()),
            pr_number: Some(15),
            ..run("pull_request_target", "refs/heads/main")
        }
    }

    fn plan(ctx: &RuleContext, tags: &str, flavor: &str) -> Result<Evaluation> {
        evaluate(&parse_tags(tags)?, &parse_flavor(flavor)?, ctx)
    }

    fn check(name: &str, ctx: RuleContext, tags: &str, flavor: &str, expected: &[&str]) {
        let evaluation = plan(&ctx, tags, flavor).unwrap_or_else(|e| panic!("{name}: {e}"));
        let sha_expanded: Vec<String> =
            expected.iter().map(|t| t.replace("{SHORT}", SHORT).replace("{SHA}", SHA)).collect();
        assert_eq!(evaluation.tag_names(), sha_expanded, "{name}: tags");
        assert_eq!(
            evaluation.version.as_deref(),
            sha_expanded.first().map(String::as_str),
            "{name}: version"
        );
    }

    #[test]
    fn branch_pushes() {
        let cases: Vec<(&str, RuleContext, &str, &str, Vec<&str>)> = vec![
            ("default rules name the branch", push_branch("dev"), "", "", vec!["dev"]),
            ("edge on the default branch", push_branch("main"), "type=edge", "", vec!["edge"]),
            (
                "edge on a dispatch from the default branch",
                run("workflow_dispatch", "refs/heads/main"),
                "type=edge",
                "",
                vec!["edge"],
            ),
            (
                "branch and short sha",
                push_branch("dev"),
                "type=ref,event=branch\ntype=sha",
                "",
                vec!["dev", "sha-{SHORT}"],
            ),
            (
                "edge for a named branch",
                push_branch("dev"),
                "type=edge,branch=dev\ntype=sha",
                "",
                vec!["edge", "sha-{SHORT}"],
            ),
            (
                "edge for another branch is skipped",
                push_branch("main"),
                "type=edge,branch=dev\ntype=sha",
                "",
                vec!["sha-{SHORT}"],
            ),
            (
                "invalid characters are replaced",
                push_branch("my/feature#1245"),
                "type=ref,event=branch",
                "",
                vec!["my-feature-1245"],
            ),
            (
                "edge skipped off the default branch",
                push_branch("my/feature#1245"),
                "type=edge\ntype=sha",
                "",
                vec!["sha-{SHORT}"],
            ),
            (
                "semver without a version gives nothing",
                push_branch("my/feature#1245"),
                "type=semver,pattern={{version}}\ntype=edge",
                "",
                vec![],
            ),
            (
                "priority reorders",
                push_branch("main"),
                "type=ref,priority=2000,event=branch\ntype=edge",
                "",
                vec!["main", "edge"],
            ),
            (
                "semver from value=",
                push_branch("main"),
                "type=semver,pattern={{version}},value=v1.2.3\ntype=edge",
                "",
                vec!["1.2.3", "edge", "latest"],
            ),
            (
                "match from value=",
                push_branch("main"),
                "type=match,pattern=v(.*),group=1,value=v1.2.3\ntype=edge",
                "",
                vec!["1.2.3", "edge", "latest"],
            ),
            (
                "disabled rule",
                push_branch("main"),
                "type=match,enable=false,pattern=v(.*),group=1,value=v1.2.3\ntype=edge",
                "",
                vec!["edge"],
            ),
            (
                "global expressions",
                push_branch("main"),
                "type=raw,value=t-{{branch}}\ntype=raw,value=t-{{date 'YYYYMMDD'}}\ntype=raw,value=t-cd-{{commit_date 'YYYYMMDD'}}\n\
                 type=raw,value=t-{{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}\ntype=raw,value=t-tag-{{tag}}\n\
                 type=raw,value=t-base-{{base_ref}}\ntype=raw,value=t-default,enable={{is_default_branch}}",
                "",
                vec![
                    "t-main",
                    "t-20200110",
                    "t-cd-20200109",
                    "t-20200110-093000",
                    "t-tag-",
                    "t-base-",
                    "t-default",
                ],
            ),
            (
                "long sha",
                push_branch("dev"),
                "type=ref,event=branch\ntype=sha,format=long",
                "",
                vec!["dev", "sha-{SHA}"],
            ),
            (
                "disabled branch rule falls through to the sha",
                push_branch("dev"),
                "type=edge,branch=main\ntype=ref,event=branch,enable=false\ntype=sha,format=long\ntype=raw,value=default,enable={{is_default_branch}}",
                "",
                vec!["sha-{SHA}"],
            ),
            (
                "is_not_default_branch",
                push_branch("dev"),
                "type=edge,branch=main\ntype=sha,format=long\ntype=raw,value=notdefault,enable={{is_not_default_branch}}",
                "",
                vec!["notdefault", "sha-{SHA}"],
            ),
            (
                "sha length is configurable",
                RuleContext { short_sha_length: 12, ..push_branch("dev") },
                "type=sha\ntype=raw,value=x-{{sha}}",
                "",
                vec!["x-5d2f6c1e9a8b", "sha-5d2f6c1e9a8b"],
            ),
            (
                "bare values are raw tags",
                push_branch("dev"),
                "type=ref,event=branch\nmy\ntype=raw,custom\ntype=raw,value=tags",
                "",
                vec!["dev", "my", "custom", "tags"],
            ),
            (
                "comments and blank lines",
                push_branch("dev"),
                "# a comment\n\n  type=ref,event=branch  \n",
                "",
                vec!["dev"],
            ),
            (
                "empty value is skipped",
                push_branch("dev"),
                "type=raw,value={{tag}}\ntype=sha",
                "",
                vec!["sha-{SHORT}"],
            ),
        ];
        for (name, ctx, tags, flavor, expected) in cases {
            check(name, ctx, tags, flavor, &expected);
        }
    }

    #[test]
    fn tag_pushes() {
        let prerelease = || RuleContext {
            release: Some(release("v2.0.8-beta.67", false, false, false)),
            ..push_tag("v2.0.8-beta.67")
        };
        let monorepo = || push_tag("p1/v1.0.0");
        let cases: Vec<(&str, RuleContext, &str, &str, Vec<&str>)> = vec![
            ("default rules on a release tag", push_tag("v1.1.1"), "", "", vec!["v1.1.1", "latest"]),
            (
                "default rules on a tag that is not a version",
                push_other_tag("release1"),
                "",
                "",
                vec!["release1", "latest"],
            ),
            (
                "match digits, no latest",
                push_other_tag("20200110-RC2"),
                "type=match,pattern=\\d{8}",
                "latest=false",
                vec!["20200110"],
            ),
            (
                "match group",
                push_other_tag("20200110-RC2"),
                "type=match,pattern=(.*)-RC,group=1",
                "latest=false",
                vec!["20200110"],
            ),
            (
                "match the version",
                push_tag("v1.1.1"),
                "type=match,\"pattern=\\d.\\d.\\d\"",
                "",
                vec!["1.1.1", "latest"],
            ),
            (
                "match anchored",
                push_tag("v1.1.1"),
                "type=match,\"pattern=^v(\\d.\\d.\\d)$\",group=1",
                "",
                vec!["1.1.1", "latest"],
            ),
            ("match on a prerelease", prerelease(), "type=match,\"pattern=\\d.\\d\"", "", vec!["2.0"]),
            (
                "two groups of one match",
                prerelease(),
                "type=match,\"pattern=v(.*)-beta.(.*)\",group=1\ntype=match,\"pattern=v(.*)-beta.(.*)\",group=2",
                "",
                vec!["2.0.8", "67"],
            ),
            (
                "match that does not match",
                push_other_tag("sometag"),
                "type=match,\"pattern=\\d.\\d\"",
                "",
                vec![],
            ),
            (
                "semver version, minor and major",
                push_tag("v1.1.1"),
                "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}",
                "",
                vec!["1.1.1", "1.1", "1", "latest"],
            ),
            (
                "duplicates collapse",
                push_tag("v1.1.1"),
                "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}.{{patch}}",
                "",
                vec!["1.1.1", "latest"],
            ),
            (
                "a prerelease only gets its version",
                prerelease(),
                "type=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}",
                "",
                vec!["2.0.8-beta.67"],
            ),
            (
                "a prerelease keeps {{raw}}",
                prerelease(),
                "type=semver,pattern={{raw}}",
                "",
                vec!["v2.0.8-beta.67"],
            ),
            (
                "raw with spaces",
                push_tag("v1.1.1"),
                "type=semver,pattern={{ raw }}",
                "",
                vec!["v1.1.1", "latest"],
            ),
            (
                "a higher priority raw tag decides latest",
                prerelease(),
                "type=raw,priority=2000,foo\ntype=semver,pattern={{version}}\ntype=match,\"pattern=\\d.\\d\"",
                "",
                vec!["foo", "2.0.8-beta.67", "2.0"],
            ),
            (
                "first producing rule decides latest",
                push_tag("v1.1.1"),
                "type=raw,priority=2000,foo\ntype=ref,event=tag\ntype=edge",
                "",
                vec!["foo", "v1.1.1"],
            ),
            (
                "monorepo tag with several match rules",
                monorepo(),
                "type=match,\"pattern=/^v(\\d.\\d.\\d)$/ig\",group=1\ntype=match,pattern=\\d.\\d.\\d\ntype=match,pattern=\\d.\\d\n\
                 type=ref,event=pr\ntype=sha",
                "",
                vec!["1.0.0", "1.0", "sha-{SHORT}", "latest"],
            ),
            (
                "monorepo tag with a missing group",
                monorepo(),
                "type=match,pattern=p1/v(\\d.\\d.\\d),group=1\ntype=match,pattern=p1/v(\\d.\\d),group=1\n\
                 type=match,pattern=p1/v(\\d.\\d),group=3\ntype=sha",
                "",
                vec!["1.0.0", "1.0", "sha-{SHORT}", "latest"],
            ),
            (
                "flavor suffix unless the rule sets one",
                monorepo(),
                "type=match,pattern=p1/v(\\d.\\d.\\d),group=1\ntype=match,pattern=p1/v(\\d.\\d),group=1,suffix=\ntype=sha",
                "suffix=-dev",
                vec!["1.0.0-dev", "1.0", "sha-{SHORT}-dev", "latest"],
            ),
            (
                "expressions on a tag",
                push_tag("v1.1.1"),
                "type=raw,{{tag}}-{{sha}}-foo\ntype=raw,{{base_ref}}-foo\ntype=raw,default-foo,enable={{is_default_branch}}",
                "",
                vec!["v1.1.1-{SHORT}-foo", "main-foo"],
            ),
            (
                "suffix on latest",
                push_tag("v1.1.1"),
                "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}.{{patch}}",
                "suffix=-dev,onlatest=true",
                vec!["1.1.1-dev", "latest-dev"],
            ),
            (
                "prefix and suffix on latest",
                push_tag("v1.1.1"),
                "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}.{{patch}}",
                "prefix=foo-,onlatest=true\nsuffix=-dev,onlatest=true",
                vec!["foo-1.1.1-dev", "foo-latest-dev"],
            ),
            (
                "semver match= on a monorepo tag",
                monorepo(),
                "type=semver,pattern={{version}},\"match=v(\\d.\\d.\\d)$\"",
                "",
                vec!["1.0.0", "latest"],
            ),
            (
                "semver value= with match= on a branch",
                push_branch("main"),
                "type=semver,pattern={{version}},value=p1/v1.2.3,\"match=v(\\d.\\d.\\d)$\"\ntype=edge",
                "",
                vec!["1.2.3", "edge", "latest"],
            ),
            ("latest=false", push_tag("v1.1.1"), "type=ref,event=tag", "latest=false", vec!["v1.1.1"]),
            (
                "latest=true for every tag",
                push_branch("dev"),
                "type=ref,priority=90,event=branch\ntype=raw,my\ntype=raw,custom",
                "latest=true",
                vec!["my", "custom", "dev", "latest"],
            ),
            (
                "rule prefix and suffix beat the flavor's",
                push_branch("dev"),
                "type=match,pattern=\\d{8}\ntype=raw,my,prefix=foo-,suffix=-bar\ntype=raw,custom",
                "latest=false\nprefix=glo-\nsuffix=-bal",
                vec!["foo-my-bar", "glo-custom-bal"],
            ),
            (
                "enable true and false",
                push_branch("dev"),
                "type=raw,foo\ntype=raw,bar,enable=false\ntype=raw,baz,enable=true",
                "",
                vec!["foo", "baz"],
            ),
        ];
        for (name, ctx, tags, flavor, expected) in cases {
            check(name, ctx, tags, flavor, &expected);
        }
    }

    #[test]
    fn pull_requests_schedules_and_releases() {
        let schedule = || run("schedule", "refs/heads/main");
        let release_event =
            || RuleContext { event_name: "release".to_owned(), base_ref: None, ..push_tag("v1.1.1") };
        let cases: Vec<(&str, RuleContext, &str, &str, Vec<&str>)> = vec![
            ("default rules on a pull request", pull_request(), "", "", vec!["pr-15"]),
            ("pr and sha", pull_request(), "type=ref,event=pr\ntype=sha", "", vec!["pr-15", "sha-{SHORT}"]),
            (
                "sha first",
                pull_request(),
                "type=sha,priority=2000\ntype=ref,event=pr",
                "",
                vec!["sha-{SHORT}", "pr-15"],
            ),
            (
                "pr keeps its prefix, takes the flavor suffix",
                pull_request(),
                "type=ref,event=pr",
                "prefix=glo-\nsuffix=-bal",
                vec!["pr-15-bal"],
            ),
            (
                "pr with an empty prefix",
                pull_request(),
                "type=ref,event=pr,prefix=",
                "prefix=glo-\nsuffix=-bal",
                vec!["15-bal"],
            ),
            (
                "pull_request_target uses the pr ref",
                pull_request_target(),
                "type=sha,priority=2000\ntype=ref,event=pr",
                "",
                vec!["sha-{SHORT}", "pr-15"],
            ),
            (
                "pull_request_target has no branch",
                pull_request_target(),
                "type=ref,event=tag\ntype=ref,event=pr\ntype=ref,event=branch\ntype=sha\ntype=sha,format=long",
                "",
                vec!["pr-15", "sha-{SHORT}", "sha-{SHA}"],
            ),
            (
                "base_ref of a pull request",
                pull_request(),
                "type=raw,value=t-{{base_ref}}\ntype=raw,t-default,enable={{is_default_branch}}",
                "",
                vec!["t-main"],
            ),
            ("default rules on a schedule", schedule(), "", "", vec!["nightly", "main"]),
            (
                "schedule date patterns",
                schedule(),
                "type=schedule,pattern={{date 'YYYYMMDD'}}\ntype=schedule,pattern=src-{{commit_date 'YYYY-MM-DD'}}",
                "",
                vec!["20200110", "src-2020-01-09"],
            ),
            (
                "schedule time",
                schedule(),
                "type=schedule,pattern={{date 'YYYYMMDD-HHmmss'}}",
                "",
                vec!["20200110-003000"],
            ),
            (
                "schedule is a default-branch event",
                schedule(),
                "type=schedule\ntype=sha,priority=2000\ntype=raw,value=default,enable={{is_default_branch}}",
                "",
                vec!["sha-{SHORT}", "nightly", "default"],
            ),
            (
                "schedule with the flavor",
                schedule(),
                "type=schedule",
                "prefix=glo-\nsuffix=-bal",
                vec!["glo-nightly-bal"],
            ),
            (
                "schedule in a time zone",
                schedule(),
                "type=schedule,pattern={{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}\n\
                 type=schedule,\"pattern=src-{{commit_date 'YYYYMMDD-HHmmss' tz=\"\"Asia/Tokyo\"\"}}\"",
                "",
                vec!["20200110-093000", "src-20200110-071507"],
            ),
            (
                "schedule rules wait for a schedule",
                push_branch("main"),
                "type=schedule\ntype=sha",
                "",
                vec!["sha-{SHORT}"],
            ),
            ("default rules on a release", release_event(), "", "", vec!["v1.1.1", "latest"]),
            (
                "release with expressions",
                release_event(),
                "type=ref,event=tag\ntype=raw,value=base-{{base_ref}}\ntype=raw,value=default,enable={{is_default_branch}}",
                "",
                vec!["v1.1.1", "base-", "latest"],
            ),
            (
                "dates without a format are ISO 8601",
                release_event(),
                "type=raw,value={{commit_date}}\ntype=raw,value={{date tz='Asia/Tokyo'}}",
                "",
                vec!["2020-01-09T22-15-07Z", "2020-01-10T09-30-00-09-00"],
            ),
        ];
        for (name, ctx, tags, flavor, expected) in cases {
            check(name, ctx, tags, flavor, &expected);
        }
    }

    /// The places where relkit deliberately differs from metadata-action.
    #[test]
    fn deliberate_differences() {
        let hotfix =
            || RuleContext { release: Some(release("v1.9.1", false, true, true)), ..push_tag("v1.9.1") };
        let old_minor =
            || RuleContext { release: Some(release("v1.8.5", false, false, true)), ..push_tag("v1.8.5") };
        let dispatch = || RuleContext {
            release: Some(release("v1.2.3", true, true, true)),
            ..run("workflow_dispatch", "refs/heads/main")
        };
        let semver3 = "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}";
        let cases: Vec<(&str, RuleContext, &str, &str, Vec<&str>)> = vec![
            ("hotfix below the highest: no latest", hotfix(), semver3, "", vec!["1.9.1", "1.9", "1"]),
            ("old minor: no major tag", old_minor(), semver3, "", vec!["1.8.5", "1.8"]),
            ("ref tag of a hotfix: no latest", hotfix(), "type=ref,event=tag", "", vec!["v1.9.1"]),
            ("match on a hotfix: no latest", hotfix(), "type=match,pattern=\\d.\\d.\\d", "", vec!["1.9.1"]),
            (
                "latest=true still forces latest",
                hotfix(),
                "type=ref,event=tag",
                "latest=true",
                vec!["v1.9.1", "latest"],
            ),
            ("semver on workflow_dispatch", dispatch(), semver3, "", vec!["1.2.3", "1.2", "1", "latest"]),
            ("ref tag needs a tag ref", dispatch(), "type=ref,event=tag\ntype=sha", "", vec!["sha-{SHORT}"]),
            (
                "match on workflow_dispatch",
                dispatch(),
                "type=match,pattern=v(.*),group=1",
                "",
                vec!["1.2.3", "latest"],
            ),
            (
                "a fixed semver pattern is a floating tag",
                hotfix(),
                "type=semver,pattern={{version}}\ntype=semver,pattern=stable",
                "",
                vec!["1.9.1"],
            ),
            (
                "a value= version is ranked against existing versions",
                RuleContext {
                    existing_versions: vec![Version::new(1, 2, 0), Version::parse("2.0.0-rc.1").unwrap()],
                    ..push_branch("main")
                },
                "type=semver,pattern={{version}},value=v1.0.4\ntype=semver,pattern={{major}}\ntype=semver,pattern={{major}}.{{minor}},value=v1.0.4",
                "",
                vec!["1.0.4", "1.0"],
            ),
            (
                "build metadata: {{version}} drops it, {{raw}} spells + as _",
                push_tag("v1.2.3+build.5"),
                "type=semver,pattern={{version}}\ntype=semver,pattern={{raw}}",
                "",
                vec!["1.2.3", "v1.2.3_build.5", "latest"],
            ),
            (
                "quoted commas stay in the pattern",
                push_other_tag("r12x"),
                "type=match,\"pattern=\\d{1,2}\"",
                "latest=false",
                vec!["12"],
            ),
        ];
        for (name, ctx, tags, flavor, expected) in cases {
            check(name, ctx, tags, flavor, &expected);
        }
    }

    #[test]
    fn match_warnings_name_the_rule() {
        let evaluation = plan(
            &push_tag("p1/v1.0.0"),
            "type=match,pattern=p1/v(\\d.\\d),group=3\ntype=match,pattern=^nope",
            "",
        )
        .unwrap();
        assert!(evaluation.tags.is_empty());
        assert_eq!(evaluation.warnings.len(), 2, "{:?}", evaluation.warnings);
        assert!(evaluation.warnings[0].contains("group 3 does not exist"), "{:?}", evaluation.warnings);
        assert!(evaluation.warnings[1].contains("does not match \"p1/v1.0.0\""), "{:?}", evaluation.warnings);
    }

    #[test]
    fn evaluation_errors() {
        let too_long = format!("type=raw,value={}", "x".repeat(129));
        let cases: Vec<(&str, RuleContext, &str, &str)> = vec![
            (
                "not a version",
                push_other_tag("sometag"),
                "type=ref,event=tag\ntype=semver,pattern={{version}}",
                "\"sometag\" is not a valid SemVer",
            ),
            (
                "partial version value",
                push_branch("main"),
                "type=semver,pattern={{version}},value=1.2",
                "\"1.2\" is not a valid SemVer",
            ),
            (
                "match= that does not match",
                push_tag("v1.2.3"),
                "type=semver,pattern={{version}},match=x(\\d+)",
                "does not match \"v1.2.3\"",
            ),
            (
                "enable must be a boolean",
                push_branch("dev"),
                "type=raw,value=a,enable={{branch}}",
                "enable= must render true or false, got \"dev\"",
            ),
            ("tag too long", push_branch("dev"), &too_long, "registries accept at most 128"),
            ("tag starts with a dash", push_branch("#1-fix"), "type=ref,event=branch", "starts with \"-\""),
            (
                "edge without a default branch",
                RuleContext { default_branch: None, ..push_branch("dev") },
                "type=edge",
                "name it with type=edge,branch=main",
            ),
        ];
        for (name, ctx, tags, message) in cases {
            let error = plan(&ctx, tags, "").expect_err(name);
            assert_eq!(error.exit_code(), 2, "{name}");
            assert!(error.message().contains(message), "{name}: {error}");
            assert!(!error.message().contains('\n'), "{name}: one line");
        }
    }

    #[test]
    fn rules_are_sorted_by_priority_keeping_input_order() {
        let rules = parse_tags(
            "type=ref,event=branch\ntype=ref,event=tag\ntype=ref,event=pr\ntype=schedule\ntype=sha\ntype=raw,foo\n\
             type=edge\ntype=semver,pattern={{version}}\ntype=match,\"pattern=\\d.\\d.\\d\",group=0",
        )
        .unwrap();
        let order: Vec<(RuleType, i64)> = rules.iter().map(|rule| (rule.rule_type, rule.priority)).collect();
        assert_eq!(
            order,
            vec![
                (RuleType::Schedule, 1000),
                (RuleType::Semver, 900),
                (RuleType::Match, 800),
                (RuleType::Edge, 700),
                (RuleType::Ref, 600),
                (RuleType::Ref, 600),
                (RuleType::Ref, 600),
                (RuleType::Raw, 200),
                (RuleType::Sha, 100),
            ]
        );
        let events: Vec<RefEvent> = rules
            .iter()
            .filter_map(|rule| match rule.kind {
                RuleKind::Ref { event } => Some(event),
                _ => None,
            })
            .collect();
        assert_eq!(events, vec![RefEvent::Branch, RefEvent::Tag, RefEvent::Pr]);
    }

    #[test]
    fn empty_tags_input_gives_the_defaults() {
        let rules = parse_tags("  \n# nothing\n").unwrap();
        let types: Vec<RuleType> = rules.iter().map(|rule| rule.rule_type).collect();
        assert_eq!(types, vec![RuleType::Schedule, RuleType::Ref, RuleType::Ref, RuleType::Ref]);
    }

    #[test]
    fn parsed_attributes_and_defaults() {
        let rule = |text: &str| parse_tags(text).unwrap().iter().next().unwrap().clone();
        let sha = rule("type=sha");
        assert_eq!(sha.prefix, Some(Template::literal("sha-")));
        assert!(matches!(sha.kind, RuleKind::Sha { format: ShaFormat::Short }));
        assert_eq!(rule("type=sha,prefix=").prefix, Some(Template::default()));
        assert!(matches!(rule("type=sha,format=long").kind, RuleKind::Sha { format: ShaFormat::Long }));
        assert_eq!(rule("type=ref,event=pr").prefix, Some(Template::literal("pr-")));
        assert_eq!(rule("type=ref,event=branch").prefix, None);
        assert_eq!(rule("type=semver,priority=1,pattern={{version}}").priority, 1);
        assert_eq!(rule("type=raw,priority=-5,x").priority, -5);
        assert!(matches!(rule("type=match,pattern=v(.*),group=1").kind, RuleKind::Match { group: 1, .. }));
        assert!(
            matches!(rule("type=edge,branch=master").kind, RuleKind::Edge { branch: Some(ref b) } if b == "master")
        );
        assert!(
            matches!(rule("type=schedule").kind, RuleKind::Schedule { ref pattern } if *pattern == Template::literal("nightly"))
        );
        assert!(
            matches!(rule("type=raw, \"value=a\"\"b,c\" ").kind, RuleKind::Raw { ref value } if *value == Template::literal("a\"b,c"))
        );
        assert_eq!(rule("acustomtag").rule_type, RuleType::Raw);
        assert_eq!(rule("TYPE=raw, Value = spaced ").text, "TYPE=raw, Value = spaced");
        assert!(
            matches!(rule("TYPE=raw, Value = spaced ").kind, RuleKind::Raw { ref value } if *value == Template::literal("spaced"))
        );
    }

    #[test]
    fn bad_rules_are_one_line_usage_errors() {
        let cases = [
            ("type=semver", "missing pattern="),
            ("type=match", "missing pattern="),
            ("type=foo", "unknown type \"foo\""),
            ("type=Semver,pattern={{version}}", "unknown type \"Semver\""),
            ("type=pep440,pattern={{version}}", "use type=semver"),
            ("type=sha,format=foo", "format must be short or long"),
            ("type=ref", "missing event="),
            ("type=ref,event=foo", "event must be branch, tag or pr"),
            ("type=raw", "missing value="),
            ("type=match,pattern=v(.*),group=foo", "group= must be a capture group number"),
            ("type=sha,formt=long", "unknown attribute \"formt\""),
            ("type=raw,value=a\"b", "quote inside an unquoted field"),
            ("type=raw,\"value=a", "quoted field is not closed"),
            ("type=raw,value={{brnach}}", "unknown expression {{brnach}}"),
            ("type=raw,value={{branch", "without a closing }}"),
            ("type=schedule,pattern={{branch}}", "unknown expression {{branch}}"),
            ("type=semver,pattern={{branch}}", "expected one of {{raw}} {{version}}"),
            ("type=raw,value={{date YYYYMMDD}}", "must be quoted"),
            ("type=raw,value={{date 'YYYY' tz='Mars/Olympus'}}", "unknown time zone \"Mars/Olympus\""),
            ("type=raw,value={{date 'YYYY' zone='UTC'}}", "unexpected argument"),
            ("type=raw,value={{sha 'x'}}", "takes no arguments"),
            ("type=raw,x,priority=high", "priority= must be an integer"),
            ("type=match,pattern=(unclosed", "not a supported regular expression"),
            ("type=match,pattern=/a/y", "flag 'y' is not supported"),
            ("type=raw,value={{date 'dddd, MMMM Do'}}", "value= is given twice"),
            ("type=sha,type=raw", "type= is given twice"),
            ("type=semver,pattern={{version}},match=v\\d", "needs a capture group"),
        ];
        for (text, message) in cases {
            let error = parse_tags(text).expect_err(text);
            assert_eq!(error.exit_code(), 2, "{text}");
            assert!(error.message().contains(message), "{text}: {error}");
            assert!(error.message().contains(&format!("{text:?}")), "{text}: names the rule: {error}");
            assert!(error.message().contains("expected"), "{text}: says the expected form: {error}");
        }
    }

    #[test]
    fn flavors() {
        let ok = [
            ("latest=true", LatestMode::Always, "", false, "", false),
            ("latest=false", LatestMode::Never, "", false, "", false),
            ("latest=auto", LatestMode::Auto, "", false, "", false),
            ("prefix=sha-", LatestMode::Auto, "sha-", false, "", false),
            ("suffix=-alpine", LatestMode::Auto, "", false, "-alpine", false),
            ("latest=false\nprefix=dev-\nsuffix=-alpine", LatestMode::Never, "dev-", false, "-alpine", false),
            ("prefix=dev-,onlatest=true", LatestMode::Auto, "dev-", true, "", false),
            ("suffix=-alpine,onlatest=true", LatestMode::Auto, "", false, "-alpine", true),
            (
                "prefix=dev-,onlatest=true\nsuffix=-alpine,onlatest=true",
                LatestMode::Auto,
                "dev-",
                true,
                "-alpine",
                true,
            ),
        ];
        for (input, latest, prefix, prefix_on_latest, suffix, suffix_on_latest) in ok {
            let flavor = parse_flavor(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(flavor.latest, latest, "{input}");
            assert_eq!(flavor.prefix, Template::parse(prefix, Scope::Global).unwrap(), "{input}");
            assert_eq!(flavor.prefix_on_latest, prefix_on_latest, "{input}");
            assert_eq!(flavor.suffix, Template::parse(suffix, Scope::Global).unwrap(), "{input}");
            assert_eq!(flavor.suffix_on_latest, suffix_on_latest, "{input}");
        }
        let bad = [
            ("randomstr\nlatest=auto", "is not key=value"),
            ("unknwown=foo", "unknown key"),
            ("latest", "is not key=value"),
            ("latest=foo", "latest must be auto, true or false"),
            ("prefix=a,onlatest=yes", "onlatest must be true or false"),
            ("onlatest=true", "must follow prefix= or suffix="),
        ];
        for (input, message) in bad {
            let error = parse_flavor(input).expect_err(input);
            assert_eq!(error.exit_code(), 2);
            assert!(error.message().contains(message), "{input}: {error}");
        }
    }

    #[test]
    fn image_tags_follow_metadata_action() {
        let evaluation = plan(&push_tag("v1.1.1"), "type=semver,pattern={{version}}", "").unwrap();
        assert_eq!(
            evaluation.image_tags(&["org/app", "ghcr.io/MyUser/MyApp"]),
            vec![
                "org/app:1.1.1",
                "org/app:latest",
                "ghcr.io/myuser/myapp:1.1.1",
                "ghcr.io/myuser/myapp:latest"
            ]
        );
        assert_eq!(evaluation.image_tags(&[]), vec!["1.1.1", "latest"]);
        assert!(evaluation.tags[1].is_latest && !evaluation.tags[0].is_latest);
        assert_eq!(evaluation.tags[0].priority, 900);
    }

    #[test]
    fn moment_formats() {
        // Friday 10 January 2020, 00:30:00.042 UTC.
        let at = instant("2020-01-10T00:30:00.042Z");
        let cases = [
            ("YYYYMMDD", None, "20200110"),
            ("dddd, MMMM Do YYYY, h:mm:ss a", None, "Friday, January 10th 2020, 12:30:00 am"),
            ("YYYYMMDD-HHmmss", Some("Asia/Tokyo"), "20200110-093000"),
            ("YY-M-D H:m:s A", Some("America/New_York"), "20-1-9 19:30:0 PM"),
            ("ddd DDD DDDD Q W WW GGGG w gggg E d", None, "Fri 10 010 1 2 02 2020 2 2020 5 5"),
            ("SSS S SSSS X x", None, "042 0 0420 1578616200 1578616200042"),
            ("[week] W, ZZ Z z", Some("Asia/Kolkata"), "week 2, +0530 +05:30 IST"),
            ("LL \\Y", None, "January 10, 2020 Y"),
            ("kk hh", None, "24 12"),
        ];
        for (format, zone, expected) in cases {
            assert_eq!(moment::format(at, Some(format), zone).unwrap(), expected, "{format}");
        }
        assert_eq!(moment::format(at, None, None).unwrap(), "2020-01-10T00:30:00Z");
        assert_eq!(moment::format(at, None, Some("Asia/Tokyo")).unwrap(), "2020-01-10T09:30:00+09:00");
        // Week numbers around the new year: 1 January 2021 is a Friday in ISO week 53 of 2020
        // and in locale week 1 of 2021.
        let new_year = instant("2021-01-01T12:00:00Z");
        assert_eq!(moment::format(new_year, Some("W GGGG w gggg"), None).unwrap(), "53 2020 1 2021");
    }

    #[test]
    fn short_sha_length_values() {
        assert_eq!(parse_short_sha_length("12").unwrap(), 12);
        for bad in ["0", "", "abc", "-3"] {
            assert_eq!(parse_short_sha_length(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn sanitizing_replaces_runs() {
        assert_eq!(sanitize_tag("my/feature#1245"), "my-feature-1245");
        assert_eq!(sanitize_tag("a//b  c"), "a-b-c");
        assert_eq!(sanitize_tag("v1.2.3_x-y"), "v1.2.3_x-y");
        assert_eq!(sanitize_tag("é"), "-");
    }

    fn arbitrary_context() -> impl Strategy<Value = RuleContext> {
        (
            "[a-z_]{0,20}",
            prop_oneof![
                "refs/heads/[ -~]{0,20}",
                "refs/tags/v?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,8})?",
                "refs/pull/[0-9]{1,4}/merge",
                "[ -~]{0,30}",
            ],
            "[0-9a-f]{0,40}",
            proptest::option::of("[ -~]{0,12}"),
            0usize..50,
            any::<i32>(),
        )
            .prop_map(|(event_name, git_ref, sha, default_branch, short_sha_length, seconds)| {
                RuleContext {
                    event_name,
                    git_ref,
                    sha,
                    default_branch,
                    short_sha_length,
                    now: Timestamp::from_second(i64::from(seconds)).unwrap(),
                    ..RuleContext::default()
                }
            })
    }

    fn rule_like_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ -~\n]{0,120}",
            proptest::collection::vec(
                prop_oneof![
                    Just("type=".to_owned()),
                    Just("semver".to_owned()),
                    Just("match".to_owned()),
                    Just("raw".to_owned()),
                    Just("sha".to_owned()),
                    Just("ref".to_owned()),
                    Just("edge".to_owned()),
                    Just("schedule".to_owned()),
                    Just(",pattern=".to_owned()),
                    Just(",value=".to_owned()),
                    Just(",event=".to_owned()),
                    Just(",enable=".to_owned()),
                    Just(",prefix=".to_owned()),
                    Just("{{".to_owned()),
                    Just("}}".to_owned()),
                    Just("{{date '".to_owned()),
                    Just("' tz='".to_owned()),
                    Just("\"".to_owned()),
                    Just("\n".to_owned()),
                    "[ -~]{0,6}",
                ],
                0..16,
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    proptest! {
        /// Arbitrary `tags:`/`flavor:` input never panics; it parses or is a usage error, and
        /// whatever parses evaluates without panicking against arbitrary contexts.
        #[test]
        fn parsing_and_evaluating_never_panic(tags in rule_like_text(), flavor in rule_like_text(), ctx in arbitrary_context()) {
            match parse_tags(&tags) {
                Ok(rules) => {
                    if let Ok(flavor) = parse_flavor(&flavor)
                        && let Ok(evaluation) = evaluate(&rules, &flavor, &ctx)
                    {
                        for tag in &evaluation.tags {
                            prop_assert!(!tag.name.is_empty() && tag.name.len() <= MAX_TAG_LENGTH);
                            prop_assert!(tag.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
                        }
                    }
                }
                Err(error) => {
                    prop_assert_eq!(error.exit_code(), 2);
                    prop_assert!(!error.message().contains('\n'));
                }
            }
        }
    }
}
