//! The `serve` configuration file (TOML). Every option has a default except `queue_url`
//! and `model`; docs/serve.md and deploy/serve.example.toml describe each.

use std::path::{Path, PathBuf};
use std::time::Duration;

use flowhound_features::Cidr;
use serde::Deserialize;

use crate::UsageError;
use crate::models::ModelLocation;

/// The environment variable holding the whole configuration when `--config` is not given.
pub const CONFIG_ENV: &str = "FLOWHOUND_SERVE_TOML";

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    queue_url: String,
    model: String,
    state_dir: Option<PathBuf>,
    findings: Option<String>,
    lateness: Option<String>,
    publish: Option<bool>,
    namespace: Option<String>,
    host_score_top: Option<usize>,
    max_messages: Option<i32>,
    wait: Option<String>,
    visibility_timeout: Option<String>,
    model_check: Option<String>,
    skip_corrupt: Option<bool>,
    internal: Option<Vec<String>>,
    external: Option<Vec<String>>,
    safelist: Option<PathBuf>,
    ledger_retention: Option<String>,
    max_line_bytes: Option<usize>,
    max_object_bytes: Option<u64>,
    lag_interval: Option<String>,
    in_memory_gzip_bytes: Option<u64>,
}

/// Where findings go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingsOut {
    Stdout,
    File(PathBuf),
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub queue_url: String,
    pub model: ModelLocation,
    pub state_dir: PathBuf,
    pub findings: FindingsOut,
    pub lateness: Duration,
    pub publish: bool,
    pub namespace: String,
    pub host_score_top: usize,
    pub max_messages: i32,
    pub wait: Duration,
    pub visibility_timeout: Duration,
    pub model_check: Duration,
    pub skip_corrupt: bool,
    pub internal: Vec<Cidr>,
    pub external: Vec<Cidr>,
    pub safelist: Option<PathBuf>,
    pub ledger_retention: Duration,
    pub max_line_bytes: usize,
    pub max_object_bytes: u64,
    pub lag_interval: Duration,
    pub in_memory_gzip_bytes: u64,
}

fn blocks(name: &str, values: Option<Vec<String>>) -> Result<Vec<Cidr>, UsageError> {
    let values = values.unwrap_or_default();
    values.iter().map(|v| v.parse::<Cidr>().map_err(|e| UsageError(format!("{name} = {v:?}: {e}")))).collect()
}

fn duration(name: &str, value: Option<String>, default: Duration) -> Result<Duration, UsageError> {
    match value {
        None => Ok(default),
        Some(text) => crate::config::whole_secs(&text)
            .map(Duration::from_secs)
            .map_err(|e| UsageError(format!("{name} = {text:?}: {e}"))),
    }
}

impl ServeConfig {
    /// Parses the file; relative paths are taken relative to the file's folder.
    pub fn parse(text: &str, base: &Path) -> Result<ServeConfig, UsageError> {
        let file: File = toml::from_str(text).map_err(|e| UsageError(e.to_string()))?;
        if file.queue_url.is_empty() {
            return Err(UsageError("queue_url must not be empty".into()));
        }
        let wait = duration("wait", file.wait, Duration::from_secs(20))?;
        if wait > Duration::from_secs(20) {
            return Err(UsageError("wait is at most 20s (the SQS long-poll limit)".into()));
        }
        let visibility_timeout = duration("visibility_timeout", file.visibility_timeout, Duration::from_secs(300))?;
        if visibility_timeout < Duration::from_secs(10) || visibility_timeout > Duration::from_secs(43_200) {
            return Err(UsageError("visibility_timeout must be between 10s and 12h".into()));
        }
        let max_messages = file.max_messages.unwrap_or(10);
        if !(1..=10).contains(&max_messages) {
            return Err(UsageError("max_messages must be between 1 and 10".into()));
        }
        let lag_interval = duration("lag_interval", file.lag_interval, Duration::from_secs(60))?;
        if lag_interval < Duration::from_secs(1) || lag_interval > Duration::from_secs(3600) {
            return Err(UsageError("lag_interval must be between 1s and 1h".into()));
        }
        let findings = match file.findings.as_deref() {
            None => FindingsOut::File(base.join("findings.jsonl")),
            Some("-") => FindingsOut::Stdout,
            Some(path) => FindingsOut::File(base.join(path)),
        };
        Ok(ServeConfig {
            queue_url: file.queue_url,
            model: ModelLocation::parse(&file.model, Some(base)).map_err(|e| UsageError(format!("model: {e}")))?,
            state_dir: base.join(file.state_dir.unwrap_or_else(|| PathBuf::from("flowhound-state"))),
            findings,
            lateness: duration("lateness", file.lateness, Duration::from_secs(600))?,
            publish: file.publish.unwrap_or(true),
            namespace: file.namespace.unwrap_or_else(|| flowhound_aws::cloudwatch::DEFAULT_NAMESPACE.to_string()),
            host_score_top: file.host_score_top.unwrap_or(20),
            max_messages,
            wait,
            visibility_timeout,
            model_check: duration("model_check", file.model_check, Duration::from_secs(60))?,
            skip_corrupt: file.skip_corrupt.unwrap_or(false),
            internal: blocks("internal", file.internal)?,
            external: blocks("external", file.external)?,
            safelist: file.safelist.map(|p| if p.starts_with("s3:") { p } else { base.join(p) }),
            ledger_retention: duration("ledger_retention", file.ledger_retention, Duration::from_secs(15 * 86_400))?,
            max_line_bytes: file.max_line_bytes.unwrap_or(flowhound_flowlog::DEFAULT_MAX_LINE_BYTES),
            max_object_bytes: file.max_object_bytes.unwrap_or(flowhound_flowlog::DEFAULT_MAX_DECOMPRESSED_BYTES),
            lag_interval,
            in_memory_gzip_bytes: file.in_memory_gzip_bytes.unwrap_or(flowhound_flowlog::DEFAULT_IN_MEMORY_GZIP_BYTES),
        })
    }

