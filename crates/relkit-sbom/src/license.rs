//! License strings as sources state them (`MIT/Apache-2.0`, `(MIT OR Apache-2.0)`, `SEE LICENSE
//! IN LICENSE`) turned into valid SPDX expressions, or into a declared `LicenseRef-`.

use std::collections::BTreeMap;

use spdx::{Expression, LicenseItem, ParseMode};

use crate::model::{ExtractedLicense, NOASSERTION};

/// Collects the `LicenseRef-`s a document needs while its packages' licenses are converted.
#[derive(Debug, Default)]
pub struct Licenses {
    refs: BTreeMap<String, ExtractedLicense>,
    by_text: BTreeMap<String, String>,
}

impl Licenses {
    /// The `licenseDeclared` value for what a source states (`None`: it states nothing).
    pub fn declared(&mut self, stated: Option<&str>) -> String {
        let Some(stated) = stated.map(str::trim).filter(|s| !s.is_empty()) else {
            return NOASSERTION.to_string();
        };
        if let Some(expression) = canonical(stated) {
            return expression;
        }
        if let Some(id) = self.by_text.get(stated) {
            return id.clone();
        }
        let base = format!("LicenseRef-{}", sanitize(stated));
        let mut id = base.clone();
        let mut n = 2;
        while self.refs.contains_key(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        self.refs.insert(
            id.clone(),
            ExtractedLicense {
                license_id: id.clone(),
                extracted_text: stated.to_string(),
                name: stated.to_string(),
            },
        );
        self.by_text.insert(stated.to_string(), id.clone());
        id
    }

    /// The declarations, ordered by identifier.
    pub fn into_declarations(self) -> Vec<ExtractedLicense> {
        self.refs.into_values().collect()
    }
}

/// The canonical SPDX expression for `stated`, when it is one (leniently parsed: `/` for OR,
/// common misspellings) without `LicenseRef-`s, which would need declarations we cannot write.
pub fn canonical(stated: &str) -> Option<String> {
    let text = match Expression::canonicalize(stated) {
        Ok(Some(fixed)) => fixed,
        Ok(None) => stated.to_string(),
        Err(_) => return None,
    };
    let expression = Expression::parse_mode(&text, ParseMode::STRICT).ok()?;
    let has_refs = expression.requirements().any(|r| matches!(r.req.license, LicenseItem::Other(_)));
    (!has_refs).then_some(text)
}

/// `[A-Za-z0-9.-]` kept, every other run of characters one `-`, at most 48 characters.
pub fn sanitize(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(48).collect();
    if out.is_empty() { "unknown".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stated_licenses_become_spdx_or_declared_refs() {
        let mut licenses = Licenses::default();
        let cases = [
            (Some("MIT"), "MIT"),
            (Some("MIT/Apache-2.0"), "MIT OR Apache-2.0"),
            (Some("(MIT OR Apache-2.0)"), "(MIT OR Apache-2.0)"),
            (None, "NOASSERTION"),
            (Some("  "), "NOASSERTION"),
            (Some("SEE LICENSE IN LICENSE.md"), "LicenseRef-SEE-LICENSE-IN-LICENSE.md"),
            (Some("LicenseRef-mine"), "LicenseRef-LicenseRef-mine"),
            (Some("SEE LICENSE IN LICENSE.md"), "LicenseRef-SEE-LICENSE-IN-LICENSE.md"),
        ];
        for (stated, want) in cases {
            assert_eq!(licenses.declared(stated), want, "{stated:?}");
        }
        let declared = licenses.into_declarations();
        assert_eq!(declared.len(), 2);
        assert_eq!(declared[1].extracted_text, "SEE LICENSE IN LICENSE.md");
    }
}
