//! Behavioural features per host and time window, computed from flow records.
