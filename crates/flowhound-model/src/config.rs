//! Detector settings: the `[detect]` table of the configuration file ([`DetectConfig`] and
//! each detector's part of it) and the parsing of the file's model tables ([`parse_settings`]).
//!
//! They live apart from the detectors that read them because a [`Baseline`] records the
//! settings it was fitted with: with the settings here, below both, the detectors depend on
//! the baseline and not the other way round.
//!
//! [`Baseline`]: crate::Baseline

use flowhound_features::Cidr;
use serde::{Deserialize, Serialize};

use crate::finding::SeverityThresholds;

/// Detector settings (the `[detect]` table of the configuration file). Every field has a
/// documented default (docs/detectors.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Length of the sliding beaconing horizon, seconds (24 h; shorten for short sessions).
    pub horizon_secs: u64,
    pub severity: SeverityThresholds,
    pub beaconing: BeaconConfig,
    pub exfiltration: ExfilConfig,
    pub lateral: LateralConfig,
    /// Quiet time after which an incident closes: findings of one detector, host, peer and
    /// port less than this apart are one incident, reported once (see [`crate::incident`]).
    pub incident_quiet_secs: u64,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            incident_quiet_secs: 86_400,
            horizon_secs: flowhound_features::DEFAULT_HORIZON_SECS,
            severity: SeverityThresholds::default(),
            beaconing: BeaconConfig::default(),
            exfiltration: ExfilConfig::default(),
            lateral: LateralConfig::default(),
        }
    }
}

/// Errors in detector settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectConfigError {
    #[error("horizon_secs must be between 600 and 604800, got {0}")]
    Horizon(u64),
    #[error("incident_quiet_secs must be between 600 and 2592000 (30 days), got {0}")]
    IncidentQuiet(u64),
    #[error("severity thresholds must be in 0-100 and increasing")]
    Severity,
    #[error("beaconing.jitter_tolerance must be in (0, 1), got {0}")]
    Jitter(f64),
    #[error("beaconing.min_connections must be at least 4, got {0}")]
    MinConnections(usize),
    #[error("exfiltration.group_service_quantile must be in [0, 1], got {0}")]
    GroupServiceQuantile(f64),
}

impl DetectConfig {
    pub fn validate(&self) -> Result<(), DetectConfigError> {
        if !(600..=604_800).contains(&self.horizon_secs) {
            return Err(DetectConfigError::Horizon(self.horizon_secs));
        }
        if !(600..=2_592_000).contains(&self.incident_quiet_secs) {
            return Err(DetectConfigError::IncidentQuiet(self.incident_quiet_secs));
        }
        if !self.severity.is_valid() {
            return Err(DetectConfigError::Severity);
        }
        let j = self.beaconing.jitter_tolerance;
        if !(j > 0.0 && j < 1.0) {
            return Err(DetectConfigError::Jitter(j));
        }
        if self.beaconing.min_connections < 4 {
            return Err(DetectConfigError::MinConnections(self.beaconing.min_connections));
        }
        let q = self.exfiltration.group_service_quantile;
        if !(0.0..=1.0).contains(&q) {
            return Err(DetectConfigError::GroupServiceQuantile(q));
        }
        Ok(())
    }
}

