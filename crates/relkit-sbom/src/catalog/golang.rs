//! `go.mod` + `go.sum`: the main module (root) and every `require`d module (Go 1.17+ lists the
//! whole build list there), `replace` directives applied. Without `go mod graph` the edges are
//! the main module's: it DEPENDS_ON every required module.

use std::collections::BTreeMap;

use relkit_core::Result;

use super::{Catalog, Component, Purpose, invalid};

/// Parses `go.mod` (and `go.sum`, when present, to check every module is summed).
pub fn parse_mod(file: &str, text: &str, go_sum: Option<&str>) -> Result<Catalog> {
    let mut module = None;
    let mut requires: Vec<(String, String)> = Vec::new();
    let mut replaces: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    let mut block: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if line == ")" {
            block = None;
            continue;
        }
        let (verb, rest) = match &block {
            Some(verb) => (verb.as_str(), line),
            None => {
                let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                let rest = rest.trim();
                if rest == "(" {
                    block = Some(verb.to_string());
                    continue;
                }
                (verb, rest)
            }
        };
        let fields: Vec<&str> = rest.split_whitespace().map(|f| f.trim_matches('"')).collect();
        let location = format!("line {}", n + 1);
        match verb {
            "module" => module = fields.first().map(|m| m.to_string()),
            "require" => match fields.as_slice() {
                [path, version] => requires.push((path.to_string(), version.to_string())),
                _ => {
                    return Err(invalid(
                        file,
                        &location,
                        format!("`require {rest}` must be `require MODULE VERSION`"),
                    ));
                }
            },
            "replace" => {
                let Some(arrow) = fields.iter().position(|f| *f == "=>") else {
                    return Err(invalid(file, &location, format!("`replace {rest}` has no `=>`")));
                };
                let (old, new) = (&fields[..arrow], &fields[arrow + 1..]);
                if let (Some(old_path), Some(new_path)) = (old.first(), new.first()) {
                    replaces.insert(
                        old_path.to_string(),
                        (new_path.to_string(), new.get(1).map(|v| v.to_string())),
                    );
                }
            }
            _ => {}
        }
    }
    let Some(module) = module else {
        return Err(invalid(file, "module", "no `module` directive; this is not a go.mod"));
    };
    let mut catalog = Catalog { source: file.to_string(), ..Default::default() };
    let mut root = Component::new("golang", &module, None, crate::purl::golang(&module, None));
    root.purpose = Purpose::Application;
    catalog.components.push(root);
    catalog.roots.push(0);
    let summed: Vec<(&str, &str)> = go_sum
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?))
        })
        .collect();
    for (path, version) in requires {
        let (path, version) = match replaces.get(&path) {
            Some((new, Some(new_version))) => (new.clone(), new_version.clone()),
            Some((new, None)) if new.starts_with('.') || new.starts_with('/') => (path.clone(), version),
            Some((new, None)) => (new.clone(), version),
            None => (path, version),
        };
        if go_sum.is_some()
            && !summed.iter().any(|(p, v)| *p == path && v.trim_end_matches("/go.mod") == version)
        {
            catalog.notes.push(format!("{path} {version} has no go.sum line (run `go mod tidy`)"));
        }
        let mut c =
            Component::new("golang", &path, Some(&version), crate::purl::golang(&path, Some(&version)));
        let proxy = format!("https://proxy.golang.org/{}/@v/{version}.zip", escape_module_path(&path));
        if crate::validate::is_valid_download_location(&proxy) && !path.starts_with('.') {
            c.download_location = proxy;
        }
        catalog.depends_on.push((0, catalog.components.len()));
        catalog.components.push(c);
    }
    Ok(catalog)
}

/// The module proxy's case encoding: each uppercase letter becomes `!` and its lowercase.
fn escape_module_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_MOD: &str = r#"module example.com/app

go 1.22

require (
	github.com/BurntSushi/toml v1.3.2
	golang.org/x/text v0.14.0 // indirect
)

require github.com/spf13/cobra v1.8.0

replace golang.org/x/text => golang.org/x/text v0.15.0
replace example.com/local => ../local
"#;

    #[test]
    fn module_requires_and_replaces() {
        let sum = "github.com/BurntSushi/toml v1.3.2 h1:x=\ngithub.com/BurntSushi/toml v1.3.2/go.mod h1:y=\ngolang.org/x/text v0.15.0 h1:z=\n";
        let c = parse_mod("go.mod", GO_MOD, Some(sum)).unwrap();
        let got: Vec<(String, Option<String>)> =
            c.components.iter().map(|c| (c.name.clone(), c.version.clone())).collect();
        assert_eq!(got[0], ("example.com/app".to_string(), None));
        assert_eq!(got[2], ("golang.org/x/text".to_string(), Some("v0.15.0".to_string())));
        assert_eq!(c.components.len(), 4);
        assert_eq!(c.depends_on, [(0, 1), (0, 2), (0, 3)]);
        assert_eq!(
            c.components[1].download_location,
            "https://proxy.golang.org/github.com/!burnt!sushi/toml/@v/v1.3.2.zip"
        );
        assert_eq!(c.notes, ["github.com/spf13/cobra v1.8.0 has no go.sum line (run `go mod tidy`)"]);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let e = parse_mod("go.mod", "module a\nrequire b\n", None).unwrap_err();
        assert_eq!(e.message(), "go.mod: line 2: `require b` must be `require MODULE VERSION`");
        assert!(parse_mod("go.mod", "go 1.22\n", None).is_err());
    }
}
