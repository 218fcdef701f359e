//! docker/metadata-action's outputs, computed by relkit (pure; the I/O is in
//! [`crate::metadata_cmd`]).
//!
//! [`images`] reads the `images:` input (a comma list on one line, or one image per line with
//! `name=` and `enable=` attributes); [`outputs`] turns the evaluated tags, the repository facts
//! and the `labels:`/`annotations:` inputs into the `version`, `tags`, `tag-names`, `labels`,
//! `annotations`, `json` outputs and the four bake definitions, shaped as metadata-action's.

use relkit_core::{Error, Result};
use serde_json::{Map, Value, json};

use crate::metadata_rules::{Evaluation, RuleContext, input_lines, render_global, split_fields};

/// One entry of the `images:` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The image name as written.
    pub name: String,
    /// `enable=` (default true).
    pub enable: bool,
}

/// Parses the `images:` input as metadata-action does: a single line of bare names is a comma
/// list; otherwise every line is one image, with optional `name=` and `enable=true|false`.
pub fn images(input: &str) -> Result<Vec<ImageSpec>> {
    let lines: Vec<&str> = input_lines(input).collect();
    let fields =
        |line: &str| split_fields(line).map_err(|why| Error::usage(format!("images {line:?}: {why}")));
    if let [line] = lines.as_slice() {
        let fields = fields(line)?;
        if fields.iter().all(|field| !field.contains('=')) {
            return Ok(fields
                .iter()
                .map(|f| f.trim())
                .filter(|f| !f.is_empty())
                .map(|name| ImageSpec { name: name.to_owned(), enable: true })
                .collect());
        }
    }
    lines
        .iter()
        .map(|line| {
            let mut image = ImageSpec { name: String::new(), enable: true };
            for field in fields(line)? {
                match field.split_once('=') {
                    None => image.name = field.trim().to_owned(),
                    Some((key, value)) => match (key.trim().to_lowercase().as_str(), value.trim()) {
                        ("name", value) => image.name = value.to_owned(),
                        ("enable", "true") => image.enable = true,
                        ("enable", "false") => image.enable = false,
                        ("enable", other) => {
                            return Err(Error::usage(format!(
                                "images {line:?}: enable={other:?} must be true or false"
                            )));
                        }
                        (other, _) => {
                            return Err(Error::usage(format!(
                                "images {line:?}: unknown attribute {other:?}; expected name= or enable="
                            )));
                        }
                    },
                }
            }
            if image.name.is_empty() {
                return Err(Error::usage(format!("images {line:?}: the image name is empty; add name=")));
            }
            Ok(image)
        })
        .collect()
}

/// The repository facts the labels describe (metadata-action reads them from the REST API).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoInfo {
    /// `name`, in its original case (`org.opencontainers.image.title`).
    pub name: String,
    /// `description`.
    pub description: String,
    /// `html_url` (`url` and `source`).
    pub html_url: String,
    /// `license.spdx_id`.
    pub license: String,
}

impl RepoInfo {
    /// From a repository object as GitHub sends it (event payload or `GET /repos/{owner}/{repo}`).
    pub fn from_json(repository: &Value) -> Self {
        let text = |pointer: &str| {
            repository.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
        };
        Self {
            name: text("/name"),
            description: text("/description"),
            html_url: text("/html_url"),
            license: text("/license/spdx_id"),
        }
    }
}

/// What the step was given besides the rules.
#[derive(Debug, Clone)]
pub struct OutputInputs {
    /// `images:`.
    pub images: Vec<ImageSpec>,
    /// `labels:` lines (`key=value`, with expressions).
    pub labels: String,
    /// `annotations:` lines.
    pub annotations: String,
    /// `DOCKER_METADATA_ANNOTATIONS_LEVELS` split at commas (default `manifest`).
    pub annotation_levels: Vec<String>,
    /// `bake-target` (default `docker-metadata-action`).
    pub bake_target: String,
    /// `org.opencontainers.image.created`: the run's time, `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub created: String,
}

/// metadata-action's outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataOutputs {
    /// The first tag (empty when no rule produced one).
    pub version: String,
    /// `image:tag` for every enabled image (lower-cased), or the bare tags without images.
    pub tags: Vec<String>,
    /// The bare tags.
    pub tag_names: Vec<String>,
    /// `key=value`, sorted by key, every key kept even when its value is empty.
    pub labels: Vec<(String, String)>,
    /// `level:key=value` for every level, level by level.
    pub annotations: Vec<String>,
    /// Enabled image names, lower-cased.
    pub images: Vec<String>,
    bake_target: String,
}

