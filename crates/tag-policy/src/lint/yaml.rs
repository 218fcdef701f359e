//! YAML files as a flat list of scalar values with their key paths and positions, which is all
//! the workflow, action and compose checks need. Built on a real YAML 1.2 parser that reports
//! spans, so findings carry lines and `--fix` can edit values in place.

use std::ops::Range;

use saphyr_parser::{Event, Parser};

/// One step of a key path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key (`?` for a complex key, `*` for an alias key).
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A scalar value found in a mapping or sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// Keys and indices from the document root.
    pub path: Vec<Seg>,
    /// The value as parsed.
    pub value: String,
    /// 1-based line where the value starts.
    pub line: usize,
    /// Byte range of the value in the source when it appears there verbatim (plain, or quoted
    /// without escapes); `None` when the text differs (escapes, folding, block scalars).
    pub span: Option<Range<usize>>,
}

/// A YAML syntax error: line and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// What the parser reported.
    pub message: String,
}

enum State {
    Key,
    Value(String),
    Item(usize),
}

struct Frame {
    seg: Option<Seg>,
    state: State,
}

/// Every scalar value in `source` (keys excluded), in document order, across all documents.
pub fn scalars(source: &str) -> Result<Vec<Scalar>, SyntaxError> {
    let byte_at = char_offsets(source);
    let mut out = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    for event in Parser::new_from_str(source) {
        let (event, span) =
            event.map_err(|e| SyntaxError { line: e.marker().line(), message: e.info().to_string() })?;
        match event {
            Event::DocumentStart(_) => stack.clear(),
            Event::Scalar(value, ..) => {
                let Some(top) = stack.last_mut() else { continue };
                match std::mem::replace(&mut top.state, State::Key) {
                    State::Key => top.state = State::Value(value.into_owned()),
                    State::Value(key) => {
                        let mut path = path_of(&stack);
                        path.push(Seg::Key(key));
                        let range = byte_at(span.start.index())..byte_at(span.end.index());
                        out.push(Scalar {
                            path,
                            line: span.start.line(),
                            span: verbatim(source, range, &value),
                            value: value.into_owned(),
                        });
                    }
                    State::Item(i) => {
                        let top = stack.last_mut().expect("frame just matched");
                        top.state = State::Item(i + 1);
                        let mut path = path_of(&stack);
                        path.push(Seg::Index(i));
                        let range = byte_at(span.start.index())..byte_at(span.end.index());
                        out.push(Scalar {
                            path,
                            line: span.start.line(),
                            span: verbatim(source, range, &value),
                            value: value.into_owned(),
                        });
                    }
                }
            }
            Event::Alias(_) => {
                if let Some(top) = stack.last_mut() {
                    advance(top, "*");
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let seg = stack.last().map(|top| match &top.state {
                    State::Key => Seg::Key("?".into()),
                    State::Value(key) => Seg::Key(key.clone()),
                    State::Item(i) => Seg::Index(*i),
                });
                let state =
                    if matches!(event, Event::MappingStart(..)) { State::Key } else { State::Item(0) };
                stack.push(Frame { seg, state });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                if let Some(top) = stack.last_mut() {
                    advance(top, "?");
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Moves a frame past one node that produced no output (an alias or a finished collection).
fn advance(frame: &mut Frame, key_name: &str) {
    frame.state = match std::mem::replace(&mut frame.state, State::Key) {
        State::Key => State::Value(key_name.to_string()),
        State::Value(_) => State::Key,
        State::Item(i) => State::Item(i + 1),
    };
}

fn path_of(stack: &[Frame]) -> Vec<Seg> {
    stack.iter().filter_map(|f| f.seg.clone()).collect()
}

/// Maps the parser's character indices to byte offsets.
fn char_offsets(source: &str) -> impl Fn(usize) -> usize + '_ {
    let offsets: Vec<usize> = source.char_indices().map(|(b, _)| b).chain([source.len()]).collect();
    move |index| offsets.get(index).copied().unwrap_or(source.len())
}

/// The byte range of `value` in the source when the scalar starting at `range.start` is
/// `value` itself (plain) or `value` in quotes with nothing escaped. Only the start of the
/// parser's span is trusted: for quoted scalars its end can run on over a trailing comment.
fn verbatim(source: &str, range: Range<usize>, value: &str) -> Option<Range<usize>> {
    let text = source.get(range.start..)?;
    if value.is_empty() {
        return None;
    }
    if text.starts_with(value) {
        return Some(range.start..range.start + value.len());
    }
    let quote = text.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let inner = &text[1..];
    (inner.starts_with(value) && inner[value.len()..].starts_with(quote))
        .then(|| range.start + 1..range.start + 1 + value.len())
}

/// Whether `path` matches `pattern`: `*` matches any key, `#` any index, other entries a key.
pub fn path_matches(path: &[Seg], pattern: &[&str]) -> bool {
    path.len() == pattern.len()
        && path.iter().zip(pattern).all(|(seg, want)| match (seg, *want) {
            (Seg::Index(_), "#") => true,
            (Seg::Key(_), "*") => true,
            (Seg::Key(key), want) => key == want,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_path(s: &Scalar) -> String {
        s.path
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => k.clone(),
                Seg::Index(i) => format!("[{i}]"),
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    #[test]
    fn scalars_carry_paths_lines_and_spans() {
        let src = "jobs:\n  build:\n    steps:\n      - run: echo\n      - uses: \"a/b@v1\"  # c\n        with: {x: 1}\n";
        let found = scalars(src).unwrap();
        let rows: Vec<(String, &str, usize)> =
            found.iter().map(|s| (key_path(s), s.value.as_str(), s.line)).collect();
        assert_eq!(
            rows,
            [
                ("jobs.build.steps.[0].run".to_string(), "echo", 4),
                ("jobs.build.steps.[1].uses".to_string(), "a/b@v1", 5),
                ("jobs.build.steps.[1].with.x".to_string(), "1", 6),
            ]
        );
        let uses = &found[1];
        assert_eq!(&src[uses.span.clone().unwrap()], "a/b@v1");
    }

    #[test]
    fn block_scalars_and_escapes_have_no_span() {
        let src = "a: |\n  uses: x@v1\n  more\nb: \"x\\u0041\"\nc: 'it''s'\nd: é\n";
        let found = scalars(src).unwrap();
        assert_eq!(found.len(), 4);
        assert_eq!(found[0].value, "uses: x@v1\nmore\n");
        assert_eq!(found[0].span, None);
        assert_eq!(found[1].value, "xA");
        assert_eq!(found[1].span, None);
        assert_eq!(found[2].span, None);
        assert_eq!(&src[found[3].span.clone().unwrap()], "é");
    }

    #[test]
    fn complex_keys_aliases_and_documents_keep_paths_straight() {
        let src = "a: &x 1\n? [k]\n: v\nb: *x\nc: 2\n---\nd: [3, *x, 4]\n";
        let found = scalars(src).unwrap();
        let rows: Vec<(String, &str)> = found.iter().map(|s| (key_path(s), s.value.as_str())).collect();
        assert_eq!(
            rows,
            [
                ("a".to_string(), "1"),
                ("?.[0]".to_string(), "k"),
                ("?".to_string(), "v"),
                ("c".to_string(), "2"),
                ("d.[0]".to_string(), "3"),
                ("d.[2]".to_string(), "4"),
            ]
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = scalars("a: b\nc: [d\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn path_patterns() {
        let path = vec![Seg::Key("jobs".into()), Seg::Key("x".into()), Seg::Index(2)];
        assert!(path_matches(&path, &["jobs", "*", "#"]));
        assert!(!path_matches(&path, &["jobs", "*", "*"]));
        assert!(!path_matches(&path, &["jobs", "*"]));
    }
}
