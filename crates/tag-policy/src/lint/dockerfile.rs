//! Dockerfiles and Containerfiles: every image a build pulls (`FROM`, `COPY --from=`,
//! `RUN --mount=…,from=`) must be pinned by digest.
//!
//! Follows BuildKit's reading of the file: parser directives (`# escape=`), comments, line
//! continuations, heredocs, flags, build stages (`FROM builder` naming an earlier `AS builder`,
//! `FROM scratch`), and global `ARG`s substituted into `FROM` (`${BASE}`, `${BASE:-debian:12}`).

use std::collections::HashMap;
use std::ops::Range;

use super::checks::check_image;
use super::finding::{Hit, Rule};

/// Deepest `${A:-${B:-…}}` nesting expanded before giving up.
const MAX_NESTING: usize = 16;

/// Findings in a Dockerfile.
pub fn scan_dockerfile(source: &str) -> Vec<Hit> {
    let lines = physical_lines(source);
    let escape = escape_directive(source, &lines);
    let mut scan = Scan { lines: &lines, escape, args: HashMap::new(), stages: Vec::new(), seen_from: false };
    let mut hits = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((logical, next)) = logical_line(source, &lines, i, escape) else { break };
        i = next;
        let (instruction, args) = split_instruction(&logical.text);
        let heredoc_args = logical.text[args.start..].to_string();
        match instruction.to_ascii_lowercase().as_str() {
            "from" => hits.extend(scan.from(&logical, args)),
            "arg" if !scan.seen_from => scan.global_arg(&logical, args),
            "copy" => hits.extend(scan.copy_from(&logical, args)),
            "run" => hits.extend(scan.run_mounts(&logical, args)),
            _ => {}
        }
        if matches!(instruction.to_ascii_lowercase().as_str(), "run" | "copy" | "add") {
            i = skip_heredocs(source, &lines, i, &heredoc_args);
        }
    }
    hits
}

/// A line of the file: byte range without the line break.
type Line = Range<usize>;

fn physical_lines(source: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    for piece in source.split_inclusive('\n') {
        let content = piece.strip_suffix('\n').unwrap_or(piece);
        let content = content.strip_suffix('\r').unwrap_or(content);
        lines.push(start..start + content.len());
        start += piece.len();
    }
    lines
}

/// The escape character from a leading `# escape=` parser directive (default `\`).
fn escape_directive(source: &str, lines: &[Line]) -> char {
    let mut escape = '\\';
    for line in lines {
        let text = source[line.clone()].trim();
        let Some(directive) = text.strip_prefix('#') else { break };
        let Some((name, value)) = directive.split_once('=') else { break };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            break;
        }
        if name.eq_ignore_ascii_case("escape") {
            match value.trim() {
                "`" => escape = '`',
                _ => escape = '\\',
            }
        }
    }
    escape
}

/// An instruction joined across continuation lines, with a map back to file offsets.
#[derive(Debug)]
struct Logical {
    text: String,
    /// (offset in `text`, offset in the file, length) for each joined piece.
    pieces: Vec<(usize, usize, usize)>,
}

impl Logical {
    /// The file byte offset of `text` offset `at`, if it falls in a piece (or at a piece's end).
    fn file_offset(&self, at: usize) -> Option<usize> {
        self.pieces.iter().find(|(t, _, len)| at >= *t && at <= t + len).map(|(t, f, _)| f + (at - t))
    }

    /// The file range of `text[range]`, when it lies within one piece.
    fn file_range(&self, range: &Range<usize>) -> Option<Range<usize>> {
        let (t, f, len) =
            self.pieces.iter().find(|(t, _, len)| range.start >= *t && range.start < t + len)?;
        (range.end <= t + len).then(|| f + (range.start - t)..f + (range.end - t))
    }
}

