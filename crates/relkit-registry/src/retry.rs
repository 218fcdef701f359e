//! The one retry policy of the crate: exponential backoff with jitter (`backon`), `Retry-After`
//! honoured when a registry sends it, used by every request and by blob copies.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use relkit_core::{Error, ErrorKind, Result};

/// Retry policy for registry requests: exponential backoff with jitter; `Retry-After` wins
/// when the registry sends it (capped at `max_delay`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: usize,
    /// First delay.
    pub min_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 6, min_delay: Duration::from_millis(200), max_delay: Duration::from_secs(20) }
    }
}

/// One failed attempt: retried when `retry` is set, after `after` when the server said so.
pub(crate) struct Attempt {
    pub error: Error,
    pub retry: bool,
    pub after: Option<Duration>,
}

impl Attempt {
    /// An attempt not worth repeating.
    pub fn fatal(error: Error) -> Self {
        Self { error, retry: false, after: None }
    }
}

impl RetryPolicy {
    fn backoff(&self, max_retries: usize) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(max_retries)
            .with_jitter()
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries are spent.
    pub(crate) async fn run<T, F, Fut>(&self, attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, Attempt>>,
    {
        attempt
            .retry(self.backoff(self.max_retries))
            .when(|a: &Attempt| a.retry)
            .adjust(|a: &Attempt, next| next.map(|d| a.after.map_or(d, |after| after.min(self.max_delay))))
            .await
            .map_err(|a| a.error)
    }

    /// Runs a whole operation that cannot be resumed (a streamed blob copy: the source is
    /// opened again) at most `times` more times when it fails (not on bad input).
    pub async fn run_operation<T, F, Fut>(&self, times: usize, operation: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        operation
            .retry(self.backoff(times.min(self.max_retries)))
            .when(|e: &Error| e.kind() == ErrorKind::Failed)
            .await
    }
}
