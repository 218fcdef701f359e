//! Expressions: the subset of Handlebars metadata-action documents (`{{branch}}`, `{{date ...}}`, ...).

use super::*;

/// Where a template is used; decides which `{{names}}` it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// `value=`, `prefix=`, `suffix=`, `enable=` and flavor prefix/suffix.
    Global,
    /// `pattern=` of `type=semver`.
    Semver,
    /// `pattern=` of `type=schedule`.
    Schedule,
}

impl Scope {
    pub(super) fn names(self) -> &'static [&'static str] {
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
    pub(super) segments: Vec<Segment>,
    /// Segments written `{{…}}` (not `{{{…}}}`): Handlebars HTML-escapes their value, which
    /// the compatible dialect reproduces.
    escaped: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Text(String),
    Variable(Variable),
    Date { clock: Clock, format: Option<String>, time_zone: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variable {
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
pub(super) enum Clock {
    Now,
    Commit,
}

impl Template {
    pub(super) fn literal(text: &str) -> Self {
        Self { segments: vec![Segment::Text(text.to_owned())], escaped: Vec::new() }
    }

    pub(super) fn parse(text: &str, scope: Scope) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut escaped = Vec::new();
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
            if close == "}}" {
                escaped.push(segments.len());
            }
            segments.push(parse_expression(expression, scope)?);
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(Self { segments, escaped })
    }

    /// Whether the template is exactly `{{raw}}` (metadata-action keeps it for prereleases).
    pub(super) fn is_raw(&self) -> bool {
        matches!(self.segments.as_slice(), [Segment::Variable(Variable::Raw)])
    }

    pub(super) fn uses(&self, variable: Variable) -> bool {
        self.segments.contains(&Segment::Variable(variable))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub(super) fn render(&self, env: &RenderEnv<'_>) -> Result<String> {
        let mut out = String::new();
        for (index, segment) in self.segments.iter().enumerate() {
            let value = match segment {
                Segment::Text(text) => {
                    out.push_str(text);
                    continue;
                }
                Segment::Variable(variable) => env.variable(*variable),
                Segment::Date { clock, format, time_zone } => {
                    let at = match clock {
                        Clock::Now => env.ctx.now,
                        Clock::Commit => env.ctx.commit_time.unwrap_or(env.ctx.now),
                    };
                    moment::format(at, format.as_deref(), time_zone.as_deref())?
                }
            };
            if !env.ctx.dialect.is_strict() && self.escaped.contains(&index) {
                out.push_str(&html_escape(&value));
            } else {
                out.push_str(&value);
            }
        }
        Ok(out)
    }
}

/// Handlebars' `escapeExpression`: the characters it replaces with HTML entities.
fn html_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '`' => out.push_str("&#x60;"),
            '=' => out.push_str("&#x3D;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn parse_expression(expression: &str, scope: Scope) -> Result<Segment, String> {
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
pub(super) enum Token {
    Word(String),
    Quoted(String),
    /// `key=value` with a quoted value (`None` when the value is not quoted).
    Hash(String, Option<String>),
}

pub(super) fn tokenize(expression: &str) -> Result<Vec<Token>, String> {
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
pub(super) struct RenderEnv<'a> {
    pub(super) ctx: &'a RuleContext,
    pub(super) git_ref: &'a str,
    pub(super) semver: Option<&'a SemverValues>,
}

/// The fields of a semver pattern (`{{raw}}`, `{{version}}`, ...).
pub(super) struct SemverValues {
    pub(super) raw: String,
    pub(super) version: Version,
}

impl RenderEnv<'_> {
    pub(super) fn variable(&self, variable: Variable) -> String {
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

    pub(super) fn base_ref(&self) -> String {
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
    pub(super) fn is_default_branch(&self) -> bool {
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
pub(super) fn version_without_build(version: &Version) -> String {
    let mut text = format!("{}.{}.{}", version.major, version.minor, version.patch);
    if !version.pre.is_empty() {
        text.push('-');
        text.push_str(version.pre.as_str());
    }
    text
}

/// Renders a text with the global expressions (`{{branch}}`, `{{sha}}`, `{{date 'YYYY'}}`, ...),
/// as metadata-action does for its `labels:` and `annotations:` inputs.
pub fn render_global(text: &str, ctx: &RuleContext) -> Result<String> {
    let template = Template::parse(text, Scope::Global).map_err(Error::usage)?;
    let git_ref = ctx.effective_ref();
    template.render(&RenderEnv { ctx, git_ref: &git_ref, semver: None })
}