/// Reads the instruction starting at or after line `i`; returns it and the next line index.
fn logical_line(source: &str, lines: &[Line], mut i: usize, escape: char) -> Option<(Logical, usize)> {
    let mut logical = Logical { text: String::new(), pieces: Vec::new() };
    let mut started = false;
    while i < lines.len() {
        let line = lines[i].clone();
        i += 1;
        let text = &source[line.clone()];
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (mut start, mut piece) = (line.start, text);
        if !started {
            start += text.len() - trimmed.len();
            piece = trimmed;
            started = true;
        }
        let body = piece.trim_end_matches([' ', '\t']);
        let continued = body.ends_with(escape);
        if continued {
            piece = &body[..body.len() - escape.len_utf8()];
        }
        logical.pieces.push((logical.text.len(), start, piece.len()));
        logical.text.push_str(piece);
        if !continued {
            return Some((logical, i));
        }
    }
    started.then_some((logical, i))
}

/// Splits `FROM debian` into the instruction and the byte range of its arguments.
fn split_instruction(text: &str) -> (&str, Range<usize>) {
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let rest = &text[end..];
    let start = end + (rest.len() - rest.trim_start().len());
    (&text[..end], start..text.len())
}

/// Words of an argument list as byte ranges into `text`, split on whitespace outside quotes.
fn words(text: &str, range: Range<usize>, escape: char) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quote = None;
    let mut chars = text[range.clone()].char_indices().map(|(i, c)| (i + range.start, c));
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    out.push(s..i);
                }
                continue;
            }
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (Some('\''), _) => {}
            (_, c) if c == escape => {
                chars.next();
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        out.push(s..range.end);
    }
    out
}

/// A global `ARG` (declared before the first `FROM`).
#[derive(Debug, Clone)]
struct Arg {
    /// The default after substitution, if it has one and it resolves.
    value: Option<String>,
    /// 1-based line of the declaration.
    line: usize,
    /// File offset just after the default's text, when the default is a plain literal.
    literal_end: Option<usize>,
}

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unresolved {
    /// `ARG NAME` without a default.
    NoDefault(String),
    /// `$NAME` never declared before the first `FROM`.
    Undeclared(String),
    /// A form this reader does not evaluate (`${NAME#pattern}`, deep nesting, unclosed `${`).
    Unsupported(String),
}

struct Scan<'a> {
    lines: &'a [Line],
    escape: char,
    args: HashMap<String, Arg>,
    /// Lower-cased stage names declared so far.
    stages: Vec<String>,
    seen_from: bool,
}