/// Beaconing settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeaconConfig {
    /// Fewest connections (or records of a persistent channel) to analyse a pair.
    pub min_connections: usize,
    /// Largest relative jitter the periodicity tolerates (0.5 = ±50 %); narrower bands
    /// are tried first and chance is corrected for, so a wide tolerance costs no precision.
    pub jitter_tolerance: f64,
    /// Median bytes per beat above which contact is a transfer, not a beacon (exfiltration's business).
    pub max_beat_bytes: u64,
    /// A connection held open at least this long is a persistent channel.
    pub min_persistent_secs: u64,
    /// Score AWS-managed service endpoints too (S3, DynamoDB, …; skipped by default).
    pub include_aws_services: bool,
    /// Hosts that may share one destination network and still be one campaign: up to
    /// this many hosts reaching it is no evidence of benign automation; beyond, the pair
    /// is discounted by the square root of this over the hosts (two implants on one C2
    /// must not make it "common").
    pub campaign_hosts: usize,
    /// Factor applied to a pair that was already periodic in training and that at most
    /// `campaign_hosts` hosts share (long dwell at low prevalence is more suspicious).
    pub dwell_factor: f64,
    /// Factor applied on evidence of benign automation: in the history, at least three
    /// hosts and half of the host's peer group reached the destination network (the
    /// role's habit), or the host serves the same port to three or more internal clients
    /// (a forwarder or proxy relaying them).
    pub automation_factor: f64,
    /// Strength from which a training pair is remembered as a known periodic pair.
    pub learn_strength: f64,
    pub floor: f64,
    pub ceiling: f64,
    pub margin: f64,
    pub span: f64,
}

impl Default for BeaconConfig {
    fn default() -> BeaconConfig {
        BeaconConfig {
            min_connections: 6,
            jitter_tolerance: 0.5,
            max_beat_bytes: 512 * 1024,
            min_persistent_secs: 3600,
            include_aws_services: false,
            campaign_hosts: 5,
            dwell_factor: 1.1,
            automation_factor: 0.5,
            learn_strength: 0.6,
            floor: 0.55,
            ceiling: 0.65,
            margin: 0.03,
            span: 0.3,
        }
    }
}

/// Exfiltration settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExfilConfig {
    /// Reference floors for the 1 h, 6 h and 24 h sums, bytes: volumes below them are
    /// never exfiltration whatever the host's history.
    pub min_bytes: [u64; 3],
    /// A destination whose training traffic used at most this many hours of day is
    /// judged by hour: outside them its reference is divided by `off_hours_divisor`.
    pub hour_bound_max_hours: u32,
    pub off_hours_divisor: f64,
    /// A host's known AWS-service destination is judged against at least this quantile
    /// of its peer-group members' largest volumes there (members that used it).
    pub group_service_quantile: f64,
    pub floor: f64,
    pub ceiling: f64,
    pub margin: f64,
    pub span: f64,
}

impl Default for ExfilConfig {
    fn default() -> ExfilConfig {
        ExfilConfig {
            min_bytes: [20_000_000, 50_000_000, 100_000_000],
            hour_bound_max_hours: 6,
            off_hours_divisor: 4.0,
            group_service_quantile: 0.9,
            floor: 2.0,
            ceiling: 4.0,
            margin: 0.25,
            span: 4.0,
        }
    }
}

/// Lateral-movement settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LateralConfig {
    /// Pseudo-counts of the back-off priors: edge-days of the host toward its group's mix,
    /// and pseudo-members of the group toward the fleet's mix.
    pub alpha_host: f64,
    pub alpha_group: f64,
    /// Multiplier of the surprise of an edge on an administrative port.
    pub admin_weight: f64,
    /// Bits added when the host never opened internal connections at this hour of day.
    pub odd_hour_bits: f64,
    /// Distinct destinations on one port in training from which the port is the host's
    /// routine (a bastion's SSH): new destination groups on it cost nothing.
    pub routine_destinations: u32,
    /// Bits added when the destination never served the port in training.
    pub unserved_bits: f64,
    /// Bits added when a host known in training, which never opened a remote-access port
    /// (SSH, MS-RPC, SMB, RDP, WinRM: the lateral detector's `REMOTE_ACCESS_PORTS`), opens one.
    pub first_remote_access_bits: f64,
    /// New (destination, port) pairs in one window from which a window is a scan candidate.
    pub scan_min_pairs: usize,
    /// Distinct destinations in one window from which a window is a scan candidate.
    pub scan_min_destinations: usize,
    pub floor: f64,
    pub ceiling: f64,
    pub margin: f64,
    pub span: f64,
    pub scan_floor: f64,
    pub scan_ceiling: f64,
    pub scan_margin: f64,
    pub scan_span: f64,
}

