//! AWS adapters: the S3 source, the SQS notification consumer and the CloudWatch publisher.
//!
//! Async (tokio) and model-agnostic: this crate moves bytes and numbers between AWS and
//! the pure crates, and knows nothing of features, models or findings.
//!
//! - [`s3`]: `s3://bucket/prefix` sources — listing with date pruning by the AWS key
//!   layout, and streaming `GetObject` handed to the synchronous reader through
//!   [`flowhound_flowlog::RemoteOpener`] ([`s3::S3Opener`]).
//! - [`cloudwatch`]: the metrics of docs/metrics.md as plain data ([`cloudwatch::Metric`]) and
//!   a publisher that batches, validates and retries `PutMetricData`.
//! - [`sqs`]: parsing S3 event notifications (direct, SNS- or EventBridge-wrapped) and a
//!   long-polling consumer that extends visibility and deletes only when told.
//! - [`retry`]: the one retry policy, as plain functions.
//!
//! Configuration follows the SDK's standard chain: credentials from the environment,
//! profiles, web identity (IRSA), the ECS/EKS container endpoint or IMDS; region from
//! `AWS_REGION`/profile; endpoints from `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`.
//! The HTTP client is hyper with rustls on the ring provider (no aws-lc, no OpenSSL).

pub mod cloudwatch;
pub mod retry;
pub mod s3;
pub mod sqs;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls;

/// Region used when the standard chain finds none (e.g. against an emulator).
pub const FALLBACK_REGION: &str = "us-east-1";

/// Settings shared by every client.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    /// Overrides the region of the standard chain.
    pub region: Option<String>,
    /// Overrides every service endpoint (`AWS_ENDPOINT_URL*` are honoured without it).
    pub endpoint_url: Option<String>,
    /// Fixed `(access key id, secret)` instead of the credential chain: for emulators and
    /// tests, which must not fall through the chain to instance metadata.
    pub static_credentials: Option<(String, String)>,
    pub connect_timeout: Duration,
    /// Limit for one attempt of a call, up to the response headers; must exceed the SQS
    /// long-poll wait (20 s).
    pub attempt_timeout: Duration,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            region: None,
            endpoint_url: None,
            static_credentials: None,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(60),
        }
    }
}

/// Loads the shared SDK configuration from the standard chain.
///
/// The SDK's own retries are disabled: every call in this crate retries through
/// [`retry::with_retries`], so one tested policy applies and attempts are not multiplied.
pub async fn load_config(opts: &AwsOptions) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(opts.connect_timeout)
                .operation_attempt_timeout(opts.attempt_timeout)
                .build(),
        );
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some((id, secret)) = &opts.static_credentials {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(id, secret, None, None, "static"));
    }
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    // The loader's default chains (region, credentials) use its HTTP client: they must not
    // be built separately, or IMDS/STS lookups would have no client.
    let config = loader.load().await;
    if config.region().is_none() {
        return config.into_builder().region(Region::from_static(FALLBACK_REGION)).build();
    }
    config
}

/// True when S3 calls go to a custom endpoint (an emulator, MinIO, a VPC endpoint URL):
/// then S3 must use path-style addressing.
pub fn has_custom_s3_endpoint(config: &SdkConfig) -> bool {
    let ignored = env_flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    config.endpoint_url().is_some() || (!ignored && (env_set("AWS_ENDPOINT_URL_S3") || env_set("AWS_ENDPOINT_URL")))
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}