impl Scan<'_> {
    fn line_of(&self, file_offset: usize) -> usize {
        self.lines.partition_point(|l| l.end < file_offset).min(self.lines.len().saturating_sub(1)) + 1
    }

    fn line_at(&self, logical: &Logical, at: usize) -> usize {
        self.line_of(logical.file_offset(at).unwrap_or(0))
    }

    fn global_arg(&mut self, logical: &Logical, args: Range<usize>) {
        for word in words(&logical.text, args, self.escape) {
            let raw = &logical.text[word.clone()];
            let line = self.line_at(logical, word.start);
            let (name, value_range) = match raw.split_once('=') {
                Some((name, _)) => (name, Some(word.start + name.len() + 1..word.end)),
                None => (raw, None),
            };
            let (value, literal_end) = match value_range {
                None => (None, None),
                Some(range) => {
                    let raw_value = &logical.text[range.clone()];
                    let value = self.expand(raw_value, 0).ok();
                    let literal = literal_range(raw_value, self.escape)
                        .map(|r| range.start + r.start..range.start + r.end);
                    (value, literal.and_then(|r| logical.file_range(&r)).map(|r| r.end))
                }
            };
            self.args.insert(name.to_string(), Arg { value, line, literal_end });
        }
    }

    fn from(&mut self, logical: &Logical, args: Range<usize>) -> Option<Hit> {
        self.seen_from = true;
        let words = words(&logical.text, args.clone(), self.escape);
        let mut rest = words.iter().skip_while(|w| logical.text[(*w).clone()].starts_with("--"));
        let Some(image_word) = rest.next() else {
            let line = self.line_at(logical, args.start);
            return Some(Hit::error(
                line,
                Rule::MalformedReference,
                "FROM names no image: write FROM image:tag@sha256:<digest>",
            ));
        };
        let hit = self.check_from(logical, image_word);
        if let (Some(as_word), Some(name)) = (rest.next(), rest.next())
            && logical.text[as_word.clone()].eq_ignore_ascii_case("as")
        {
            self.stages.push(logical.text[name.clone()].to_ascii_lowercase());
        }
        hit
    }

    /// Checks the image of a `FROM`, after substitution, unless it names an earlier stage.
    fn check_from(&self, logical: &Logical, image_word: &Range<usize>) -> Option<Hit> {
        let line = self.line_at(logical, image_word.start);
        let raw = &logical.text[image_word.clone()];
        let expanded = match self.expand(raw, 0) {
            Ok(text) => text,
            Err(why) => return Some(self.unresolved_hit(line, "FROM", raw, why)),
        };
        if expanded.eq_ignore_ascii_case("scratch") || self.stages.contains(&expanded.to_ascii_lowercase()) {
            return None;
        }
        let (end, via) = if literal_range(raw, self.escape) == Some(0..raw.len()) {
            (logical.file_range(image_word).map(|r| r.end), None)
        } else if let Some(name) = single_variable(raw) {
            let arg = self.args.get(name);
            (arg.and_then(|a| a.literal_end), arg.map(|a| format!(" (ARG {name} on line {})", a.line)))
        } else {
            (None, None)
        };
        let what = match &via {
            Some(_) => format!("FROM {raw} ="),
            None => "FROM".to_string(),
        };
        let mut hit = check_image(&what, &expanded, line, end)?;
        if let Some(via) = via {
            hit.message = hit.message.replacen(" is not pinned", &format!("{via} is not pinned"), 1);
        }
        Some(hit)
    }

    fn copy_from(&self, logical: &Logical, args: Range<usize>) -> Option<Hit> {
        let words = words(&logical.text, args, self.escape);
        let flag =
            words.iter().take_while(|w| logical.text[(*w).clone()].starts_with("--")).find_map(|w| {
                let text = &logical.text[w.clone()];
                text.strip_prefix("--from=").map(|v| w.end - v.len()..w.end)
            })?;
        self.check_source_image(logical, "COPY --from=", flag)
    }

    fn run_mounts(&self, logical: &Logical, args: Range<usize>) -> Vec<Hit> {
        let words = words(&logical.text, args, self.escape);
        let mut hits = Vec::new();
        for w in words.iter().take_while(|w| logical.text[(*w).clone()].starts_with("--")) {
            let Some(spec) = logical.text[w.clone()].strip_prefix("--mount=") else { continue };
            let spec_start = w.end - spec.len();
            let mut offset = spec_start;
            for field in spec.split(',') {
                if let Some(value) = field.strip_prefix("from=") {
                    let start = offset + "from=".len();
                    hits.extend(self.check_source_image(
                        logical,
                        "RUN --mount from=",
                        start..start + value.len(),
                    ));
                }
                offset += field.len() + 1;
            }
        }
        hits
    }

    /// Checks the source of `COPY --from=` or a `--mount from=`: a stage name, a stage index or
    /// an image.
    fn check_source_image(&self, logical: &Logical, what: &str, range: Range<usize>) -> Option<Hit> {
        let text = &logical.text[range.clone()];
        let line = self.line_at(logical, range.start);
        let is_stage = self.stages.contains(&text.to_ascii_lowercase());
        if text.is_empty()
            || is_stage
            || text.bytes().all(|b| b.is_ascii_digit())
            || text.eq_ignore_ascii_case("scratch")
        {
            return None;
        }
        if text.contains('$') {
            let why = Unresolved::Unsupported(text.to_string());
            return Some(self.unresolved_hit(line, what.trim_end_matches('='), text, why));
        }
        check_image(what.trim_end_matches('='), text, line, logical.file_range(&range).map(|r| r.end))
    }

    fn unresolved_hit(&self, line: usize, what: &str, raw: &str, why: Unresolved) -> Hit {
        let message = match why {
            Unresolved::NoDefault(name) => format!(
                "{what} {raw} cannot be checked: ARG {name} has no default; give it a pinned default \
                 (ARG {name}=image:tag@sha256:<digest>)"
            ),
            Unresolved::Undeclared(name) => format!(
                "{what} {raw} cannot be checked: ARG {name} is not declared before the first FROM; \
                 declare it with a pinned default"
            ),
            Unresolved::Unsupported(expr) => {
                format!(
                    "{what} {raw} cannot be checked: {expr} is not a form this lint evaluates; write the image literally"
                )
            }
        };
        Hit::warning(line, Rule::Unresolved, message).with_reference(raw)
    }

    /// Removes quotes and escapes and substitutes global ARGs, as BuildKit does for `FROM`.
    fn expand(&self, raw: &str, depth: usize) -> Result<String, Unresolved> {
        if depth > MAX_NESTING {
            return Err(Unresolved::Unsupported(raw.to_string()));
        }
        let chars: Vec<char> = raw.chars().collect();
        let mut out = String::new();
        let mut quote = None;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match (quote, c) {
                (Some('\''), '\'') | (Some('"'), '"') => quote = None,
                (Some('\''), c) => out.push(c),
                (None, '\'' | '"') => quote = Some(c),
                (_, c) if c == self.escape => {
                    if let Some(&next) = chars.get(i) {
                        out.push(next);
                        i += 1;
                    }
                }
                (_, '$') => {
                    let (value, used) = self.variable(&chars[i..], depth)?;
                    out.push_str(&value);
                    i += used;
                }
                (_, c) => out.push(c),
            }
        }
        Ok(out)
    }

    /// Expands the variable after a `$`; returns its value and the characters consumed.
    fn variable(&self, rest: &[char], depth: usize) -> Result<(String, usize), Unresolved> {
        if rest.first() == Some(&'{') {
            let close = matching_brace(rest)
                .ok_or_else(|| Unresolved::Unsupported(format!("${}", String::from_iter(rest))))?;
            let inner: String = rest[1..close].iter().collect();
            let name_len = inner.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').count();
            let (name, op) = inner.split_at(name_len);
            let value = self.lookup(name);
            let word = |skip: usize| self.expand(&op[skip..], depth + 1);
            let set_nonempty = value.as_ref().is_ok_and(|v| !v.is_empty());
            let result = match op {
                "" => value?,
                _ if name.is_empty() => return Err(Unresolved::Unsupported(format!("${{{inner}}}"))),
                _ if op.starts_with(":-") => {
                    if set_nonempty {
                        value?
                    } else {
                        word(2)?
                    }
                }
                _ if op.starts_with('-') => value.or_else(|_| word(1))?,
                _ if op.starts_with(":+") => {
                    if set_nonempty {
                        word(2)?
                    } else {
                        String::new()
                    }
                }
                _ if op.starts_with('+') => {
                    if value.is_ok() {
                        word(1)?
                    } else {
                        String::new()
                    }
                }
                _ if op.starts_with(":?") || op.starts_with('?') => value?,
                _ => return Err(Unresolved::Unsupported(format!("${{{inner}}}"))),
            };
            return Ok((result, close + 1));
        }
        let name_len = rest.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
        if name_len == 0 {
            return Ok(("$".to_string(), 0));
        }
        let name: String = rest[..name_len].iter().collect();
        Ok((self.lookup(&name)?, name_len))
    }

    fn lookup(&self, name: &str) -> Result<String, Unresolved> {
        match self.args.get(name) {
            Some(Arg { value: Some(v), .. }) => Ok(v.clone()),
            Some(_) => Err(Unresolved::NoDefault(name.to_string())),
            None => Err(Unresolved::Undeclared(name.to_string())),
        }
    }
}

