//! The registry commands where hosted registries and concurrent releases hurt: credentials that
//! must stay with their registry, secrets that must stay off stdout, and releases racing for
//! `latest`. Driven through the `tag-policy` binary against a real `docker-registry` behind a
//! proxy that rewrites or delays what the registry says.

mod lint_support;

use std::path::Path;
use std::sync::Arc;

use assert_cmd::cargo::cargo_bin_cmd;
use lint_support::TestRegistry;
use relkit_registry::LayoutRegistry;
use relkit_registry::auth::Credential;
use relkit_registry::image::{ImageSpec, write_image};
use relkit_testkit::proxy::{Proxy, ProxyConfig};
use serde_json::Value;

/// Writes a one-file image labelled `version` into the layout at `dir`, tagged `tag`.
async fn image(dir: &Path, version: &str, tag: &str) -> String {
    let mut spec =
        ImageSpec { files: vec![("VERSION".into(), version.as_bytes().to_vec())], ..Default::default() };
    spec.labels.insert("org.opencontainers.image.version".into(), version.into());
    write_image(&LayoutRegistry::new(dir), &spec, Some(tag)).await.unwrap().digest.to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The URL with its scheme and authority replaced by `http://127.0.0.1:PORT`.
fn to_port(url: &str, port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    format!("http://127.0.0.1:{port}{path}")
}

const SECRET: &str = "Helper-Secret-5f3c9e1d";
const OTHER_SECRET: &str = "Config-Secret-a81b77e0";
const TOKEN_SECRET: &str = "ghs_Token-Secret-0c4d2b9a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_stay_with_their_registry_and_secrets_stay_off_stdout() {
    let Some(registry) =
        TestRegistry::start("credentials_stay_with_their_registry", Some(("relkit", SECRET)))
    else {
        return;
    };
    let basic = Credential::Basic { username: "relkit".into(), password: SECRET.into() }.basic_header();
    // A second host (a storage backend taking pre-signed URLs): it forwards with its own
    // credentials, so it must never receive ours.
    let elsewhere = Proxy::start(ProxyConfig {
        upstream: registry.port,
        upstream_authorization: basic,
        ..Default::default()
    })
    .await;
    let other = elsewhere.port;
    let front = Proxy::start(ProxyConfig {
        upstream: registry.port,
        rewrite: Some(Arc::new(move |seen, answer| {
            if seen.method == "POST"
                && seen.path.contains("/blobs/uploads/")
                && let Some(location) = answer.header("location").map(str::to_string)
            {
                answer.set_header("location", to_port(&location, other));
            }
            if seen.method == "GET" && seen.path.contains("/tags/list") && answer.status == 200 {
                let next = format!("http://127.0.0.1:{other}/v2/app/tags/list?n=1000&last=zzzz");
                answer.set_header("link", format!("<{next}>; rel=\"next\""));
            }
        })),
        ..Default::default()
    })
    .await;
    let host = format!("127.0.0.1:{}", front.port);

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    image(&layout, "1.0.0", "build").await;
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-relkittest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread host\nif [ \"$host\" = \"{host}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"relkit\",\"Secret\":\"{SECRET}\"}}' \"$host\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = work.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let other_auth = Credential::Basic { username: "x".into(), password: OTHER_SECRET.into() }
        .basic_header()
        .unwrap()
        .trim_start_matches("Basic ")
        .to_string();
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({
            "credHelpers": {host.clone(): "relkittest"},
            "auths": {"ghcr.io": {"auth": other_auth}, format!("127.0.0.1:{other}"): {"auth": other_auth}}
        })
        .to_string(),
    )
    .unwrap();
    let outputs = work.path().join("outputs");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = |args: Vec<String>| {
        let (config, outputs, path) = (config.clone(), outputs.clone(), path.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                cargo_bin_cmd!("tag-policy")
                    .args(&args)
                    .env("DOCKER_CONFIG", &config)
                    .env("PATH", &path)
                    .env("GITHUB_ACTIONS", "true")
                    .env("GITHUB_OUTPUT", &outputs)
                    .env("GITHUB_TOKEN", TOKEN_SECRET)
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };

    // A promote from a layout uploads every blob: the upload Location points at the other host.
    let out = run(vec![
        "promote".into(),
        format!("oci:{}:build", layout.display()),
        "--to".into(),
        "testing".into(),
        "--repository".into(),
        format!("{host}/app"),
        "--version".into(),
        "1.0.0".into(),
        "--release-tags".into(),
    ])
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is the JSON report alone");
    assert!(report["copy"].is_object(), "{stdout}");
    assert!(stderr.contains(&format!("::add-mask::{SECRET}")), "the secret is masked on stderr: {stderr}");
    // The tag list page on the other host is followed anonymously.
    let out = run(vec!["prune".into(), format!("{host}/app")]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pruned = text(&out.stdout);
    serde_json::from_str::<Value>(&pruned).expect("stdout is the JSON report alone");

    let written = std::fs::read_to_string(&outputs).unwrap_or_default();
    for secret in [SECRET, OTHER_SECRET, TOKEN_SECRET] {
        for (what, stream) in [("promote stdout", &stdout), ("prune stdout", &pruned), ("outputs", &written)]
        {
            assert!(!stream.contains(secret), "{what} holds a secret: {stream}");
        }
    }
    let seen_elsewhere = elsewhere.seen();
    assert!(
        seen_elsewhere.iter().any(|s| s.method == "PUT" && s.path.contains("/blobs/uploads/")),
        "the uploads did not go to the Location host: {seen_elsewhere:?}"
    );
    assert!(
        seen_elsewhere.iter().any(|s| s.method == "GET" && s.path.contains("/tags/list")),
        "the Link page was not followed: {seen_elsewhere:?}"
    );
    for seen in &seen_elsewhere {
        assert_eq!(seen.header("authorization"), None, "{} {} carried credentials", seen.method, seen.path);
    }
    let seen_front = front.seen();
    assert!(
        seen_front.iter().any(|s| s.header("authorization").is_some()),
        "the registry got no credentials"
    );
    for post in seen_front.iter().filter(|s| s.method == "POST") {
        assert_eq!(post.header("content-length"), Some("0"), "{} without Content-Length: 0", post.path);
    }
}

/// Runs `tag-policy ARGS` (no Actions environment) off the async threads.
async fn tag_policy(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        cargo_bin_cmd!("tag-policy")
            .args(&args)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_OUTPUT")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn apply_args(image: String, version: &str) -> Vec<String> {
    let v = semver::Version::parse(version).unwrap();
    let mut args = vec!["apply".to_string(), image];
    for tag in [format!("v{v}"), format!("{}.{}", v.major, v.minor), v.major.to_string(), "latest".into()] {
        args.extend(["--tag".to_string(), tag]);
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_releases_leave_latest_on_the_higher_version() {
    use relkit_registry::ops::copy::{self, Endpoint};
    use relkit_registry::{HttpOptions, HttpRegistry, Registry as _};

    let Some(registry) = TestRegistry::start("racing_releases_leave_latest_on_the_higher_version", None)
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout_dir = work.path().join("layout");
    let layout = LayoutRegistry::new(&layout_dir);
    let mut digests = Vec::new();
    for version in ["1.8.0", "1.9.1", "2.0.0"] {
        digests.push(image(&layout_dir, version, version).await.parse::<relkit_registry::Digest>().unwrap());
    }
    let direct = HttpRegistry::new(&registry.host, &HttpOptions::default()).unwrap();
    for d in &digests {
        let (src, dst) =
            (Endpoint { registry: &layout, repo: "" }, Endpoint { registry: &direct, repo: "base" });
        copy::copy_image(&src, &dst, d, false, 4).await.unwrap();
    }
    let proxy = Proxy::start(ProxyConfig {
        upstream: registry.port,
        seed: 11,
        max_delay: std::time::Duration::from_millis(40),
        ..Default::default()
    })
    .await;
    let host = format!("127.0.0.1:{}", proxy.port);
    let (d180, d191, d200) = (&digests[0], &digests[1], &digests[2]);
    let rounds: usize = std::env::var("RELKIT_RACE_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(50);
    for round in 0..rounds {
        let repo = format!("race{round}");
        for d in &digests {
            let (src, dst) =
                (Endpoint { registry: &direct, repo: "base" }, Endpoint { registry: &direct, repo: &repo });
            copy::copy_image(&src, &dst, d, true, 4).await.unwrap();
        }
        let old = direct.get_manifest(&repo, d180.as_str()).await.unwrap().unwrap().manifest;
        direct.put_manifest(&repo, "latest", &old, None).await.unwrap();

        let (hotfix, release) = tokio::join!(
            tag_policy(apply_args(format!("{host}/{repo}@{d191}"), "1.9.1")),
            tag_policy(apply_args(format!("{host}/{repo}@{d200}"), "2.0.0")),
        );
        for (name, out) in [("1.9.1", &hotfix), ("2.0.0", &release)] {
            assert!(out.status.success(), "round {round}: apply {name} failed: {}", text(&out.stderr));
        }
        let at = |tag: &'static str| {
            let (direct, repo) = (&direct, repo.clone());
            async move { direct.head_manifest(&repo, tag).await.unwrap().map(|d| d.digest) }
        };
        assert_eq!(at("latest").await.as_ref(), Some(d200), "round {round}: latest went backwards");
        assert_eq!(at("v2.0.0").await.as_ref(), Some(d200), "round {round}");
        assert_eq!(at("v1.9.1").await.as_ref(), Some(d191), "round {round}");
        assert_eq!(at("1").await.as_ref(), Some(d191), "round {round}");
        assert_eq!(at("2").await.as_ref(), Some(d200), "round {round}");
    }
}
