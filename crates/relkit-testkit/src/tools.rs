//! External tools in tests: a test whose tool is missing skips with a loud line, and fails under
//! `CI=true`.

/// True under CI (`CI=true`), where a missing tool fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// True when `tool` is on `PATH`; otherwise prints a SKIPPED line naming `test` (or panics
/// under CI).
pub fn require_tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    if !found {
        assert!(!in_ci(), "{test}: {tool} is not installed and CI=true (run scripts/install-test-deps)");
        eprintln!("SKIPPED: {test}: {tool} not installed (run scripts/install-test-deps)");
    }
    found
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `sha256:<hex>` of some bytes (an OCI digest).
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Stdout of a run that must have succeeded; otherwise a panic showing its exit code and both
/// streams.
pub fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs `openssl ARGS` in `dir` and returns its stdout; panics showing its output when it fails.
pub fn openssl(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out =
        std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A self-signed certificate for `subject` (`/CN=...`, RSA 2048, valid two days), written to
/// `key` and `certificate` in `dir`.
pub fn self_signed_certificate(dir: &std::path::Path, subject: &str, key: &str, certificate: &str) {
    let args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject];
    openssl(dir, &[&args[..], &["-keyout", key, "-out", certificate]].concat());
}