impl Default for LateralConfig {
    fn default() -> LateralConfig {
        LateralConfig {
            alpha_host: 5.0,
            alpha_group: 5.0,
            admin_weight: 1.25,
            odd_hour_bits: 1.0,
            routine_destinations: 3,
            unserved_bits: 3.0,
            first_remote_access_bits: 3.0,
            scan_min_pairs: 20,
            scan_min_destinations: 5,
            floor: 14.0,
            ceiling: 22.0,
            margin: 1.0,
            span: 8.0,
            scan_floor: 1.0,
            scan_ceiling: 3.0,
            scan_margin: 0.5,
            scan_span: 4.0,
        }
    }
}

/// The model tables of a configuration file: `[detect]` (a [`DetectConfig`]), `[train]`
/// (`seed`) and `[features]` (`internal` and `external` address blocks, the file's
/// equivalent of `--internal` / `--external`). Other tables belong to other commands and
/// are ignored here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub detect: DetectConfig,
    pub seed: Option<u64>,
    pub internal: Vec<Cidr>,
    pub external: Vec<Cidr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainTable {
    seed: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FeaturesTable {
    internal: Vec<String>,
    external: Vec<String>,
}

fn parse_blocks(list: &str, values: &[String]) -> Result<Vec<Cidr>, SettingsError> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let cidr = v
            .parse::<Cidr>()
            .map_err(|e| SettingsError::Table { table: "features", message: format!("{list}: {e}") })?;
        out.push(cidr);
    }
    Ok(out)
}

/// Errors reading the configuration file's model tables.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("not valid TOML: {0}")]
    Toml(String),
    #[error("[{table}]: {message}")]
    Table { table: &'static str, message: String },
    #[error(transparent)]
    Invalid(#[from] DetectConfigError),
}

/// Parses the `[detect]` and `[train]` tables of a TOML configuration file.
pub fn parse_settings(text: &str) -> Result<Settings, SettingsError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| SettingsError::Toml(e.to_string()))?;
    let mut settings = Settings::default();
    if let Some(d) = table.get("detect") {
        settings.detect = d
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Table { table: "detect", message: e.to_string() })?;
    }
    if let Some(t) = table.get("train") {
        let t: TrainTable = t
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Table { table: "train", message: e.to_string() })?;
        settings.seed = t.seed;
    }
    if let Some(f) = table.get("features") {
        let f: FeaturesTable = f
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Table { table: "features", message: e.to_string() })?;
        settings.internal = parse_blocks("internal", &f.internal)?;
        settings.external = parse_blocks("external", &f.external)?;
    }
    settings.detect.validate()?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_table_gives_internal_and_external_blocks() {
        let text = "[features]\ninternal = [\"64.225.56.201/32\"]\nexternal = [\"192.168.0.4/31\", \"fd00:1::/64\"]\n[train]\nseed = 3\n";
        let settings = parse_settings(text).unwrap();
        let internal: Cidr = "64.225.56.201/32".parse().unwrap();
        assert_eq!(settings.internal, vec![internal]);
        let external: Vec<String> = settings.external.iter().map(ToString::to_string).collect();
        assert_eq!(external, ["192.168.0.4/31", "fd00:1::/64"]);
        assert_eq!(settings.seed, Some(3));
    }

    #[test]
    fn group_service_quantile_outside_0_1_is_refused() {
        let err = parse_settings("[detect.exfiltration]\ngroup_service_quantile = 1.5\n").unwrap_err();
        assert!(err.to_string().contains("group_service_quantile must be in [0, 1], got 1.5"), "{err}");
        let settings = parse_settings("[detect.exfiltration]\ngroup_service_quantile = 0.5\n").unwrap();
        assert_eq!(settings.detect.exfiltration.group_service_quantile, 0.5);
    }

    #[test]
    fn bad_features_table_is_refused() {
        let err = parse_settings("[features]\nexternal = [\"192.168.0.4\"]\n").unwrap_err();
        assert!(err.to_string().contains("[features]: external"), "{err}");
        assert!(parse_settings("[features]\nexternals = []\n").is_err());
    }
}
