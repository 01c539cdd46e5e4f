//! Exfiltration: bytes a host sends to one external destination, summed over the trailing
//! 1 h, 6 h and 24 h (bursts and low-and-slow), compared with what that destination
//! received from the host in training — or, for a destination new to the host, with the
//! most the host (or its peer group) ever sent to any single destination.
//!
//! AWS-service destinations are keyed by their /16 (S3 rotates addresses) and judged
//! against their own history, including the hour of day when the history is
//! concentrated in a few hours: a nightly backup at its usual hour is normal, the same
//! volume at noon is not, and a new S3 prefix gets no credit from the usual one. A
//! known service destination is also judged against the host's peer group: one host's
//! week of heavy-tailed object uploads is too small a sample of its own tail, the tier's
//! is not.

use std::collections::{BTreeMap, HashMap};

use flowhound_flowlog::Addr;

use super::{Context, RawHit, round3};
use crate::calibration::KEY_EXFIL;
use crate::finding::{EXFILTRATION, Hit, human_bytes, human_secs};
use crate::history::{HostHistory, VOLUME_HORIZONS, bytes_by_window, dest_key, net_of, trailing_sums};
use crate::robust::quantile_in_place;

/// (address, port, protocol) of a destination.
type Endpoint = (Addr, u16, u8);

const HORIZON_NAMES: [&str; 3] = ["1h", "6h", "24h"];

/// `{"1h": .., "6h": .., "24h": ..}` evidence of per-horizon byte counts.
fn by_horizon(bytes: [u64; 3]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (name, b) in HORIZON_NAMES.iter().zip(bytes) {
        m.insert((*name).into(), b.into());
    }
    m.into()
}

fn near_hours(mask: u32, hour: usize) -> bool {
    let h = hour % 24;
    let bits = [(h + 23) % 24, h, (h + 1) % 24];
    bits.iter().any(|&b| mask & (1 << b) != 0)
}

/// Per (peer group, AWS-service key): the `quantile` of the members' largest volumes
/// there in training, per horizon, over the members that used the key.
fn group_service_max(hosts: &[HostHistory], quantile: f64) -> HashMap<(usize, String), [u64; 3]> {
    let mut maxima: HashMap<(usize, String), [Vec<f64>; 3]> = HashMap::new();
    for h in hosts {
        for d in &h.dests {
            if !d.key.starts_with("aws:") {
                continue;
            }
            let m = maxima.entry((h.group, d.key.clone())).or_default();
            for (values, v) in m.iter_mut().zip(d.max) {
                values.push(v as f64);
            }
        }
    }
    let mut out = HashMap::with_capacity(maxima.len());
    for (key, mut m) in maxima {
        let mut q = [0u64; 3];
        for (slot, values) in q.iter_mut().zip(m.iter_mut()) {
            *slot = quantile_in_place(values, quantile).unwrap_or(0.0) as u64;
        }
        out.insert(key, q);
    }
    out
}

