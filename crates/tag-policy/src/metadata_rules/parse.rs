//! Parsing the `tags:` and `flavor:` inputs (CSV fields, attributes, JavaScript-style regexes).

use super::template::*;
use super::*;

/// The rules metadata-action uses when `tags:` is empty.
pub(super) const DEFAULT_RULES: [&str; 4] =
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
pub(super) enum Affix {
    Prefix,
    Suffix,
}

/// Non-empty, non-comment, trimmed lines.
pub(crate) fn input_lines(input: &str) -> impl Iterator<Item = &str> {
    input.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Splits one CSV record (`,` separated, `"` quoted with `""` for a quote). A quote inside an
/// unquoted field is an error, as in metadata-action's CSV parser.
pub(crate) fn split_fields(line: &str) -> Result<Vec<String>, String> {
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
pub(super) fn split_attribute(field: &str) -> Option<(String, String)> {
    match field.split_once('=') {
        Some((key, value)) if !key.is_empty() => Some((key.trim().to_lowercase(), value.trim().to_owned())),
        _ => None,
    }
}

pub(super) fn parse_rule(line: &str) -> Result<Rule> {
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
pub(super) fn error_summary(error: &impl std::fmt::Display) -> String {
    error.to_string().lines().last().unwrap_or_default().trim().to_owned()
}

/// A JavaScript-style regular expression as metadata-action's `type=match` takes it:
/// `/source/flags` or a bare source.
#[derive(Debug, Clone)]
pub struct JsRegex {
    pub(super) regex: Regex,
    /// `g` flag: the "groups" are the successive whole matches, as JavaScript's
    /// `String.prototype.match` returns them.
    pub(super) global: bool,
    pub(super) source: String,
}

impl JsRegex {
    pub(super) fn parse(pattern: &str) -> Result<Self, String> {
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
    pub(super) fn group<'t>(&self, text: &'t str, group: usize) -> Option<&'t str> {
        if self.global {
            self.regex.find_iter(text).nth(group).map(|m| m.as_str())
        } else {
            self.regex.captures(text)?.get(group).map(|m| m.as_str())
        }
    }

    pub(super) fn matches(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}
