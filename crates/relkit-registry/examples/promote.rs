//! Promotes an image by digest: `promote SOURCE DEST_REPOSITORY TAG…` (used by
//! `scripts/bench-promote`; prints the copy counts as JSON).

use relkit_core::actions::ProcessEnv;
use relkit_registry::ops::promote::{PromoteOptions, promote};
use relkit_registry::ops::tags::{TagRequest, TagRule};
use relkit_registry::{AnyRegistry, HttpOptions, ImageRef};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: promote SOURCE DEST_REPOSITORY TAG...");
        std::process::exit(2);
    }
    let run = async {
        let source = ImageRef::parse(&args[0])?;
        let dest = ImageRef::parse(&args[1])?;
        let options = HttpOptions::from_env(&ProcessEnv);
        let tags = args[2..].iter().map(|t| TagRequest { name: t.clone(), rule: TagRule::Mutable }).collect();
        let promote_options = PromoteOptions { tags, concurrency: 4, ..Default::default() };
        let (source_registry, dest_registry) = AnyRegistry::open_pair(&source, &dest, &options)?;
        promote(&source_registry, &source, &dest_registry, &dest, &promote_options).await
    };
    match run.await {
        Ok(report) => println!("{}", serde_json::to_string(&report.copy).expect("counts serialize")),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