pub(super) fn detect(ctx: &Context<'_>) -> Vec<RawHit> {
    let cfg = &ctx.baseline.detect.exfiltration;
    let ws = ctx.window_secs;
    let group_service = group_service_max(&ctx.baseline.histories.hosts, cfg.group_service_quantile);
    let by_window = bytes_by_window(&ctx.features.pairs, ws);
    // The address and port that carried most of each (host, key)'s bytes.
    let mut top: BTreeMap<(Addr, String), BTreeMap<Endpoint, u64>> = BTreeMap::new();
    for p in &ctx.features.pairs {
        let key = dest_key(p.peer, p.aws_service);
        *top.entry((p.host, key)).or_default().entry((p.peer, p.port, p.protocol)).or_default() +=
            p.bytes.iter().sum::<u64>();
    }
    let mut out = Vec::new();
    for ((host, key), series) in &by_window {
        let total: u64 = series.values().sum();
        if total < cfg.min_bytes[0] || ctx.is_gateway(*host) {
            continue;
        }
        let aws = key.starts_with("aws:");
        let (peer, port, protocol) = top
            .get(&(*host, key.clone()))
            .and_then(|m| m.iter().max_by_key(|(k, b)| (**b, std::cmp::Reverse(**k))).map(|(k, _)| *k))
            .unwrap_or((*host, 0, 6));
        let hist = ctx.host(*host);
        let dest = ctx.dest(*host, key);
        let fleet_known = ctx.prevalence(key).is_some() || (!aws && ctx.prevalence(&net_of(peer)).is_some());
        let novelty = match (dest.is_some(), fleet_known) {
            (true, _) => "known",
            (false, true) => "new_for_host",
            (false, false) => "new_for_fleet",
        };
        let bonus = match novelty {
            "known" => 0.0,
            "new_for_host" => 0.5,
            _ => 1.0,
        };
        let group = ctx.group(*host);
        let group_max = ctx.baseline.group_max_external.get(group).copied().unwrap_or([0; 3]);
        // Only a destination the host itself used gets its group's credit: a new S3
        // prefix stays judged as new.
        let group_usual = match dest {
            Some(_) if aws => group_service.get(&(group, key.clone())).copied().unwrap_or([0; 3]),
            _ => [0; 3],
        };
        let sums = trailing_sums(series, ws);
        for (t, observed) in sums {
            if series.get(&t).copied().unwrap_or(0) == 0 {
                continue;
            }
            let hour = ((t % 86_400) / 3600) as usize;
            let mut reference = [0f64; 3];
            let mut off_hours = false;
            for h in 0..3 {
                reference[h] = match dest {
                    Some(d) => d.max[h].max(group_usual[h]) as f64,
                    None => match hist {
                        Some(hh) => hh.max_external[h].max(group_max[h]) as f64,
                        None => group_max[h] as f64,
                    },
                };
            }
            if let Some(d) = dest
                && d.hours.count_ones() <= cfg.hour_bound_max_hours
                && !near_hours(d.hours, hour)
            {
                off_hours = true;
                for r in reference.iter_mut().take(2) {
                    *r /= cfg.off_hours_divisor.max(1.0);
                }
            }
            let mut excess = f64::MIN;
            let mut which = 0;
            for h in 0..3 {
                let r = reference[h].max(cfg.min_bytes[h] as f64);
                let e = (observed[h] as f64 / r).log2();
                if e > excess {
                    excess = e;
                    which = h;
                }
            }
            if excess <= 0.0 {
                continue;
            }
            // Host-level context: the window's external volume against its seasonal cell.
            let row = ctx.row(*host, t);
            let (host_bytes, expectation) = match (row, hist) {
                (Some(r), Some(hh)) => {
                    let bytes = r.bytes_out_external.saturating_sub(r.bytes_out_aws) as f64;
                    let prior = ctx.baseline.group_volume.get(group);
                    (bytes, Some(hh.volume.expect(hour, bytes, prior, ctx.baseline.params.shrinkage())))
                }
                (Some(r), None) => (r.bytes_out_external.saturating_sub(r.bytes_out_aws) as f64, None),
                _ => (0.0, None),
            };
            let z_bonus = match expectation {
                Some(e) if e.z > 3.0 => 0.5,
                _ => 0.0,
            };
            let raw = excess + bonus + z_bonus;
            let window_end = t + ws;
            let start = series
                .range(window_end.saturating_sub(VOLUME_HORIZONS[which])..)
                .find(|(_, b)| **b > 0)
                .map_or(t, |(s, _)| *s);
            let mut evidence = serde_json::Map::new();
            evidence.insert("kind".into(), if aws { "aws_service" } else { "external" }.into());
            evidence.insert("destination_key".into(), key.clone().into());
            evidence.insert("destination_novelty".into(), novelty.into());
            evidence.insert("aws_service".into(), aws.into());
            let mut expected = [0u64; 3];
            for (e, (r, floor)) in expected.iter_mut().zip(reference.iter().zip(cfg.min_bytes)) {
                *e = r.max(floor as f64) as u64;
            }
            evidence.insert("observed_bytes".into(), by_horizon(observed));
            evidence.insert("expected_max_bytes".into(), by_horizon(expected));
            evidence.insert("horizon".into(), HORIZON_NAMES[which].into());
            evidence.insert("excess_ratio".into(), round3(2f64.powf(excess)).into());
            evidence.insert("off_usual_hours".into(), off_hours.into());
            if let Some(d) = dest {
                evidence.insert("host_max_bytes".into(), by_horizon(d.max));
            }
            if aws && dest.is_some() {
                evidence.insert("peer_group_max_bytes".into(), by_horizon(group_usual));
            }
            if let Some(r) = row {
                evidence.insert("host_bytes_out_external_window".into(), (host_bytes as u64).into());
                evidence.insert("host_out_in_ratio".into(), round3(r.out_in_ratio).into());
            }
            if let Some(e) = expectation {
                evidence.insert("host_expected_bytes_window".into(), (e.expected.max(0.0) as u64).into());
                evidence.insert("host_robust_z".into(), round3(e.z).into());
                evidence.insert("host_tail_probability".into(), e.tail_p.into());
            }
            let usual = match (dest, novelty) {
                (Some(_), _) if off_hours => format!(
                    "outside the hours it usually sends there (usually at most {} in {})",
                    human_bytes(reference[which] * cfg.off_hours_divisor),
                    HORIZON_NAMES[which]
                ),
                (Some(d), _) if group_usual[which] > d.max[which] => format!(
                    "it usually sends at most {} in {} there, hosts of its peer group up to {}",
                    human_bytes(d.max[which] as f64),
                    HORIZON_NAMES[which],
                    human_bytes(reference[which])
                ),
                (Some(_), _) => {
                    format!("usually at most {} in {} there", human_bytes(reference[which]), HORIZON_NAMES[which])
                }
                (None, "new_for_host") => format!(
                    "a destination new for this host (other hosts use it); it never sent more than {} in {} to one destination",
                    human_bytes(reference[which]),
                    HORIZON_NAMES[which]
                ),
                _ => format!(
                    "a destination no host used in the history; it never sent more than {} in {} to one destination",
                    human_bytes(reference[which]),
                    HORIZON_NAMES[which]
                ),
            };
            let what = if aws {
                format!("{} (AWS service {})", peer, key.trim_start_matches("aws:"))
            } else {
                format!("{peer}:{port}")
            };
            let summary = format!(
                "{} sent {} to {} in {}; {}",
                host,
                human_bytes(observed[which] as f64),
                what,
                human_secs((window_end - start) as f64),
                usual
            );
            let (interface_id, instance_id) = ctx.ids(*host);
            out.push(RawHit {
                hit: Hit {
                    detector: EXFILTRATION,
                    host: host.to_string(),
                    peer: Some(peer.to_string()),
                    port: Some(port),
                    protocol: Some(protocol),
                    kind: "volume",
                    start,
                    end: window_end,
                    score: 0.0,
                    summary,
                    evidence,
                    interface_id,
                    instance_id,
                },
                raw,
                calibration_key: KEY_EXFIL,
                window: t,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_wrap_around_midnight() {
        assert!(near_hours(1 << 23, 0));
        assert!(near_hours(1 << 0, 23));
        assert!(!near_hours(1 << 1, 5));
    }

    fn host(ip: &str, group: usize, dests: &[(&str, u64)]) -> HostHistory {
        let mut h = HostHistory::new(ip.to_string(), group, 0, 86_400);
        for &(key, max_1h) in dests {
            h.dests.push(crate::history::DestUse {
                key: key.to_string(),
                days: 7,
                first_seen: 0,
                max: [max_1h, 2 * max_1h, 3 * max_1h],
                hours: 0x00ff_ffff,
            });
        }
        h
    }

    #[test]
    fn group_service_reference_is_a_quantile_of_the_members_that_used_the_key() {
        let s3 = "aws:52.216.0.0/16";
        let mut hosts = Vec::new();
        // Eleven app hosts: their largest 1 h uploads to S3 are 10, 20, ..., 110 MB.
        for i in 0..11u64 {
            hosts.push(host(&format!("10.0.0.{i}"), 0, &[(s3, (i + 1) * 10_000_000), ("198.51.100.7", 900_000_000)]));
        }
        // A host of the group that never used S3 does not pull the quantile down.
        hosts.push(host("10.0.0.50", 0, &[("198.51.100.7", 1)]));
        // Another group's multi-GB backups do not lift the app group's reference.
        hosts.push(host("10.0.1.1", 1, &[(s3, 5_000_000_000)]));
        let q = group_service_max(&hosts, 0.9);
        assert_eq!(q.get(&(0, s3.to_string())), Some(&[100_000_000, 200_000_000, 300_000_000]));
        assert_eq!(q.get(&(1, s3.to_string())), Some(&[5_000_000_000, 10_000_000_000, 15_000_000_000]));
        // Destinations that are not AWS services get no group reference.
        assert_eq!(q.get(&(0, "198.51.100.7".to_string())), None);
        assert_eq!(q.len(), 2);
    }
}
