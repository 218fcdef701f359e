//! The one error type of relkit: every failure is either bad input (exit 2) or a failed operation
//! (exit 1), and carries a one-line message that names the problem and the fix.

use std::fmt;

/// Why a command stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input, usage or configuration: exit code 2.
    Usage,
    /// The operation itself failed (network, registry, git, I/O): exit code 1.
    Failed,
}

/// A failure with a one-line, user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Result alias used across the relkit crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input (exit 2). The message should say what was wrong and how to fix it.
    pub fn usage(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Usage, message: one_line(message.into()) }
    }

    /// A failed operation (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Failed, message: one_line(message.into()) }
    }

    /// Which kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit code for this error: 2 for bad input, 1 for a failed operation.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Usage => 2,
            ErrorKind::Failed => 1,
        }
    }

    /// Prefixes the message with context, keeping the kind: `"{context}: {message}"`.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Folds a multi-line message into one line so that logs and annotations stay one line per error.
fn one_line(message: String) -> String {
    if message.contains(['\n', '\r']) {
        message.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_kind() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::failed("x").exit_code(), 1);
    }

    #[test]
    fn messages_are_folded_to_one_line() {
        let e = Error::failed("first\n  second\r\n\nthird");
        assert_eq!(e.message(), "first; second; third");
    }

    #[test]
    fn context_keeps_kind() {
        let e = Error::usage("bad").context("config");
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert_eq!(e.to_string(), "config: bad");
    }
}
