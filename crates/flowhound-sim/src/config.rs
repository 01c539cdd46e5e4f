//! Simulation parameters and their validation.

use serde::{Deserialize, Serialize};

use crate::SimError;

/// The record format of the written objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The default AWS format (14 fields, no metadata): `.log.gz`.
    V2,
    /// A custom format with the v3–v5 metadata in a non-catalogue field order: `.log.gz`.
    V5,
    /// The v5 field set as AWS Parquet (`.log.parquet`).
    Parquet,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::V2 => "v2",
            Format::V5 => "v5",
            Format::Parquet => "parquet",
        }
    }
}

/// Everything that determines a scenario: the same config writes the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    pub seed: u64,
    pub hosts: usize,
    pub train_days: u32,
    pub test_days: u32,
    /// Aggregation interval in seconds: 60 (Nitro) or 600 (the AWS default).
    pub aggregation: u32,
    pub format: Format,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig { seed: 1, hosts: 60, train_days: 7, test_days: 1, aggregation: 60, format: Format::V5 }
    }
}

/// Fewest hosts that still hold one of every role (two of those that come in pairs).
pub const MIN_HOSTS: usize = 12;
pub const MAX_HOSTS: usize = 2000;
pub const MAX_DAYS: u32 = 90;

impl SimConfig {
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |message: String| Err(SimError::Config(message));
        if !(MIN_HOSTS..=MAX_HOSTS).contains(&self.hosts) {
            return bad(format!("--hosts must be between {MIN_HOSTS} and {MAX_HOSTS}, got {}", self.hosts));
        }
        if self.train_days == 0 || self.train_days > MAX_DAYS {
            return bad(format!("--train-days must be between 1 and {MAX_DAYS}, got {}", self.train_days));
        }
        if self.test_days == 0 || self.test_days > MAX_DAYS {
            return bad(format!("--test-days must be between 1 and {MAX_DAYS}, got {}", self.test_days));
        }
        if self.aggregation != 60 && self.aggregation != 600 {
            return bad(format!("--aggregation must be 60 or 600 seconds, got {}", self.aggregation));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rejects_out_of_range_values() {
        assert!(SimConfig::default().validate().is_ok());
        let bad = [
            SimConfig { hosts: 3, ..SimConfig::default() },
            SimConfig { hosts: 5000, ..SimConfig::default() },
            SimConfig { train_days: 0, ..SimConfig::default() },
            SimConfig { test_days: 0, ..SimConfig::default() },
            SimConfig { aggregation: 300, ..SimConfig::default() },
        ];
        for cfg in bad {
            let err = cfg.validate().unwrap_err();
            assert!(matches!(err, SimError::Config(_)), "{err}");
        }
    }
}
