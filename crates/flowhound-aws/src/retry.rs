//! Retry decisions and backoff, as plain functions.
//!
//! The SDK's own retry layer is switched off (see [`crate::load_config`]) so that one
//! policy, tested here without the network, decides every retry: throttling, 5xx,
//! timeouts, connection resets and truncated responses are retried with capped
//! exponential backoff and full jitter; everything else (access denied, missing bucket,
//! bad request) fails at once.

use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

/// What went wrong with one attempt, reduced to what a retry decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The attempt timed out (connect, read or attempt timeout).
    Timeout,
    /// An I/O error on the connection: reset, refused, broken pipe, a body cut short.
    Io,
    /// The response arrived but could not be read or parsed (often truncated).
    Response,
    /// The service answered with an error.
    Service { status: u16, code: Option<String> },
    /// The request could not be built or sent for a reason a retry cannot fix.
    Permanent,
}

/// Whether and how to retry an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A transient failure: retry after the normal backoff.
    Retry,
    /// The service asked us to slow down: retry after the (longer) throttling backoff.
    Throttled,
    /// Retrying cannot help.
    Fail,
}

/// Error codes AWS services use for throttling (S3, SQS, CloudWatch and the common set).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
    "EC2ThrottledException",
    "KMSThrottlingException",
];

/// Error codes for transient server-side failures that may arrive with a 4xx status.
const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "IDPCommunicationError",
];

/// The retry decision for one failed attempt.
pub fn decide(failure: &Failure) -> Decision {
    match failure {
        Failure::Timeout | Failure::Io | Failure::Response => Decision::Retry,
        Failure::Permanent => Decision::Fail,
        Failure::Service { status, code } => {
            let code = code.as_deref().unwrap_or("");
            // A bare 503 is how S3 says "SlowDown" when the body is lost: throttling too.
            if *status == 429 || *status == 503 || THROTTLING_CODES.contains(&code) {
                Decision::Throttled
            } else if *status >= 500 || TRANSIENT_CODES.contains(&code) {
                Decision::Retry
            } else {
                Decision::Fail
            }
        }
    }
}

/// Reduces an SDK error to a [`Failure`].
pub fn failure_of<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Failure {
    match err {
        SdkError::TimeoutError(_) => Failure::Timeout,
        SdkError::DispatchFailure(e) => {
            if e.is_timeout() {
                Failure::Timeout
            } else if e.is_io() {
                Failure::Io
            } else if e.is_user() {
                Failure::Permanent
            } else {
                // Unclassified connector errors (e.g. a connection closed before the
                // response, seen on loaded emulators) are worth another attempt.
                Failure::Io
            }
        }
        SdkError::ResponseError(_) => Failure::Response,
        SdkError::ServiceError(e) => {
            Failure::Service { status: e.raw().status().as_u16(), code: e.err().code().map(str::to_string) }
        }
        SdkError::ConstructionFailure(_) => Failure::Permanent,
        _ => Failure::Permanent,
    }
}

/// The error code of a service error, for messages and matching.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<String> {
    match err {
        SdkError::ServiceError(e) => e.err().code().map(str::to_string),
        _ => None,
    }
}

/// HTTP status of a service error.
pub fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    match err {
        SdkError::ServiceError(e) => Some(e.raw().status().as_u16()),
        _ => None,
    }
}

/// Attempts and backoff bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: u32,
    /// Backoff cap before the first retry of a transient failure.
    pub base: Duration,
    /// Backoff cap before the first retry after throttling.
    pub throttle_base: Duration,
    /// Largest backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(100),
            throttle_base: Duration::from_millis(500),
            max: Duration::from_secs(20),
        }
    }
}

/// The delay before retry number `retry` (1 for the first retry), with full jitter:
/// uniform in `[0, min(max, base * 2^(retry-1))]`, `unit` being a uniform draw from `[0, 1)`.
pub fn backoff(policy: &RetryPolicy, decision: Decision, retry: u32, unit: f64) -> Duration {
    let base = if decision == Decision::Throttled { policy.throttle_base } else { policy.base };
    let exp = retry.saturating_sub(1).min(30);
    let cap = base.saturating_mul(1u32 << exp).min(policy.max);
    cap.mul_f64(unit.clamp(0.0, 1.0))
}

