//! Against a real registry (CNCF distribution from Debian's `docker-registry`), judged by skopeo.

mod support;

use relkit_registry::ops::promote::{PromoteOptions, promote};
use relkit_registry::ops::prune::{Retention, prune};
use relkit_registry::ops::tags::{
    ApplyTagsOptions, TagAction, TagRequest, TagRule, apply_tags, target_version,
};
use relkit_registry::ops::{referrers, resolve_digest};
use relkit_registry::{Digest, HttpRegistry, ImageRef, Registry};
use support::*;

fn tags(list: &[(&str, TagRule)]) -> Vec<TagRequest> {
    list.iter().map(|(n, r)| TagRequest { name: n.to_string(), rule: *r }).collect()
}

fn release_tags(version: &str) -> Vec<TagRequest> {
    let (major, rest) = version.split_once('.').unwrap();
    let minor = rest.split('.').next().unwrap();
    tags(&[
        (&format!("v{version}"), TagRule::Immutable),
        ("latest", TagRule::Monotonic),
        (major, TagRule::Monotonic),
        (&format!("{major}.{minor}"), TagRule::Monotonic),
    ])
}

/// Pushes the fixture set into `repo`: a 4-platform index (v1.0.0, tag `next`) with a cosign
/// `.sig` tag and a referrer, and a single-platform image (tag `single`).
async fn seed(reg: &TestRegistry, http: &HttpRegistry, repo: &str) -> (Digest, Digest, Digest) {
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let index = index_manifest(&layout, 1, "1.0.0").await;
    let sig = cosign_signature(&layout, &index.digest).await;
    let referrer = referrer(&layout, &index).await;
    let single = image_manifest(&layout, 99, "0.9.0", "amd64", 4096).await;
    let source = ImageRef::parse(&format!("oci:{}:next", path.display())).unwrap();
    layout.put_manifest("", "next", &index, None).await.unwrap();
    let dest = reg.image(&format!("{repo}:next"));
    let options =
        PromoteOptions { tags: tags(&[("next", TagRule::Mutable)]), concurrency: 4, ..Default::default() };
    promote(&layout, &source, http, &dest, &options).await.unwrap();
    push(&layout, http, repo, &single, "single").await;
    (index.digest, sig.digest, referrer.digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_from_layout_keeps_digests_and_attachments() {
    let Some(reg) = TestRegistry::start("push_from_layout_keeps_digests_and_attachments", None) else {
        return;
    };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (index, sig, referrer) = seed(&reg, &http, "app").await;
    assert_eq!(reg.digest_of("app:next"), Some(index.clone()));
    assert_eq!(reg.digest_of(&format!("app:{}", index.cosign_tag("sig"))), Some(sig));
    let listed = referrers::list(&http, "app", &index).await.unwrap();
    assert_eq!(listed.iter().map(|d| &d.digest).collect::<Vec<_>>(), vec![&referrer]);
    assert!(reg.tags("app").contains(&index.fallback_tag()));
    reg.assert_complete("app", "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_within_a_registry_mounts_every_blob_and_is_idempotent() {
    let Some(reg) = TestRegistry::start("promote_within_a_registry", None) else { return };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (index, sig, referrer) = seed(&reg, &http, "app").await;
    let options = PromoteOptions { tags: release_tags("1.0.0"), concurrency: 4, ..Default::default() };
    let first = promote(&http, &reg.image("app:next"), &http, &reg.image("stable"), &options).await.unwrap();
    assert_eq!(first.copy.blobs_uploaded, 0, "{:?}", first.copy);
    assert!(first.copy.blobs_mounted >= 8, "{:?}", first.copy);
    for tag in ["v1.0.0", "latest", "1", "1.0"] {
        assert_eq!(reg.digest_of(&format!("stable:{tag}")), Some(index.clone()), "{tag}");
    }
    assert_eq!(reg.digest_of(&format!("stable:{}", index.cosign_tag("sig"))), Some(sig));
    let carried = referrers::list(&http, "stable", &index).await.unwrap();
    assert_eq!(carried.iter().map(|d| &d.digest).collect::<Vec<_>>(), vec![&referrer]);
    reg.assert_complete("stable", "latest");

    let before = reg.tags("stable");
    let second = promote(&http, &reg.image("app:next"), &http, &reg.image("stable"), &options).await.unwrap();
    assert!(second.tags.iter().all(|d| d.action == TagAction::Keep), "{:?}", second.tags);
    assert_eq!(
        (second.copy.manifests_pushed, second.copy.blobs_mounted, second.copy.blobs_uploaded),
        (0, 0, 0)
    );
    assert_eq!(reg.tags("stable"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_never_moves_backwards_and_release_tags_are_immutable() {
    let Some(reg) = TestRegistry::start("latest_never_moves_backwards", None) else { return };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let v2 = image_manifest(&layout, 2, "2.0.0", "amd64", 1024).await;
    let v191 = image_manifest(&layout, 3, "1.9.1", "amd64", 1024).await;
    push(&layout, &http, "app", &v2, "build-2").await;
    push(&layout, &http, "app", &v191, "build-191").await;
    let apply = ApplyTagsOptions::default();
    let version = |m| target_version(&http, "app", m, None);
    let (ver2, ver191) = (version(&v2).await.unwrap(), version(&v191).await.unwrap());
    assert_eq!(ver191, Some(semver::Version::new(1, 9, 1)), "read from the config label");
    apply_tags(&http, "app", &v2, ver2.as_ref(), &release_tags("2.0.0"), apply).await.unwrap();
    let decisions =
        apply_tags(&http, "app", &v191, ver191.as_ref(), &release_tags("1.9.1"), apply).await.unwrap();
    let action = |tag: &str| decisions.iter().find(|d| d.tag == tag).unwrap().action.clone();
    assert!(matches!(action("latest"), TagAction::Hold { .. }));
    assert_eq!(action("1.9"), TagAction::Add);
    assert_eq!(reg.digest_of("app:latest"), Some(v2.digest.clone()));
    assert_eq!(reg.digest_of("app:2"), Some(v2.digest.clone()));
    assert_eq!(reg.digest_of("app:1"), Some(v191.digest.clone()));
    assert_eq!(reg.digest_of("app:v1.9.1"), Some(v191.digest.clone()));

    // Moving a release tag is refused, with nothing written.
    let err = apply_tags(
        &http,
        "app",
        &v191,
        ver191.as_ref(),
        &tags(&[("v2.0.0", TagRule::Immutable), ("x", TagRule::Mutable)]),
        apply,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.message().contains("v2.0.0") && err.message().contains("--force"), "{err}");
    assert_eq!(reg.digest_of("app:v2.0.0"), Some(v2.digest.clone()));
    assert_eq!(reg.digest_of("app:x"), None);

    // Dry run writes nothing.
    let dry = ApplyTagsOptions { dry_run: true, force: true };
    let planned =
        apply_tags(&http, "app", &v191, ver191.as_ref(), &tags(&[("v2.0.0", TagRule::Immutable)]), dry)
            .await
            .unwrap();
    assert!(matches!(planned[0].action, TagAction::Move { .. }));
    assert_eq!(reg.digest_of("app:v2.0.0"), Some(v2.digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_never_breaks_a_kept_multi_arch_image() {
    let Some(reg) = TestRegistry::start("prune_never_breaks_a_kept_multi_arch_image", None) else { return };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (index, _sig, referrer) = seed(&reg, &http, "app").await;
    // `v1.0.0` keeps the index; `sha-old` and the untagged-by-release single image go.
    let index_manifest = http.get_manifest("app", index.as_str()).await.unwrap().unwrap().manifest;
    http.put_manifest("app", "v1.0.0", &index_manifest, None).await.unwrap();
    let single = resolve_digest(&http, &reg.image("app:single")).await.unwrap();
    let single_manifest = http.get_manifest("app", single.as_str()).await.unwrap().unwrap().manifest;
    http.put_manifest("app", "sha-old", &single_manifest, None).await.unwrap();
    let retention = Retention {
        keep_builds: 0,
        build_tags: vec!["sha-*".into(), "single".into(), "next".into()],
        ..Default::default()
    };
    let now = jiff::Timestamp::now();

    let dry = prune(&http, "app", &retention, None, false, now).await.unwrap();
    assert!(dry.dry_run && dry.manifests.contains(&single), "{dry:?}");
    // The dry run reports the tag that goes while its manifest stays for `v1.0.0`.
    assert_eq!(dry.kept_shared, vec!["next".to_string()], "{dry:?}");
    assert!(reg.digest_of("app:sha-old").is_some(), "a dry run deleted something");

    let report = prune(&http, "app", &retention, None, true, now).await.unwrap();
    assert_eq!(report.manifests, vec![single.clone()], "{report:?}");
    assert_eq!(reg.digest_of("app:sha-old"), None);
    reg.assert_complete("app", "v1.0.0");
    assert_eq!(reg.digest_of(&format!("app@{referrer}")), Some(referrer));
    // `next` shares the kept index: the registry cannot delete that single tag, so it stays.
    assert_eq!((report.kept_shared, report.untagged), (vec!["next".to_string()], vec![]));
    let again = prune(&http, "app", &retention, None, true, now).await.unwrap();
    assert!(again.manifests.is_empty(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_never_leave_a_tag_on_an_incomplete_image() {
    let Some(reg) = TestRegistry::start("faults_never_leave_a_tag_on_an_incomplete_image", None) else {
        return;
    };
    let direct = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (index, _, _) = seed(&reg, &direct, "app").await;
    let proxy = fault_proxy(reg.port, 25, 7).await;
    let host = format!("127.0.0.1:{}", proxy.port);
    let flaky = HttpRegistry::new(&host, &options(&reg)).unwrap();
    let source = ImageRef::parse(&format!("{host}/app:next")).unwrap();
    let dest = ImageRef::parse(&format!("{host}/stable")).unwrap();
    let options = PromoteOptions { tags: release_tags("1.0.0"), concurrency: 4, ..Default::default() };
    promote(&flaky, &source, &flaky, &dest, &options).await.unwrap();
    promote(&flaky, &source, &flaky, &dest, &options).await.unwrap();
    for tag in ["v1.0.0", "latest", "1", "1.0"] {
        assert_eq!(reg.digest_of(&format!("stable:{tag}")), Some(index.clone()), "{tag}");
    }
    reg.assert_complete("stable", "latest");
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let other = image_manifest(&layout, 5, "0.0.0-test1", "amd64", 512).await;
    push(&layout, &flaky, "stable", &other, "v0.0.0-test1").await;
    let report =
        prune(&flaky, "stable", &Retention::default(), Some("v0.0.0-*"), true, jiff::Timestamp::now())
            .await
            .unwrap();
    assert_eq!(report.manifests, vec![other.digest]);
    assert_eq!(reg.digest_of("stable:v0.0.0-test1"), None);
    reg.assert_complete("stable", "latest");
    assert!(
        proxy.injected.load(std::sync::atomic::Ordering::SeqCst) > 5,
        "the proxy injected too few faults"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_registry_with_and_without_credentials() {
    let Some(reg) = TestRegistry::start("basic_auth_registry", Some(("ci", "pw-secret"))) else { return };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (index, _, _) = seed(&reg, &http, "app").await;
    assert_eq!(reg.digest_of("app:next"), Some(index));

    let anonymous = HttpRegistry::new(&reg.host, &Default::default()).unwrap();
    let reference = reg.image("app:next");
    let err = resolve_digest(&anonymous, &reference).await.unwrap_err();
    let msg = err.message();
    assert!(msg.contains("401") && msg.contains(&reg.host) && msg.contains("app:next"), "{msg}");
    assert!(!msg.contains("pw-secret") && !msg.contains('\n'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_digests_and_html_servers_fail_with_one_line() {
    let Some(reg) = TestRegistry::start("missing_digests_and_html_servers", None) else { return };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let missing = reg.image(&format!("app@sha256:{}", "0".repeat(64)));
    let err = resolve_digest(&http, &missing).await.unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(err.message().contains(&missing.to_string()) && err.message().contains(&reg.host), "{err}");

    // A web server that answers every request with an HTML page.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = "<html><body>Sign in</body></html>";
            let _ = s
                .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes())
                .await;
        }
    });
    let host = format!("127.0.0.1:{port}");
    let html = HttpRegistry::new(&host, &options(&reg)).unwrap();
    let reference = ImageRef::parse(&format!("{host}/app:v1")).unwrap();
    let err = html.get_manifest("app", "v1").await.unwrap_err();
    assert!(err.message().contains("HTML") && err.message().contains(&host), "{err}");
    let err = resolve_digest(&html, &reference).await.unwrap_err();
    assert!(err.message().contains(&host) && !err.message().contains('\n'), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_across_registries_streams_every_blob_once() {
    let Some(a) = TestRegistry::start("promote_across_registries", None) else { return };
    let Some(b) = TestRegistry::start("promote_across_registries", None) else { return };
    let source = HttpRegistry::new(&a.host, &options(&a)).unwrap();
    let dest = HttpRegistry::new(&b.host, &options(&b)).unwrap();
    let (index, sig, referrer) = seed(&a, &source, "app").await;
    let options = PromoteOptions { tags: release_tags("1.0.0"), concurrency: 4, ..Default::default() };
    let first = promote(&source, &a.image("app:next"), &dest, &b.image("mirror"), &options).await.unwrap();
    assert_eq!(first.copy.blobs_mounted, 0, "no mounts across registries: {:?}", first.copy);
    // 4 platform images (config + layer each), the signature and the referrer (config + layer).
    assert!(first.copy.blobs_uploaded >= 10, "{:?}", first.copy);
    for tag in ["v1.0.0", "latest", "1", "1.0"] {
        assert_eq!(b.digest_of(&format!("mirror:{tag}")), Some(index.clone()), "{tag}");
    }
    assert_eq!(b.digest_of(&format!("mirror:{}", index.cosign_tag("sig"))), Some(sig));
    let carried = referrers::list(&dest, "mirror", &index).await.unwrap();
    assert_eq!(carried.iter().map(|d| &d.digest).collect::<Vec<_>>(), vec![&referrer]);
    b.assert_complete("mirror", "latest");

    let again = promote(&source, &a.image("app:next"), &dest, &b.image("mirror"), &options).await.unwrap();
    assert_eq!((again.copy.blobs_uploaded, again.copy.manifests_pushed), (0, 0), "{:?}", again.copy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_layout_blob_is_never_uploaded() {
    let Some(reg) = TestRegistry::start("a_corrupt_layout_blob_is_never_uploaded", None) else { return };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let image = image_manifest(&layout, 7, "1.0.0", "amd64", 300_000).await;
    let layer = image.view().unwrap().layers[0].digest.clone();
    let file = path.join("blobs/sha256").join(layer.hex());
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    layout.put_manifest("", "v1", &image, None).await.unwrap();
    let source = ImageRef::parse(&format!("oci:{}:v1", path.display())).unwrap();
    let options = PromoteOptions { tags: tags(&[("v1", TagRule::Mutable)]), ..Default::default() };
    let err = promote(&layout, &source, &http, &reg.image("app"), &options).await.unwrap_err();
    // Refused by the digest check on the way (ours, or the registry's on the completed upload).
    assert!(err.message().contains(layer.as_str()) && err.message().contains("match"), "{err}");
    assert_eq!(reg.digest_of("app:v1"), None);
    assert!(reg.inspect_raw(&format!("app@{}", image.digest)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_signatures_of_images_still_pulled_by_digest() {
    let Some(reg) = TestRegistry::start("prune_keeps_signatures_of_images_still_pulled_by_digest", None)
    else {
        return;
    };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (index, sig, referrer) = seed(&reg, &http, "app").await;
    // `next` moves on: the index keeps no tag but is still deployed by digest.
    let single = resolve_digest(&http, &reg.image("app:single")).await.unwrap();
    let single_manifest = http.get_manifest("app", single.as_str()).await.unwrap().unwrap().manifest;
    http.put_manifest("app", "next", &single_manifest, None).await.unwrap();
    let now = jiff::Timestamp::now();

    let report = prune(&http, "app", &Retention::default(), None, true, now).await.unwrap();
    assert!(report.manifests.is_empty(), "{report:?}");
    let mut kept = report.kept_attachments.clone();
    kept.sort();
    assert_eq!(kept, vec![index.fallback_tag(), index.cosign_tag("sig")], "{report:?}");
    assert_eq!(reg.digest_of(&format!("app:{}", index.cosign_tag("sig"))), Some(sig.clone()));
    let listed = referrers::list(&http, "app", &index).await.unwrap();
    assert_eq!(listed.iter().map(|d| &d.digest).collect::<Vec<_>>(), vec![&referrer]);
    reg.assert_complete("app", index.as_str());

    // Once the subject is gone, its attachments go with the next prune.
    assert!(http.delete_manifest("app", &index).await.unwrap());
    let report = prune(&http, "app", &Retention::default(), None, true, now).await.unwrap();
    assert!(report.manifests.contains(&sig) && report.manifests.contains(&referrer), "{report:?}");
    assert_eq!(reg.digest_of(&format!("app:{}", index.cosign_tag("sig"))), None);
    assert!(reg.digest_of("app:next").is_some());
}

/// A registry in front of `reg` that answers like a hosted one: the proxy's `intercept`.
async fn hosted(reg: &TestRegistry, intercept: relkit_testkit::proxy::Intercept) -> (Proxy, HttpRegistry) {
    let proxy =
        Proxy::start(ProxyConfig { upstream: reg.port, intercept: Some(intercept), ..Default::default() })
            .await;
    let host = format!("127.0.0.1:{}", proxy.port);
    let mut options = options(reg);
    options.github_packages_hosts.push(host.clone());
    options.github_api_url = Some(format!("http://{host}"));
    options.credentials.insert(
        host.clone(),
        relkit_registry::auth::Credential::Basic { username: "octo".into(), password: "ghs_test".into() },
    );
    let http = HttpRegistry::new(&host, &options).unwrap();
    (proxy, http)
}

fn answer(status: u16, body: &str) -> Option<Answer> {
    let mut a = Answer { status, body: body.as_bytes().to_vec(), ..Default::default() };
    a.set_header("content-type", "application/json");
    Some(a)
}

fn is_manifest_delete(seen: &Seen) -> bool {
    seen.method == "DELETE" && seen.path.starts_with("/v2/") && seen.path.contains("/manifests/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_on_hosted_registries_reports_what_they_really_did() {
    use std::sync::{Arc, Mutex};
    let Some(reg) = TestRegistry::start("prune_on_hosted_registries", None) else { return };
    let direct = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    seed(&reg, &direct, "acme/app").await;
    let single = resolve_digest(&direct, &reg.image("acme/app:single")).await.unwrap();
    let now = jiff::Timestamp::now();
    let retention = Retention::default();

    // ECR: a DELETE answered 404 while the image stays is a failure, never "deleted". Both
    // shapes ECR has used, as quoted in public reports.
    let ecr_answers: [(&str, &str, &str); 2] = [
        // https://github.com/pulumi/pulumi-docker-build/issues/849
        (
            "application/json",
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"Requested image not found"}]}"#,
            "MANIFEST_UNKNOWN",
        ),
        // Before ECR implemented DELETE: https://github.com/aws/containers-roadmap/issues/1229
        ("text/plain; charset=utf-8", "404 page not found", "404 page not found"),
    ];
    for (content_type, body, shown) in ecr_answers {
        let (_p, ecr) = hosted(
            &reg,
            Arc::new(move |seen: &Seen| {
                (is_manifest_delete(seen) && seen.path.contains("sha256:")).then(|| {
                    let mut a = Answer { status: 404, body: body.as_bytes().to_vec(), ..Default::default() };
                    a.set_header("content-type", content_type);
                    a
                })
            }),
        )
        .await;
        let e = prune(&ecr, "acme/app", &retention, Some("single"), true, now).await.unwrap_err();
        assert!(
            e.message().contains("answered 404 Not Found") && e.message().contains("still serves it"),
            "{shown}: {e}"
        );
        assert_eq!(reg.digest_of(&format!("acme/app@{single}")), Some(single.clone()));
    }

    // GAR: 411 for a body-less POST without a length; a tagged manifest is deleted only after
    // its tags.
    let untagged = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen_tags = untagged.clone();
    let (gar_proxy, gar) = hosted(
        &reg,
        Arc::new(move |seen: &Seen| {
            if seen.method == "POST" && seen.header("content-length").is_none() {
                // The opening of the page *.pkg.dev answered to an upload start without a
                // length (its inline style left out), quoted in
                // https://github.com/oras-project/rust-oci-client/pull/176
                let page = "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <meta name=viewport content=\"initial-scale=1, minimum-scale=1, width=device-width\">\n  <title>Error 411 (Length Required)!!1</title>\n";
                let mut a = Answer { status: 411, body: page.as_bytes().to_vec(), ..Default::default() };
                a.set_header("content-type", "text/html; charset=UTF-8");
                return Some(a);
            }
            if !is_manifest_delete(seen) {
                return None;
            }
            let reference = seen.path.rsplit('/').next().unwrap_or_default().to_string();
            if !reference.starts_with("sha256:") {
                // A tag DELETE is answered 202 (same report as below).
                seen_tags.lock().unwrap().push(reference);
                let mut a = Answer { status: 202, ..Default::default() };
                a.set_header("docker-distribution-api-version", "registry/2.0");
                return Some(a);
            }
            if !seen_tags.lock().unwrap().contains(&"single".to_string()) {
                // Google's answer to deleting a digest a tag still names (its headers and body
                // as quoted in https://github.com/genuinetools/reg/issues/136; the tag is ours).
                let mut a = Answer {
                    status: 400,
                    body: br#"{"errors":[{"code":"GOOGLE_MANIFEST_DANGLING_TAG","message":"Manifest is still referenced by tag: single"}]}"#.to_vec(),
                    ..Default::default()
                };
                a.set_header("docker-distribution-api-version", "registry/2.0");
                a.set_header("content-type", "application/json");
                a.set_header("server", "Docker Registry");
                a.set_header("cache-control", "private");
                a.set_header("x-xss-protection", "1; mode=block");
                a.set_header("x-frame-options", "SAMEORIGIN");
                return Some(a);
            }
            None
        }),
    )
    .await;
    let gar_host = format!("127.0.0.1:{}", gar_proxy.port);
    let source = ImageRef::parse(&format!("{gar_host}/acme/app:next")).unwrap();
    let dest = ImageRef::parse(&format!("{gar_host}/acme/mirror")).unwrap();
    let promote_options = PromoteOptions {
        tags: tags(&[("v1.0.0", TagRule::Immutable)]),
        concurrency: 4,
        ..Default::default()
    };
    let promoted = promote(&gar, &source, &gar, &dest, &promote_options).await.unwrap();
    assert!(promoted.copy.blobs_mounted > 0, "{promoted:?}");
    let report = prune(&gar, "acme/app", &retention, Some("single"), true, now).await.unwrap();
    assert_eq!(report.manifests, vec![single.clone()]);
    assert_eq!(reg.digest_of(&format!("acme/app@{single}")), None);

    // ghcr.io: the registry answers 405; the package version goes through the Packages API.
    seed(&reg, &direct, "acme/app").await;
    let deleted = Arc::new(Mutex::new(Vec::<String>::new()));
    let api_log = deleted.clone();
    let (versions, doomed) = (single.to_string(), single.to_string());
    let (ghcr_proxy, ghcr) = hosted(
        &reg,
        Arc::new(move |seen: &Seen| {
            if is_manifest_delete(seen) {
                // ghcr.io's answer to a manifest DELETE (405 Method Not Allowed), as quoted in
                // https://github.com/containers/skopeo/issues/1880
                return answer(405, "{\"errors\":[{\"code\":\"UNSUPPORTED\",\"message\":\"The operation is unsupported.\"}]}\n");
            }
            if seen.path.starts_with("/orgs/acme/packages/container/app/versions") {
                if seen.header("authorization") != Some("Bearer ghs_test") {
                    return answer(401, r#"{"message":"Requires authentication","documentation_url":"https://docs.github.com/rest"}"#);
                }
                if seen.method == "GET" {
                    let body = serde_json::json!([{
                        "id": 101, "name": versions, "url": "https://api.github.com/orgs/acme/packages/container/app/versions/101",
                        "package_html_url": "https://github.com/orgs/acme/packages/container/package/app",
                        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                        "metadata": {"package_type": "container", "container": {"tags": ["single"]}}
                    }]);
                    return answer(200, &body.to_string());
                }
                if seen.method == "DELETE" && seen.path.ends_with("/versions/101") {
                    api_log.lock().unwrap().push(seen.path.clone());
                    return answer(204, "");
                }
            }
            let gone = api_log.lock().unwrap().iter().any(|_| seen.path.ends_with(&format!("/manifests/{doomed}")));
            gone.then(|| answer(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#))?
        }),
    )
    .await;
    let report = prune(&ghcr, "acme/app", &retention, Some("single"), true, now).await.unwrap();
    assert_eq!(report.manifests, vec![single.clone()]);
    assert_eq!(*deleted.lock().unwrap(), vec!["/orgs/acme/packages/container/app/versions/101".to_string()]);
    assert!(ghcr_proxy.seen().iter().all(|s| !s.path.starts_with("/users/")));

    // A registry that is neither GitHub Packages nor known by name and answers a DELETE with
    // Docker Hub's 405 (body as quoted in https://github.com/goharbor/harbor/issues/7369):
    // the prune fails naming the 405, and the image stays. (Docker Hub itself is refused by
    // name before anything is deleted: see the unit tests.)
    seed(&reg, &direct, "acme/app").await;
    let single = resolve_digest(&direct, &reg.image("acme/app:single")).await.unwrap();
    let refusing = Proxy::start(ProxyConfig {
        upstream: reg.port,
        intercept: Some(Arc::new(|seen: &Seen| {
            is_manifest_delete(seen).then(|| {
                answer(
                    405,
                    r#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#,
                )
            })?
        })),
        ..Default::default()
    })
    .await;
    let plain = HttpRegistry::new(&format!("127.0.0.1:{}", refusing.port), &options(&reg)).unwrap();
    let e = prune(&plain, "acme/app", &retention, Some("single"), true, now).await.unwrap_err();
    assert!(e.message().contains("does not allow deleting manifests (405)"), "{e}");
    assert_eq!(reg.digest_of(&format!("acme/app@{single}")), Some(single.clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_one_token_per_operation_expiry_and_one_refetch() {
    use std::sync::atomic::Ordering;
    let test = "token_auth_one_token_per_operation_expiry_and_one_refetch";
    let Some((issuer, reg)) = TokenIssuer::with_registry(test) else { return };
    let fresh = || HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let seeding = fresh();
    let (index, _, _) = seed(&reg, &seeding, "src").await;
    let scopes = |from: usize| -> Vec<Vec<String>> {
        issuer.requests()[from..].iter().map(|r| r.scopes.clone()).collect()
    };

    // A promote within the registry asks once, for the two-scope mount token.
    let before = issuer.requests().len();
    let http = fresh();
    let source = reg.image("src:next");
    let dest = reg.image("dst");
    let options = PromoteOptions { tags: release_tags("1.0.0"), concurrency: 4, ..Default::default() };
    let report = promote(&http, &source, &http, &dest, &options).await.unwrap();
    assert!(report.copy.blobs_mounted > 0 && report.copy.blobs_uploaded == 0, "{report:?}");
    assert_eq!(
        scopes(before),
        vec![vec!["repository:dst:pull,push".to_string(), "repository:src:pull".to_string()]]
    );
    assert_eq!(reg.digest_of("dst:latest"), Some(index.clone()));

    // A token is reused until its expires_in runs out, then fetched again before use.
    issuer.expires_in.store(3, Ordering::SeqCst);
    let before = issuer.requests().len();
    let reader = fresh();
    assert!(reader.head_manifest("dst", "latest").await.unwrap().is_some());
    assert!(reader.head_manifest("dst", "1").await.unwrap().is_some());
    assert_eq!(issuer.requests().len() - before, 1);
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    assert!(reader.head_manifest("dst", "1.0").await.unwrap().is_some());
    assert_eq!(scopes(before), vec![vec!["repository:dst:pull".to_string()]; 2]);

    // The registry refuses a token the client still believes valid: eight requests that fail at
    // once cause one refetch.
    issuer.expires_in.store(300, Ordering::SeqCst);
    issuer.valid.store(false, Ordering::SeqCst);
    let before = issuer.requests().len();
    let stale = fresh();
    let refused = stale.head_manifest("dst", "latest").await.unwrap_err();
    assert!(refused.message().contains("401"), "{refused}");
    issuer.valid.store(true, Ordering::SeqCst);
    let lookups = ["latest", "1", "1.0", "v1.0.0", "latest", "1", "1.0", "v1.0.0"]
        .map(|tag| stale.head_manifest("dst", tag));
    for found in futures::future::join_all(lookups).await {
        assert!(found.unwrap().is_some());
    }
    assert_eq!(issuer.requests().len() - before, 2, "{:?}", &issuer.requests()[before..]);

    // An identity token (ACR's `az acr login`) is exchanged with the refresh-token grant.
    let mut acr = support::options(&reg);
    acr.credentials
        .insert(reg.host.clone(), relkit_registry::auth::Credential::IdentityToken("refresh-abc".into()));
    let before = issuer.requests().len();
    let with_identity = HttpRegistry::new(&reg.host, &acr).unwrap();
    assert!(with_identity.head_manifest("dst", "latest").await.unwrap().is_some());
    let exchange = &issuer.requests()[before..];
    assert_eq!(exchange.len(), 1, "{exchange:?}");
    assert_eq!(exchange[0].grant, Some(("refresh_token".to_string(), "refresh-abc".to_string())));
    assert_eq!(exchange[0].scopes, vec!["repository:dst:pull".to_string()]);

    // A blob upload refused mid-stream (401) drops the token; the copy starts over with a new one.
    use std::sync::{Arc, Mutex};
    let refused = Arc::new(Mutex::new(false));
    let once = refused.clone();
    let realm = issuer.realm();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.port,
        intercept: Some(Arc::new(move |seen: &Seen| {
            let upload = seen.method == "PUT" && seen.path.contains("/blobs/uploads/");
            let mut done = once.lock().unwrap();
            (upload && !*done).then(|| {
                *done = true;
                let mut a = Answer { status: 401, ..Default::default() };
                a.set_header(
                    "www-authenticate",
                    format!("Bearer realm=\"{realm}\",service=\"{TOKEN_SERVICE}\""),
                );
                a
            })
        })),
        ..Default::default()
    })
    .await;
    let before = issuer.requests().len();
    let through_proxy =
        HttpRegistry::new(&format!("127.0.0.1:{}", proxy.port), &support::options(&reg)).unwrap();
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let image = image_manifest(&layout, 31, "3.0.0", "amd64", 2048).await;
    push(&layout, &through_proxy, "uploads", &image, "v3.0.0").await;
    assert!(*refused.lock().unwrap());
    let push_tokens = issuer.requests()[before..]
        .iter()
        .filter(|r| r.scopes.contains(&"repository:uploads:pull,push".to_string()))
        .count();
    assert_eq!(push_tokens, 2, "{:?}", &issuer.requests()[before..]);
    assert_eq!(
        through_proxy.head_manifest("uploads", "v3.0.0").await.unwrap().map(|d| d.digest),
        Some(image.digest.clone())
    );
    for blob in image.view().unwrap().blobs() {
        assert!(through_proxy.blob_exists("uploads", &blob.digest).await.unwrap(), "{}", blob.digest);
    }
    assert!(
        issuer
            .requests()
            .iter()
            .all(|r| !r.authorized || r.scopes.iter().all(|s| s.starts_with("repository:")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_carries_nested_referrers_and_skips_stale_entries() {
    let Some(reg) = TestRegistry::start("promote_carries_nested_referrers_and_skips_stale_entries", None)
    else {
        return;
    };
    let http = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let index = index_manifest(&layout, 3, "1.0.0").await;
    let sbom = referrer(&layout, &index).await;
    let signature_on_sbom = referrer(&layout, &sbom).await;
    let child = index.view().unwrap().manifests[0].digest.clone();
    let child_manifest = layout.get_manifest("", child.as_str()).await.unwrap().unwrap().manifest;
    let doomed = referrer(&layout, &child_manifest).await;
    layout.put_manifest("", "next", &index, None).await.unwrap();
    let options =
        PromoteOptions { tags: tags(&[("next", TagRule::Mutable)]), concurrency: 4, ..Default::default() };
    let source = ImageRef::parse(&format!("oci:{}:next", path.display())).unwrap();
    promote(&layout, &source, &http, &reg.image("app:next"), &options).await.unwrap();
    let nested = referrers::list(&http, "app", &sbom.digest).await.unwrap();
    assert_eq!(nested.iter().map(|d| &d.digest).collect::<Vec<_>>(), vec![&signature_on_sbom.digest]);

    // The child's referrer is deleted; its fallback index still names it.
    assert!(http.delete_manifest("app", &doomed.digest).await.unwrap());
    let report = promote(&http, &reg.image("app:next"), &http, &reg.image("dst"), &options).await.unwrap();
    let outcome = |d: &Digest| report.attachments.iter().find(|a| a.digest == *d).map(|a| a.outcome.clone());
    assert_eq!(outcome(&doomed.digest).as_deref(), Some("stale-skipped"), "{report:?}");
    assert_eq!(outcome(&signature_on_sbom.digest).as_deref(), Some("copied"), "{report:?}");
    let nested = referrers::list(&http, "dst", &sbom.digest).await.unwrap();
    assert_eq!(nested.iter().map(|d| &d.digest).collect::<Vec<_>>(), vec![&signature_on_sbom.digest]);
    reg.assert_complete("dst", signature_on_sbom.digest.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_api_pages_are_all_read() {
    use std::sync::Arc;
    let Some(reg) = TestRegistry::start("referrers_api_pages_are_all_read", None) else { return };
    let subject = Digest::of(b"subject");
    let (first, second) = (Digest::of(b"first"), Digest::of(b"second"));
    let page = |d: &Digest| {
        serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d.as_str(), "size": 10, "artifactType": BUNDLE_TYPE}]})
        .to_string()
    };
    let (one, two) = (page(&first), page(&second));
    let path = format!("/v2/app/referrers/{subject}");
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.port,
        intercept: Some(Arc::new(move |seen: &Seen| {
            if !seen.path.starts_with(&path) {
                return None;
            }
            let last = seen.path.ends_with("page=2");
            let mut a = Answer {
                status: 200,
                body: if last { two.clone() } else { one.clone() }.into_bytes(),
                ..Default::default()
            };
            a.set_header("content-type", "application/vnd.oci.image.index.v1+json");
            if !last {
                a.set_header("link", format!("<{path}?page=2>; rel=\"next\""));
            }
            Some(a)
        })),
        ..Default::default()
    })
    .await;
    let http = HttpRegistry::new(&format!("127.0.0.1:{}", proxy.port), &options(&reg)).unwrap();
    let listed = http.referrers("app", &subject).await.unwrap().unwrap();
    assert_eq!(listed.iter().map(|d| &d.digest).collect::<Vec<_>>(), vec![&first, &second]);

    // The registry has the API: registering a referrer then costs no request (no new probe, no
    // fallback index).
    assert_eq!(http.knows_referrers_api(), Some(true));
    let before = proxy.seen().len();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": BUNDLE_TYPE, "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").as_str(), "size": 2},
        "layers": []});
    let referrer = relkit_registry::RawManifest::new(serde_json::to_vec(&manifest).unwrap(), None).unwrap();
    referrers::register(&http, "app", &subject, &referrer).await.unwrap();
    assert_eq!(proxy.seen().len(), before);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
fn certificates(dir: &std::path::Path) {
    relkit_testkit::tools::self_signed_certificate(dir, "/CN=relkit test CA", "ca.key", "ca.crt");
    for (name, usage) in [
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), format!("basicConstraints=CA:FALSE\n{usage}\n"))
            .unwrap();
        relkit_testkit::tools::openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        relkit_testkit::tools::openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_registry_with_tls_and_client_certificates() {
    let test = "a_loopback_registry_with_tls_and_client_certificates";
    if !relkit_testkit::tools::require_tool(test, "openssl") {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    certificates(pki.path());
    let p = |name: &str| pki.path().join(name);
    let Some(reg) = TestRegistry::start_tls(test, &p("server.crt"), &p("server.key"), Some(&p("ca.crt")))
    else {
        return;
    };
    // docker's certs.d layout: the CA and the client certificate under the registry's host.
    let certs_d = tempfile::tempdir().unwrap();
    let host_dir = certs_d.path().join(&reg.host);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(p("ca.crt"), host_dir.join("ca.crt")).unwrap();
    std::fs::copy(p("client.crt"), host_dir.join("client.cert")).unwrap();
    std::fs::copy(p("client.key"), host_dir.join("client.key")).unwrap();
    let mut with_certs = options(&reg);
    with_certs.certs_dirs = vec![certs_d.path().to_path_buf()];
    let http = HttpRegistry::new(&reg.host, &with_certs).unwrap();
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let image = image_manifest(&layout, 7, "1.0.0", "amd64", 1024).await;
    push(&layout, &http, "app", &image, "v1.0.0").await;
    assert_eq!(
        http.head_manifest("app", "v1.0.0").await.unwrap().map(|d| d.digest),
        Some(image.digest.clone())
    );

    // The CA alone (`--ca-file`) verifies the server, but the registry wants a client certificate.
    let mut ca_only = options(&reg);
    ca_only.ca_files = vec![p("ca.crt")];
    let without_client = HttpRegistry::new(&reg.host, &ca_only).unwrap();
    assert!(without_client.head_manifest("app", "v1.0.0").await.is_err());
    // Without the CA the server's certificate is not trusted.
    let untrusted = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let e = untrusted.head_manifest("app", "v1.0.0").await.unwrap_err();
    assert!(e.message().contains("certificate") || e.message().contains("cannot reach"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_honouring_if_match_makes_the_tag_write_decide_again() {
    use std::sync::{Arc, Mutex};
    let Some(reg) = TestRegistry::start("a_registry_honouring_if_match", None) else { return };
    let direct = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let old = image_manifest(&layout, 21, "1.0.0", "amd64", 512).await;
    let new = image_manifest(&layout, 22, "2.0.0", "amd64", 512).await;
    push(&layout, &direct, "app", &old, "latest").await;
    push(&layout, &direct, "app", &new, "build").await;
    // The first conditional PUT of `latest` loses to "another writer": 412.
    let refused = Arc::new(Mutex::new(false));
    let once = refused.clone();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.port,
        intercept: Some(Arc::new(move |seen: &Seen| {
            let conditional = seen.method == "PUT"
                && seen.path.ends_with("/manifests/latest")
                && seen.header("if-match").is_some();
            let mut done = once.lock().unwrap();
            (conditional && !*done).then(|| {
                *done = true;
                Answer { status: 412, ..Default::default() }
            })
        })),
        ..Default::default()
    })
    .await;
    let http = HttpRegistry::new(&format!("127.0.0.1:{}", proxy.port), &options(&reg)).unwrap();
    let requests = tags(&[("latest", TagRule::Monotonic)]);
    let version = semver::Version::new(2, 0, 0);
    let decisions =
        apply_tags(&http, "app", &new, Some(&version), &requests, ApplyTagsOptions::default()).await.unwrap();
    assert!(matches!(decisions[0].action, TagAction::Move { .. }), "{decisions:?}");
    assert!(*refused.lock().unwrap());
    let puts: Vec<Seen> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT" && s.path.ends_with("/manifests/latest"))
        .collect();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert!(puts.iter().all(|p| p.header("if-match").is_some()), "{puts:?}");
    assert_eq!(reg.digest_of("app:latest"), Some(new.digest.clone()));
}

/// What kind of request `seen` is, for counting: method, repository, and what it reads or writes.
fn request_kind(seen: &Seen) -> String {
    let path = seen.path.trim_start_matches("/v2/");
    let (repo, rest) = path.split_once('/').unwrap_or((path, ""));
    let what = match rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b)) {
        ("manifests", r) if r.starts_with("sha256:") => "manifest by digest",
        ("manifests", _) => "manifest by tag",
        ("blobs", r) if r.contains("mount=") => "blob mount",
        ("blobs", _) => "blob",
        ("tags", _) => "tag list",
        ("referrers", _) => "referrers",
        _ => "other",
    };
    format!("{} {repo} {what}", seen.method)
}

/// The minimum a promote of a 4-platform index (4 images of one config and one layer each) to a
/// new repository of the same registry needs, with one tag and nothing attached: read the root
/// and each image once, look where the tag and the root stand at the destination, list the
/// source's tags and probe the referrers API once (to find attachments), mount each blob, store
/// each image, and store the root with the tag write. Nothing else: no second read of a
/// manifest, no HEAD before a mount, no PUT of the root by digest and then by tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_of_an_index_makes_only_the_requests_it_needs() {
    let Some(reg) = TestRegistry::start("promote_of_an_index_makes_only_the_requests_it_needs", None) else {
        return;
    };
    let direct = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let index = index_manifest(&layout, 5, "1.0.0").await;
    push(&layout, &direct, "src", &index, "v1").await;
    let proxy = Proxy::start(ProxyConfig { upstream: reg.port, ..Default::default() }).await;
    let host = format!("127.0.0.1:{}", proxy.port);
    let http = HttpRegistry::new(&host, &options(&reg)).unwrap();
    let source = ImageRef::parse(&format!("{host}/src:v1")).unwrap();
    let dest = ImageRef::parse(&format!("{host}/dst")).unwrap();
    let options =
        PromoteOptions { tags: tags(&[("v1", TagRule::Mutable)]), concurrency: 4, ..Default::default() };
    let report = promote(&http, &source, &http, &dest, &options).await.unwrap();
    assert_eq!(
        (report.copy.blobs_mounted, report.copy.blobs_uploaded, report.copy.manifests_pushed),
        (8, 0, 5)
    );
    let mut counted = std::collections::BTreeMap::<String, usize>::new();
    for seen in proxy.seen() {
        *counted.entry(request_kind(&seen)).or_default() += 1;
    }
    let minimum: std::collections::BTreeMap<String, usize> = [
        ("GET src manifest by tag", 1),
        ("GET src manifest by digest", 4),
        ("HEAD dst manifest by tag", 1),
        ("HEAD dst manifest by digest", 1),
        ("GET src tag list", 1),
        ("GET src referrers", 1),
        ("POST dst blob mount", 8),
        ("PUT dst manifest by digest", 4),
        ("PUT dst manifest by tag", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(counted, minimum);
    assert_eq!(reg.digest_of("dst:v1"), Some(index.digest.clone()));
    reg.assert_complete("dst", "v1");

    // Again: the destination holds the root, so nothing is written.
    let before = proxy.seen().len();
    let again = promote(&http, &source, &http, &dest, &options).await.unwrap();
    assert_eq!(again.copy, Default::default());
    let writes =
        proxy.seen()[before..].iter().filter(|s| !matches!(s.method.as_str(), "GET" | "HEAD")).count();
    assert_eq!(writes, 0);
}

/// The order that keeps a tag off an incomplete image, as the registry itself sees it while the
/// copy runs its requests side by side: a proxy delaying each request at random logs when a
/// request reaches the registry and when the registry has answered it. Every image manifest
/// reaches the registry only after each of its blobs was mounted; the signature and the
/// referrer (copied while the image is) only after the root they refer to was stored; the tag
/// last, after every image manifest, the signature and the referrer's registration, whatever
/// order the delays make; and no blob is mounted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_stores_each_manifest_only_after_what_it_points_at() {
    use std::sync::{Arc, Mutex};
    let Some(reg) = TestRegistry::start("promote_stores_each_manifest_only_after_what_it_points_at", None)
    else {
        return;
    };
    let direct = HttpRegistry::new(&reg.host, &options(&reg)).unwrap();
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let index = index_manifest(&layout, 6, "1.0.0").await;
    let signature = cosign_signature(&layout, &index.digest).await;
    let bundle = referrer(&layout, &index).await;
    layout.put_manifest("", "v1", &index, None).await.unwrap();
    let seeded = PromoteOptions { tags: tags(&[("v1", TagRule::Mutable)]), ..Default::default() };
    let layout_ref = ImageRef::parse(&format!("oci:{}:v1", path.display())).unwrap();
    promote(&layout, &layout_ref, &direct, &reg.image("src:v1"), &seeded).await.unwrap();
    let mut children = Vec::new();
    for child in index.view().unwrap().manifests {
        let image = layout.get_manifest("", child.digest.as_str()).await.unwrap().unwrap().manifest;
        let blobs: Vec<Digest> = image.view().unwrap().blobs().map(|b| b.digest.clone()).collect();
        children.push((child.digest, blobs));
    }
    for seed in 0..4 {
        // (answered, method, path): `false` when the request reaches the registry.
        type Events = Arc<Mutex<Vec<(bool, String, String)>>>;
        let events = Events::default();
        let (sent, answered) = (events.clone(), events.clone());
        let log = move |events: &Events, answered: bool, seen: &Seen| {
            let path = seen.path.replace("%3A", ":");
            events.lock().unwrap().push((answered, seen.method.clone(), path));
        };
        let proxy = Proxy::start(ProxyConfig {
            upstream: reg.port,
            seed,
            max_delay: std::time::Duration::from_millis(15),
            intercept: Some(Arc::new(move |seen: &Seen| {
                log(&sent, false, seen);
                None
            })),
            rewrite: Some(Arc::new(move |seen: &Seen, _: &mut Answer| log(&answered, true, seen))),
            ..Default::default()
        })
        .await;
        let host = format!("127.0.0.1:{}", proxy.port);
        let http = HttpRegistry::new(&host, &options(&reg)).unwrap();
        let source = ImageRef::parse(&format!("{host}/src:v1")).unwrap();
        let repo = format!("dst{seed}");
        let dest = ImageRef::parse(&format!("{host}/{repo}")).unwrap();
        let options =
            PromoteOptions { tags: tags(&[("v1", TagRule::Mutable)]), concurrency: 4, ..Default::default() };
        let report = promote(&http, &source, &http, &dest, &options).await.unwrap();
        assert_eq!(report.copy.blobs_uploaded, 0, "{:?}", report.copy);
        assert!(report.attachments.iter().all(|a| a.outcome == "copied"), "{:?}", report.attachments);
        assert_eq!(report.attachments.len(), 2, "{:?}", report.attachments);
        reg.assert_complete(&repo, "v1");
        reg.assert_complete(&repo, &index.digest.cosign_tag("sig"));
        reg.assert_complete(&repo, bundle.digest.as_str());

        let events = events.lock().unwrap().clone();
        let position = |answered: bool, method: &str, path: &str| {
            events
                .iter()
                .position(|(a, m, p)| *a == answered && m == method && p.contains(path))
                .unwrap_or_else(|| panic!("no {method} {path} (answered: {answered}) in {events:#?}"))
        };
        let tag_write = position(false, "PUT", &format!("/v2/{repo}/manifests/v1"));
        for (child, blobs) in &children {
            let child_write = position(false, "PUT", &format!("/v2/{repo}/manifests/{child}"));
            for blob in blobs {
                let mounted = position(true, "POST", &format!("mount={blob}"));
                assert!(
                    mounted < child_write,
                    "seed {seed}: {child} went out before blob {blob} was mounted"
                );
            }
            let stored = position(true, "PUT", &format!("/v2/{repo}/manifests/{child}"));
            assert!(stored < tag_write, "seed {seed}: the tag write went out before {child} was stored");
        }
        let root_stored = position(true, "PUT", &format!("/v2/{repo}/manifests/{}", index.digest));
        let signature_write =
            position(false, "PUT", &format!("/v2/{repo}/manifests/{}", index.digest.cosign_tag("sig")));
        let bundle_write = position(false, "PUT", &format!("/v2/{repo}/manifests/{}", bundle.digest));
        let registered =
            position(true, "PUT", &format!("/v2/{repo}/manifests/{}", index.digest.fallback_tag()));
        assert!(root_stored < signature_write && root_stored < bundle_write, "seed {seed}: {events:#?}");
        let signature_stored =
            position(true, "PUT", &format!("/v2/{repo}/manifests/{}", index.digest.cosign_tag("sig")));
        assert!(signature_stored < tag_write && registered < tag_write, "seed {seed}: {events:#?}");
        assert_eq!(
            reg.digest_of(&format!("{repo}:{}", index.digest.cosign_tag("sig"))),
            Some(signature.digest.clone())
        );
        // Each blob is mounted once, also one the signature and the referrer share (their empty
        // config): distribution rewrites a mounted blob's link in place, and a manifest PUT
        // reading the link meanwhile fails.
        let mut mounts = std::collections::BTreeMap::<String, usize>::new();
        for (answered, method, path) in &events {
            if let (false, "POST", Some((_, rest))) = (answered, method.as_str(), path.split_once("mount=")) {
                *mounts.entry(rest.split('&').next().unwrap_or_default().to_string()).or_default() += 1;
            }
        }
        assert!(mounts.values().all(|n| *n == 1), "seed {seed}: {mounts:#?}");
    }
}

/// Distribution refuses a manifest PUT as `DIGEST_INVALID` when it reads a blob link that a
/// concurrent mount of the same blob is rewriting (two promotes into one repository). The PUT is
/// sent again, twice at most: a lasting refusal still fails, naming the registry's code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_put_refused_by_a_blob_link_race_is_sent_again() {
    use std::sync::{Arc, Mutex};
    let Some(reg) = TestRegistry::start("a_manifest_put_refused_by_a_blob_link_race_is_sent_again", None)
    else {
        return;
    };
    let (_tmp, path) = layout_dir();
    let layout = layout_at(&path);
    let image = image_manifest(&layout, 41, "4.1.0", "amd64", 1024).await;
    let race = r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
    for (refusals, succeeds) in [(1, true), (2, true), (usize::MAX, false)] {
        let refused = Arc::new(Mutex::new(0usize));
        let count = refused.clone();
        let proxy = Proxy::start(ProxyConfig {
            upstream: reg.port,
            intercept: Some(Arc::new(move |seen: &Seen| {
                if seen.method != "PUT" || !seen.path.contains("/manifests/") {
                    return None;
                }
                let mut n = count.lock().unwrap();
                (*n < refusals).then(|| {
                    *n += 1;
                    answer(400, race)
                })?
            })),
            ..Default::default()
        })
        .await;
        let http = HttpRegistry::new(&format!("127.0.0.1:{}", proxy.port), &options(&reg)).unwrap();
        let repo = format!("race{refusals}");
        let src = relkit_registry::ops::copy::Endpoint { registry: &layout, repo: "" };
        let dst = relkit_registry::ops::copy::Endpoint { registry: &http, repo: &repo };
        // The copy stores the image by digest, then the tag is written.
        let stored = relkit_registry::ops::copy::copy_image(&src, &dst, &image.digest, false, 4).await;
        let puts =
            || proxy.seen().iter().filter(|s| s.method == "PUT" && s.path.contains("/manifests/")).count();
        if succeeds {
            stored.unwrap();
            http.put_manifest(&repo, "v4.1.0", &image, None).await.unwrap();
            assert_eq!(puts(), refusals + 2, "refused {refusals} times, then stored, then tagged");
            reg.assert_complete(&repo, "v4.1.0");
        } else {
            let error = stored.unwrap_err().to_string();
            assert!(error.contains("DIGEST_INVALID"), "{error}");
            assert_eq!(puts(), 3, "sent three times in all");
            assert!(http.head_manifest(&repo, "v4.1.0").await.unwrap().is_none());
        }
    }
}
