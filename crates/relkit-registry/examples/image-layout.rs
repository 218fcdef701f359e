//! Builds a minimal image into an OCI layout: `image-layout DIR PLAN_JSON FILE…` writes one
//! tar layer of the files (stored under their file names) with the plan's labels, untagged,
//! and prints its digest. `scripts/release-dry-run` uses it as the image of an offline run.

use std::collections::BTreeMap;
use std::path::Path;

use relkit_core::{Error, Result};
use relkit_registry::LayoutRegistry;
use relkit_registry::image::{ImageSpec, write_image};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: image-layout DIR PLAN_JSON FILE...");
        std::process::exit(2);
    }
    match run(&args).await {
        Ok(digest) => println!("{digest}"),
        Err(e) => {
            eprintln!("image-layout: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

async fn run(args: &[String]) -> Result<String> {
    let plan = std::fs::read_to_string(&args[1])
        .map_err(|e| Error::usage(format!("cannot read plan {}: {e}", args[1])))?;
    #[derive(serde::Deserialize)]
    struct Plan {
        labels: BTreeMap<String, String>,
    }
    let plan: Plan = serde_json::from_str(&plan)
        .map_err(|e| Error::usage(format!("{} is not `tag-policy plan --json` output: {e}", args[1])))?;
    let mut files = Vec::new();
    for path in &args[2..] {
        let name = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path).to_string();
        let content = std::fs::read(path).map_err(|e| Error::usage(format!("cannot read {path}: {e}")))?;
        files.push((name, content));
    }
    let spec = ImageSpec { files, labels: plan.labels, architecture: None };
    let manifest = write_image(&LayoutRegistry::new(Path::new(&args[0])), &spec, None).await?;
    Ok(manifest.digest.to_string())
}