/// Runs `attempt` until it succeeds, fails permanently or runs out of attempts. `classify`
/// turns an error into a [`Failure`]; `what` names the operation in logs.
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    classify: impl Fn(&E) -> Failure,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut tries = 0u32;
    loop {
        tries += 1;
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                let failure = classify(&err);
                let decision = decide(&failure);
                if decision == Decision::Fail || tries >= policy.max_attempts {
                    return Err(err);
                }
                let delay = backoff(policy, decision, tries, fastrand::f64());
                // Info, not debug: a throttling storm must be visible without changing RUST_LOG.
                tracing::info!(
                    operation = what,
                    attempt = tries,
                    ?failure,
                    delay_ms = delay.as_millis() as u64,
                    error = %err,
                    "retrying aws call"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> Failure {
        Failure::Service { status, code: Some(code.to_string()) }
    }

    #[test]
    fn throttling_is_retried_slowly() {
        assert_eq!(decide(&service(400, "Throttling")), Decision::Throttled);
        assert_eq!(decide(&service(400, "ThrottlingException")), Decision::Throttled);
        assert_eq!(decide(&service(503, "SlowDown")), Decision::Throttled);
        assert_eq!(decide(&Failure::Service { status: 503, code: None }), Decision::Throttled);
        assert_eq!(decide(&Failure::Service { status: 429, code: None }), Decision::Throttled);
        assert_eq!(decide(&service(400, "RequestThrottled")), Decision::Throttled);
    }

    #[test]
    fn transient_failures_are_retried() {
        assert_eq!(decide(&Failure::Timeout), Decision::Retry);
        assert_eq!(decide(&Failure::Io), Decision::Retry);
        assert_eq!(decide(&Failure::Response), Decision::Retry);
        assert_eq!(decide(&service(500, "InternalError")), Decision::Retry);
        assert_eq!(decide(&Failure::Service { status: 502, code: None }), Decision::Retry);
        assert_eq!(decide(&Failure::Service { status: 504, code: None }), Decision::Retry);
        assert_eq!(decide(&service(400, "RequestTimeout")), Decision::Retry);
    }

    #[test]
    fn client_errors_fail_at_once() {
        assert_eq!(decide(&service(404, "NoSuchBucket")), Decision::Fail);
        assert_eq!(decide(&service(404, "NoSuchKey")), Decision::Fail);
        assert_eq!(decide(&service(403, "AccessDenied")), Decision::Fail);
        assert_eq!(decide(&service(400, "InvalidParameterValue")), Decision::Fail);
        assert_eq!(decide(&Failure::Service { status: 412, code: None }), Decision::Fail);
        assert_eq!(decide(&Failure::Permanent), Decision::Fail);
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(100),
            throttle_base: Duration::from_millis(1000),
            max: Duration::from_secs(5),
        };
        assert_eq!(backoff(&p, Decision::Retry, 1, 0.999_999).as_millis(), 99);
        assert_eq!(backoff(&p, Decision::Retry, 3, 0.5), Duration::from_millis(200));
        assert_eq!(backoff(&p, Decision::Retry, 40, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(&p, Decision::Throttled, 2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(&p, Decision::Throttled, 1, 0.0), Duration::ZERO);
        assert_eq!(backoff(&p, Decision::Retry, 0, 1.0), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn with_retries_stops_on_success_or_permanent_failure() {
        let policy = RetryPolicy::default();
        let mut calls = 0;
        let out: Result<u32, String> = with_retries(
            &policy,
            "test",
            |e: &String| if e == "io" { Failure::Io } else { Failure::Permanent },
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("io".to_string()) } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(out, Ok(3));

        let mut calls = 0;
        let out: Result<u32, String> = with_retries(
            &policy,
            "test",
            |_: &String| Failure::Permanent,
            || {
                calls += 1;
                async { Err("denied".to_string()) }
            },
        )
        .await;
        assert_eq!(out, Err("denied".to_string()));
        assert_eq!(calls, 1);

        let mut calls = 0;
        let out: Result<u32, String> = with_retries(
            &policy,
            "test",
            |_: &String| Failure::Io,
            || {
                calls += 1;
                async { Err("reset".to_string()) }
            },
        )
        .await;
        assert!(out.is_err());
        assert_eq!(calls, policy.max_attempts);
    }
}