    /// The configuration in the environment variable `FLOWHOUND_SERVE_TOML` (a container's task
    /// definition), relative paths taken from the working directory.
    pub fn from_env() -> Result<ServeConfig, UsageError> {
        let text = std::env::var(CONFIG_ENV).map_err(|_| {
            UsageError(format!(
                "serve needs --config FILE, or the TOML configuration in the environment variable {CONFIG_ENV}"
            ))
        })?;
        ServeConfig::parse(&text, Path::new(".")).map_err(|e| UsageError(format!("{CONFIG_ENV}: {e}")))
    }

    pub fn read(path: &Path) -> Result<ServeConfig, UsageError> {
        let text = std::fs::read_to_string(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        ServeConfig::parse(&text, base).map_err(|e| UsageError(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_with_its_documented_defaults() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/serve.example.toml")).unwrap();
        let c = ServeConfig::parse(&text, Path::new("/etc/flowhound")).unwrap();
        assert_eq!(c.lateness, Duration::from_secs(600));
        assert_eq!(c.wait, Duration::from_secs(20));
        assert_eq!(c.visibility_timeout, Duration::from_secs(300));
        assert_eq!(c.namespace, "Flowhound");
        assert_eq!(c.host_score_top, 20);
        assert_eq!(c.lag_interval, Duration::from_secs(60));
        assert!(c.publish);
        assert_eq!(c.model, ModelLocation::Local("/var/lib/flowhound/model".into()));
    }

    #[test]
    fn minimal_file_and_bad_values() {
        let c = ServeConfig::parse("queue_url = \"q\"\nmodel = \"m\"\n", Path::new("/x")).unwrap();
        assert_eq!(c.state_dir, Path::new("/x/flowhound-state"));
        assert_eq!(c.findings, FindingsOut::File(PathBuf::from("/x/findings.jsonl")));
        assert_eq!(c.max_messages, 10);
        assert!(!c.skip_corrupt);
        let c = ServeConfig::parse("queue_url = \"q\"\nmodel = \"s3://models/prod\"\n", Path::new("/x")).unwrap();
        assert_eq!(c.model, ModelLocation::S3 { bucket: "models".into(), prefix: "prod/".into() });
        let c = ServeConfig::parse("queue_url = \"q\"\nmodel = \"m\"\ninternal = [\"10.9.0.0/16\"]\n", Path::new("/x"))
            .unwrap();
        assert_eq!(c.internal, vec!["10.9.0.0/16".parse::<Cidr>().unwrap()]);
        for bad in [
            "model = \"m\"",
            "queue_url = \"q\"\nmodel = \"m\"\nwait = \"30s\"",
            "queue_url = \"q\"\nmodel = \"m\"\nmax_messages = 11",
            "queue_url = \"q\"\nmodel = \"m\"\nlateness = \"soon\"",
            "queue_url = \"q\"\nmodel = \"m\"\nlag_interval = \"0s\"",
            "queue_url = \"q\"\nmodel = \"m\"\nunknown = 1",
            "queue_url = \"q\"\nmodel = \"s3://Bad_Bucket/m\"",
            "queue_url = \"q\"\nmodel = \"m\"\ninternal = [\"10.0.0.0/33\"]",
            "queue_url = \"q\"\nmodel = \"m\"\nexternal = [\"nope\"]",
        ] {
            assert!(ServeConfig::parse(bad, Path::new("/x")).is_err(), "{bad}");
        }
    }
    /// The configuration the CloudFormation template hands serve in `FLOWHOUND_SERVE_TOML`
    /// parses, with its placeholders filled as CloudFormation would.
    #[test]
    fn the_templates_serve_configuration_parses() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/cloudformation/flowhound.yaml"))
                .unwrap();
        let at = template.find("- Name: FLOWHOUND_SERVE_TOML").expect("the serve task's configuration");
        let mut lines = template[at..].lines().skip_while(|l| l.trim() != "- |").skip(1);
        let first = lines.next().unwrap();
        let indent = first.len() - first.trim_start().len();
        let mut toml = String::new();
        for line in
            std::iter::once(first).chain(lines.take_while(|l| l.len() > indent && l[..indent].trim().is_empty()))
        {
            toml.push_str(&line[indent..]);
            toml.push('\n');
        }
        let filled = toml
            .replace("${ObjectQueue}", "https://sqs.us-east-1.amazonaws.com/123456789012/flowhound-ObjectQueue-x")
            .replace("${Bucket}", "acme-models")
            .replace("${ModelPrefix}", "models/")
            .replace("${ServeStateDir}", "state")
            .replace("${MetricNamespace}", "Flowhound")
            .replace("${ServeLateness}", "10m");
        assert!(!filled.contains("${"), "every placeholder filled: {filled}");
        let c = ServeConfig::parse(&filled, Path::new("/var/lib/flowhound")).unwrap();
        assert_eq!(c.model, ModelLocation::S3 { bucket: "acme-models".into(), prefix: "models/".into() });
        assert_eq!(c.state_dir, Path::new("/var/lib/flowhound/state"));
        assert_eq!(c.findings, FindingsOut::Stdout);
        assert_eq!(c.lateness, Duration::from_secs(600));
    }
}