/// The index of the `}` closing the `{` at `rest[0]`.
fn matching_brace(rest: &[char]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in rest.iter().enumerate() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The range of the literal text inside `raw` when it needs no expansion: plain text, or text in
/// one pair of quotes, with no `$`, escape or inner quote.
fn literal_range(raw: &str, escape: char) -> Option<Range<usize>> {
    let (inner, range) = match raw.as_bytes() {
        [q @ (b'"' | b'\''), .., last] if raw.len() >= 2 && last == q => {
            (&raw[1..raw.len() - 1], 1..raw.len() - 1)
        }
        _ => (raw, 0..raw.len()),
    };
    (!inner.is_empty() && !inner.contains(['$', '"', '\'', escape])).then_some(range)
}

/// `NAME` when `raw` is exactly `$NAME` or `${NAME}`.
fn single_variable(raw: &str) -> Option<&str> {
    let name = raw.strip_prefix("${").and_then(|r| r.strip_suffix('}')).or_else(|| raw.strip_prefix('$'))?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

/// Skips the bodies of heredocs (`<<EOF`, `<<-"EOF"`) opened by an instruction's arguments;
/// returns the index of the first line after them.
fn skip_heredocs(source: &str, lines: &[Line], mut i: usize, args: &str) -> usize {
    for (strip_tabs, word) in heredoc_words(args) {
        while i < lines.len() {
            let text = &source[lines[i].clone()];
            i += 1;
            let text = if strip_tabs { text.trim_start_matches('\t') } else { text };
            if text == word {
                break;
            }
        }
    }
    i
}

/// The terminators of the heredocs in an argument list, with whether `<<-` strips tabs.
fn heredoc_words(args: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(at) = rest.find("<<") {
        rest = &rest[at + 2..];
        let strip_tabs = rest.starts_with('-');
        let after = rest.trim_start_matches('-');
        let unquoted = after.trim_start_matches(['"', '\'']);
        let word: String = unquoted.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !word.is_empty() {
            out.push((strip_tabs, word));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::finding::Fix;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Expected findings: (line, rule, reference).
    type Expected = Vec<(usize, Rule, &'static str)>;

    /// (Dockerfile, expected findings)
    fn table() -> Vec<(String, Expected)> {
        vec![
            ("FROM debian:12\n".into(), vec![(1, Rule::UnpinnedImage, "debian:12")]),
            (format!("FROM debian:12@{D}\n"), vec![]),
            ("FROM scratch\nFROM SCRATCH\n".into(), vec![]),
            ("from golang:1.22 as build\nFROM build\nFROM Build AS final\n".into(), vec![(1, Rule::UnpinnedImage, "golang:1.22")]),
            ("FROM builder\nFROM alpine AS builder\n".into(), vec![
                (1, Rule::UnpinnedImage, "builder"),
                (2, Rule::UnpinnedImage, "alpine"),
            ]),
            ("FROM app AS app\n".into(), vec![(1, Rule::UnpinnedImage, "app")]),
            ("FROM --platform=$BUILDPLATFORM node:22 AS deps\n".into(), vec![(1, Rule::UnpinnedImage, "node:22")]),
            ("FROM \\\n  --platform=linux/amd64 \\\n  # comment inside\n\n  python:3.12 \\\n  AS py\n".into(), vec![
                (5, Rule::UnpinnedImage, "python:3.12"),
            ]),
            ("# syntax=docker/dockerfile:1\n# escape=`\nFROM `\n  debian:12\nRUN echo \\\nFROM x:1\n".into(), vec![
                (4, Rule::UnpinnedImage, "debian:12"),
                (6, Rule::UnpinnedImage, "x:1"),
            ]),
            ("# FROM commented:1\n   # FROM also:1\nRUN echo FROM x:1\n".into(), vec![]),
            ("ARG BASE=debian:12\nFROM ${BASE}\nFROM $BASE AS b\n".into(), vec![
                (2, Rule::UnpinnedImage, "debian:12"),
                (3, Rule::UnpinnedImage, "debian:12"),
            ]),
            (format!("ARG BASE=debian:12@{D}\nFROM ${{BASE}}\n"), vec![]),
            ("ARG REG=ghcr.io ARG_TWO\nARG IMG=\"${REG}/o/app\" TAG=1.2\nFROM ${IMG}:${TAG}\n".into(), vec![
                (3, Rule::UnpinnedImage, "ghcr.io/o/app:1.2"),
            ]),
            ("ARG BASE\nFROM ${BASE}\n".into(), vec![(2, Rule::Unresolved, "${BASE}")]),
            ("FROM $NOPE\n".into(), vec![(1, Rule::Unresolved, "$NOPE")]),
            ("ARG V\nFROM debian:${V:-12}\nFROM debian:${V-11}\nFROM a${V:+x}:1\n".into(), vec![
                (2, Rule::UnpinnedImage, "debian:12"),
                (3, Rule::UnpinnedImage, "debian:11"),
                (4, Rule::UnpinnedImage, "a:1"),
            ]),
            ("ARG V=x\nFROM ${V#x}:1\n".into(), vec![(2, Rule::Unresolved, "${V#x}:1")]),
            ("FROM a:1 AS one\nARG LATE=debian:12\nFROM ${LATE}\n".into(), vec![
                (1, Rule::UnpinnedImage, "a:1"),
                (3, Rule::Unresolved, "${LATE}"),
            ]),
            ("FROM golang:1 AS b\nFROM scratch\nCOPY --from=b /x /x\nCOPY --from=0 /y /y\nCOPY --chown=1 --from=nginx:1 /a /a\n".into(), vec![
                (1, Rule::UnpinnedImage, "golang:1"),
                (5, Rule::UnpinnedImage, "nginx:1"),
            ]),
            ("FROM scratch\nRUN --mount=type=bind,from=tools:1,target=/t --mount=type=cache,target=/c make\n".into(), vec![
                (2, Rule::UnpinnedImage, "tools:1"),
            ]),
            ("FROM scratch\nRUN <<EOF\nFROM inside:1\nEOF\nCOPY <<-\"A\" <<B /x\n\tFROM in-a:1\n\tA\nFROM in-b:1\nB\nFROM after:1\n".into(), vec![
                (10, Rule::UnpinnedImage, "after:1"),
            ]),
            ("FROM\n".into(), vec![(1, Rule::MalformedReference, "")]),
            ("FROM debian@sha256:abc\n".into(), vec![(1, Rule::BadDigest, "debian@sha256:abc")]),
            ("FROM \"debian:12\"\r\n".into(), vec![(1, Rule::UnpinnedImage, "debian:12")]),
        ]
    }

    #[test]
    fn dockerfile_table() {
        for (source, want) in table() {
            let got: Vec<(usize, Rule, String)> = scan_dockerfile(&source)
                .into_iter()
                .map(|h| (h.line, h.rule, h.reference.unwrap_or_default()))
                .collect();
            let want: Vec<(usize, Rule, String)> =
                want.into_iter().map(|(l, r, s)| (l, r, s.to_string())).collect();
            assert_eq!(got, want, "\n{source}");
        }
    }

    fn fix_of(source: &str, n: usize) -> Option<Fix> {
        scan_dockerfile(source).into_iter().nth(n).and_then(|h| h.fix)
    }

    #[test]
    fn fixes_point_at_the_literal_text() {
        let src = "FROM \\\n  debian:12 AS b\n";
        let Some(Fix::AppendDigest { at, image, add_latest: false }) = fix_of(src, 0) else { panic!() };
        assert_eq!((&src[..at], image.as_str()), ("FROM \\\n  debian:12", "debian:12"));

        let src = "ARG BASE=\"node\"\nFROM ${BASE}\n";
        let Some(Fix::AppendDigest { at, image, add_latest: true }) = fix_of(src, 0) else { panic!() };
        assert_eq!((&src[..at], image.as_str()), ("ARG BASE=\"node", "node"));

        assert_eq!(fix_of("ARG T=12\nFROM debian:${T}\n", 0), None);
        assert_eq!(fix_of("FROM \"debian\":12\n", 0), None);
    }

    #[test]
    fn messages_name_the_arg() {
        let hits = scan_dockerfile("ARG BASE=debian:12\nFROM ${BASE}\n");
        assert!(hits[0].message.contains("(ARG BASE on line 1) is not pinned"), "{}", hits[0].message);
        let hits = scan_dockerfile("ARG BASE\nFROM $BASE\n");
        assert_eq!(hits[0].severity, crate::lint::finding::Severity::Warning);
        assert!(hits[0].message.contains("ARG BASE has no default"), "{}", hits[0].message);
    }
}