/// Computes the outputs from the evaluated rules.
pub fn outputs(
    evaluation: &Evaluation,
    repo: &RepoInfo,
    ctx: &RuleContext,
    inputs: &OutputInputs,
) -> Result<MetadataOutputs> {
    let version = evaluation.version.clone().unwrap_or_default();
    let images: Vec<String> =
        inputs.images.iter().filter(|image| image.enable).map(|image| image.name.to_lowercase()).collect();
    let image_refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let tags = evaluation.image_tags(&image_refs);
    let base = [
        ("org.opencontainers.image.title", repo.name.as_str()),
        ("org.opencontainers.image.description", &repo.description),
        ("org.opencontainers.image.url", &repo.html_url),
        ("org.opencontainers.image.source", &repo.html_url),
        ("org.opencontainers.image.version", &version),
        ("org.opencontainers.image.created", &inputs.created),
        ("org.opencontainers.image.revision", &ctx.sha),
        ("org.opencontainers.image.licenses", &repo.license),
    ];
    let with_customs = |extra: &str| -> Result<Vec<(String, String)>> {
        let mut entries: Vec<(String, String)> =
            base.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
        for line in input_lines(extra) {
            let rendered = render_global(line, ctx)
                .map_err(|e| Error::usage(format!("label/annotation {line:?}: {}", e.message())))?;
            let Some((key, value)) = rendered.split_once('=') else { continue };
            match entries.iter_mut().find(|(existing, _)| existing == key) {
                Some(entry) => entry.1 = value.to_owned(),
                None => entries.push((key.to_owned(), value.to_owned())),
            }
        }
        entries.sort_by(|(a, _), (b, _)| locale_order(a, b));
        Ok(entries)
    };
    let labels = with_customs(&inputs.labels)?;
    let annotations = with_customs(&inputs.annotations)?;
    let annotations = inputs
        .annotation_levels
        .iter()
        .flat_map(|level| annotations.iter().map(move |(key, value)| format!("{level}:{key}={value}")))
        .collect();
    Ok(MetadataOutputs {
        version,
        tags,
        tag_names: evaluation.tag_names(),
        labels,
        annotations,
        images,
        bake_target: inputs.bake_target.clone(),
    })
}

/// Keys ordered as JavaScript's `localeCompare` orders these ASCII keys: case-insensitively
/// first, then lower case before upper case.
fn locale_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.to_lowercase().cmp(&b.to_lowercase()).then_with(|| b.cmp(a))
}

impl MetadataOutputs {
    /// `key=value` lines of the labels.
    pub fn label_lines(&self) -> Vec<String> {
        self.labels.iter().map(|(key, value)| format!("{key}={value}")).collect()
    }

    fn label_map(&self) -> Value {
        Value::Object(self.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    fn args(&self) -> Value {
        let mut args = Map::new();
        args.insert("DOCKER_META_IMAGES".into(), Value::String(self.images.join(",")));
        if !self.version.is_empty() {
            args.insert("DOCKER_META_VERSION".into(), Value::String(self.version.clone()));
        }
        Value::Object(args)
    }

    fn bake(&self, definition: Value) -> Value {
        json!({ "target": { self.bake_target.clone(): definition } })
    }

    /// The `json` output: `tags`, `tag-names`, `labels` (an object), `annotations`.
    pub fn json(&self) -> Value {
        json!({
            "tags": self.tags,
            "tag-names": self.tag_names,
            "labels": self.label_map(),
            "annotations": self.annotations,
        })
    }

    /// `bake-file-tags`: the tags and the `DOCKER_META_IMAGES`/`DOCKER_META_VERSION` args.
    pub fn bake_tags(&self) -> Value {
        self.bake(json!({ "tags": self.tags, "args": self.args() }))
    }

    /// `bake-file-labels`.
    pub fn bake_labels(&self) -> Value {
        self.bake(json!({ "labels": self.label_map() }))
    }

    /// `bake-file-annotations`.
    pub fn bake_annotations(&self) -> Value {
        self.bake(json!({ "annotations": self.annotations }))
    }

    /// `bake-file`: tags, labels and args together.
    pub fn bake_all(&self) -> Value {
        self.bake(json!({ "tags": self.tags, "labels": self.label_map(), "args": self.args() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(input: &str) -> Vec<(String, bool)> {
        images(input).unwrap().into_iter().map(|i| (i.name, i.enable)).collect()
    }

    #[test]
    fn images_as_metadata_action_reads_them() {
        assert_eq!(
            names("name/app,ghcr.io/Org/App"),
            [("name/app".into(), true), ("ghcr.io/Org/App".into(), true)]
        );
        assert_eq!(
            names("name=name/app\nname=ghcr.io/x/y,enable=false\nplain/z"),
            [("name/app".into(), true), ("ghcr.io/x/y".into(), false), ("plain/z".into(), true)]
        );
        assert_eq!(names("name=a/b,enable=true"), [("a/b".into(), true)]);
        assert!(images("").unwrap().is_empty());
        for bad in ["name=a,enable=yes", "name=a,foo=bar", "enable=true"] {
            assert_eq!(images(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn images_never_panic(input in "[ -~\n]{0,80}") {
            if let Ok(images) = images(&input) {
                proptest::prop_assert!(images.iter().all(|image| !image.name.is_empty()));
            }
        }
    }

    #[test]
    fn label_keys_sort_as_locale_compare() {
        let mut keys = vec!["b", "A", "a", "org.x", "Org.y"];
        keys.sort_by(|a, b| locale_order(a, b));
        assert_eq!(keys, ["a", "A", "b", "org.x", "Org.y"]);
    }
}
