//! What the feature computation is told: the window, the pair horizon, which addresses
//! are internal, and the limits that bound memory.

use std::net::IpAddr;
use std::str::FromStr;

use flowhound_flowlog::Addr;

/// Errors in a feature configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid CIDR {0:?} (expected e.g. 10.20.0.0/16 or 2600:1f18:1234::/56)")]
    BadCidr(String),
    #[error(
        "the feature window must be between 1 s and 7 days and divide 1 day or be a whole number of days, got {0} s"
    )]
    BadWindow(u64),
    #[error("the pair horizon must be a whole number of feature windows, got {horizon} s for a {window} s window")]
    BadHorizon { horizon: u64, window: u64 },
}

/// An address block, held in the same 128-bit space as [`Addr`] (IPv4 is IPv4-mapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    base: u128,
    /// Prefix length in the 128-bit space (an IPv4 /16 is stored as /112).
    len: u8,
    /// `prefix_mask(len)`, kept: every record's addresses are tested against every block.
    mask: u128,
}

impl Cidr {
    /// A block from an address and a prefix length in that address family's terms.
    pub fn new(ip: IpAddr, prefix: u8) -> Option<Cidr> {
        let (addr, len) = match ip {
            IpAddr::V4(_) if prefix <= 32 => (Addr::from(ip).0, prefix + 96),
            IpAddr::V6(_) if prefix <= 128 => (Addr::from(ip).0, prefix),
            _ => return None,
        };
        let mask = prefix_mask(len);
        Some(Cidr { base: addr & mask, len, mask })
    }

    /// True when `addr` lies in the block.
    pub fn contains(&self, addr: Addr) -> bool {
        addr.0 & self.mask == self.base
    }
}

/// The prefix length of the most specific block of `blocks` containing `addr`.
fn longest_match(blocks: &[Cidr], addr: Addr) -> Option<u8> {
    let mut best: Option<u8> = None;
    for cidr in blocks {
        if cidr.contains(addr) && best.is_none_or(|b| cidr.len > b) {
            best = Some(cidr.len);
        }
    }
    best
}

fn prefix_mask(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len.min(128))) }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match Addr(self.base).to_ip() {
            IpAddr::V4(ip) => write!(f, "{ip}/{}", self.len.saturating_sub(96)),
            IpAddr::V6(ip) => write!(f, "{ip}/{}", self.len),
        }
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Cidr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Cidr, ConfigError> {
        let bad = || ConfigError::BadCidr(s.to_string());
        let (ip, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Cidr::new(ip, prefix).ok_or_else(bad)
    }
}

/// The address blocks that are always internal: RFC 1918, RFC 6598 shared space
/// (100.64.0.0/10, used by carrier-grade NAT and some VPC setups) and IPv6 ULA fc00::/7.
pub fn builtin_internal() -> Vec<Cidr> {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The address blocks a computation was told about beyond the built-in internal ranges:
/// `internal` (the VPC CIDRs, a public server's own address) and `external` (blocks outside
/// the estate even inside a private range). Together with the window they decide every
/// feature, so a model stores the blocks it was trained with and the scorer reuses them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddressBlocks {
    pub internal: Vec<Cidr>,
    pub external: Vec<Cidr>,
}

impl AddressBlocks {
    /// Sorted and without duplicates: two lists that classify every address alike compare
    /// equal whatever order they were given in.
    pub fn normalized(mut self) -> AddressBlocks {
        for list in [&mut self.internal, &mut self.external] {
            list.sort_unstable();
            list.dedup();
        }
        self
    }

    /// True when no block was declared.
    pub fn is_empty(&self) -> bool {
        self.internal.is_empty() && self.external.is_empty()
    }
}

impl std::fmt::Display for AddressBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let join = |list: &[Cidr]| {
            if list.is_empty() {
                "none".to_string()
            } else {
                list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            }
        };
        write!(f, "internal [{}], external [{}]", join(&self.internal), join(&self.external))
    }
}

/// Upper bounds on what one computation may hold. Past a bound, new items are not
/// stored and are counted in the `overflow` column / [`ExtractStats`](crate::ExtractStats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Distinct peers remembered per host and window (distinct counts are exact below it).
    pub max_peers_per_host_window: usize,
    /// Distinct ports remembered per host, window and port set.
    pub max_ports_per_host_window: usize,
    /// Host-window accumulators in total.
    pub max_host_windows: usize,
    /// Distinct (src, dst, dst port, protocol) internal edges in total.
    pub max_edges: usize,
    /// Pair timing series in total.
    pub max_pairs: usize,
    /// Connection events kept per pair series (the earliest are kept).
    pub max_events_per_pair: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_peers_per_host_window: 65_536,
            max_ports_per_host_window: 65_536,
            max_host_windows: 4_000_000,
            max_edges: 4_000_000,
            max_pairs: 2_000_000,
            // One event every 10 s for 24 h: faster "beacons" are strobes, flagged by the count.
            max_events_per_pair: 8_640,
        }
    }
}

/// Default feature window: 15 minutes (see docs/features.md for why).
pub const DEFAULT_WINDOW_SECS: u64 = 900;
/// Default pair timing horizon: 24 hours.
pub const DEFAULT_HORIZON_SECS: u64 = 86_400;

/// Everything the feature computation needs to know.
#[derive(Debug, Clone)]
pub struct FeatureConfig {
    window_secs: u64,
    horizon_secs: u64,
    internal: Vec<Cidr>,
    /// Blocks declared outside the estate even when an internal block covers them.
    external: Vec<Cidr>,
    /// The blocks given beyond the built-in ranges, as given (normalized).
    declared: AddressBlocks,
    /// Whether the internal-edge table and the pair timing series are kept (both by
    /// default); see [`FeatureConfig::with_tables`].
    edges: bool,
    pair_series: bool,
    pub limits: Limits,
}

impl Default for FeatureConfig {
    fn default() -> FeatureConfig {
        FeatureConfig {
            window_secs: DEFAULT_WINDOW_SECS,
            horizon_secs: DEFAULT_HORIZON_SECS,
            internal: builtin_internal(),
            external: Vec::new(),
            declared: AddressBlocks::default(),
            edges: true,
            pair_series: true,
            limits: Limits::default(),
        }
    }
}

impl FeatureConfig {
    /// A configuration with the given window and horizon (seconds) and extra internal
    /// blocks (the VPC CIDRs, e.g. the VPC's IPv6 block, which is global unicast).
    pub fn new(window_secs: u64, horizon_secs: u64, vpc_cidrs: &[Cidr]) -> Result<FeatureConfig, ConfigError> {
        // Windows must tile days so that every run cuts the same windows.
        let tiles_day =
            window_secs > 0 && (86_400u64.is_multiple_of(window_secs) || window_secs.is_multiple_of(86_400));
        if !tiles_day || window_secs > 7 * 86_400 {
            return Err(ConfigError::BadWindow(window_secs));
        }
        if horizon_secs == 0 || !horizon_secs.is_multiple_of(window_secs) {
            return Err(ConfigError::BadHorizon { horizon: horizon_secs, window: window_secs });
        }
        let mut internal = builtin_internal();
        internal.extend_from_slice(vpc_cidrs);
        let declared = AddressBlocks { internal: vpc_cidrs.to_vec(), external: Vec::new() }.normalized();
        Ok(FeatureConfig {
            window_secs,
            horizon_secs,
            internal,
            external: Vec::new(),
            declared,
            edges: true,
            pair_series: true,
            limits: Limits::default(),
        })
    }

    /// Declares address blocks external even where an internal block (a built-in private
    /// range or a VPC CIDR) covers them: a lab whose C2 server sits in 192.168.0.0/24, a
    /// peered partner VPC, an on-premises range reached over VPN. Between the internal and
    /// the external lists the most specific block containing an address decides; an address
    /// in blocks of equal length on both lists is external (the explicit declaration wins).
    pub fn with_external(mut self, blocks: &[Cidr]) -> FeatureConfig {
        self.external.extend_from_slice(blocks);
        self.declared.external.extend_from_slice(blocks);
        self.declared = std::mem::take(&mut self.declared).normalized();
        self
    }

    /// Chooses which optional tables are computed beside the host-window rows: the internal
    /// edges and the pair timing series. The rows never depend on either, so leaving out a
    /// table nobody reads (`extract` without `--edges-out` or `--pairs-out`) changes no row;
    /// it spares a table lookup per record and the table's memory, which on a busy estate is
    /// most of the state. A table left out comes back empty from every drain and `finish`.
    pub fn with_tables(mut self, edges: bool, pair_series: bool) -> FeatureConfig {
        self.edges = edges;
        self.pair_series = pair_series;
        self
    }

    /// The internal-edge table is kept.
    pub fn keeps_edges(&self) -> bool {
        self.edges
    }

    /// The pair timing series are kept.
    pub fn keeps_pair_series(&self) -> bool {
        self.pair_series
    }

    /// The blocks declared beyond the built-in internal ranges (sorted, no duplicates).
    pub fn declared_blocks(&self) -> &AddressBlocks {
        &self.declared
    }

    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }

    pub fn horizon_secs(&self) -> u64 {
        self.horizon_secs
    }

    /// True for addresses inside the monitored estate: the most specific block containing
    /// the address is internal (see [`FeatureConfig::with_external`]).
    #[inline]
    pub fn is_internal(&self, addr: Addr) -> bool {
        if self.external.is_empty() {
            for cidr in &self.internal {
                if cidr.contains(addr) {
                    return true;
                }
            }
            return false;
        }
        let Some(internal_len) = longest_match(&self.internal, addr) else { return false };
        match longest_match(&self.external, addr) {
            Some(external_len) => internal_len > external_len,
            None => true,
        }
    }

    /// A stable 64-bit digest of everything that changes what the computation produces
    /// (window, horizon, internal and external blocks, tables kept, limits). Checkpoints store it so that a state is
    /// never resumed under a different configuration. FNV-1a: stable across builds and
    /// platforms, unlike the std hasher.
    pub fn fingerprint(&self) -> u64 {
        let mut words: Vec<u128> = vec![u128::from(self.window_secs), u128::from(self.horizon_secs)];
        for cidr in &self.internal {
            words.push(cidr.base);
            words.push(u128::from(cidr.len));
        }
        // A separator keeps an internal block from hashing like the same external block.
        words.push(u128::MAX);
        for cidr in &self.external {
            words.push(cidr.base);
            words.push(u128::from(cidr.len));
        }
        words.push(u128::from(self.edges) | u128::from(self.pair_series) << 1);
        let l = &self.limits;
        for limit in [
            l.max_peers_per_host_window,
            l.max_ports_per_host_window,
            l.max_host_windows,
            l.max_edges,
            l.max_pairs,
            l.max_events_per_pair,
        ] {
            words.push(limit as u128);
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for word in words {
            for byte in word.to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }

    /// The start of the feature window holding time `t`.
    #[inline]
    pub fn window_of(&self, t: u64) -> u64 {
        t - t % self.window_secs
    }

    /// The start of the pair horizon holding time `t`.
    #[inline]
    pub fn horizon_of(&self, t: u64) -> u64 {
        t - t % self.horizon_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Addr {
        Addr::from(s.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn builtin_blocks_are_internal() {
        let cfg = FeatureConfig::default();
        for ip in ["10.1.2.3", "172.31.255.255", "192.168.0.1", "100.64.0.1", "100.127.255.254", "fd00::1", "fc12::"] {
            assert!(cfg.is_internal(addr(ip)), "{ip}");
        }
        for ip in ["172.32.0.1", "100.128.0.1", "8.8.8.8", "2001:db8::1", "fe80::1", "11.0.0.1"] {
            assert!(!cfg.is_internal(addr(ip)), "{ip}");
        }
    }

    #[test]
    fn vpc_cidrs_extend_internal() {
        let v6: Cidr = "2600:1f18:1234:5600::/56".parse().unwrap();
        let v4: Cidr = "52.10.0.0/16".parse().unwrap();
        let cfg = FeatureConfig::new(900, 86_400, &[v6, v4]).unwrap();
        assert!(cfg.is_internal(addr("2600:1f18:1234:56ff::9")));
        assert!(!cfg.is_internal(addr("2600:1f18:1234:5700::9")));
        assert!(cfg.is_internal(addr("52.10.200.1")));
        assert!(!cfg.is_internal(addr("52.11.0.1")));
    }

    #[test]
    fn external_blocks_carve_private_ranges_and_the_most_specific_block_wins() {
        let c2: Cidr = "192.168.0.0/29".parse().unwrap();
        let cfg = FeatureConfig::new(900, 86_400, &[]).unwrap().with_external(&[c2]);
        // Inside the carved block: external, although 192.168.0.0/16 is built in.
        assert!(!cfg.is_internal(addr("192.168.0.4")));
        assert!(!cfg.is_internal(addr("192.168.0.7")));
        // The rest of the private range stays internal; public addresses stay external.
        assert!(cfg.is_internal(addr("192.168.0.8")));
        assert!(cfg.is_internal(addr("10.0.1.5")));
        assert!(!cfg.is_internal(addr("8.8.8.8")));

        // A more specific internal block inside an external one is internal again
        // (a lab's own hosts inside a range declared outside).
        let host: Cidr = "192.168.0.5/32".parse().unwrap();
        let cfg = FeatureConfig::new(900, 86_400, &[host]).unwrap().with_external(&[c2]);
        assert!(cfg.is_internal(addr("192.168.0.5")));
        assert!(!cfg.is_internal(addr("192.168.0.4")));

        // Equal prefixes on both lists: the explicit external declaration wins.
        let net: Cidr = "52.10.0.0/16".parse().unwrap();
        let cfg = FeatureConfig::new(900, 86_400, &[net]).unwrap().with_external(&[net]);
        assert!(!cfg.is_internal(addr("52.10.1.1")));

        // An external block wider than the internal one does not override it.
        let wide: Cidr = "10.0.0.0/7".parse().unwrap();
        let cfg = FeatureConfig::new(900, 86_400, &[]).unwrap().with_external(&[wide]);
        assert!(cfg.is_internal(addr("10.1.2.3")));
        assert!(!cfg.is_internal(addr("11.1.2.3")));

        // IPv6: a /64 carved out of the ULA range.
        let v6: Cidr = "fd00:1::/64".parse().unwrap();
        let cfg = FeatureConfig::default().with_external(&[v6]);
        assert!(!cfg.is_internal(addr("fd00:1::9")));
        assert!(cfg.is_internal(addr("fd00:2::9")));
    }

    #[test]
    fn blocks_print_as_parsed() {
        for text in ["192.168.0.0/29", "10.0.0.0/8", "0.0.0.0/0", "fd00:1::/64", "2600:1f18:1234:5600::/56"] {
            assert_eq!(text.parse::<Cidr>().unwrap().to_string(), text);
        }
        // Host bits are cleared.
        assert_eq!("192.168.7.9/16".parse::<Cidr>().unwrap().to_string(), "192.168.0.0/16");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
        assert_eq!(FeatureConfig::new(7, 86_400, &[]).unwrap_err(), ConfigError::BadWindow(7));
        assert!(FeatureConfig::new(900, 1000, &[]).is_err());
        assert!(FeatureConfig::new(0, 86_400, &[]).is_err());
    }

    #[test]
    fn fingerprint_tells_configurations_apart() {
        let base = FeatureConfig::default();
        assert_eq!(base.fingerprint(), FeatureConfig::default().fingerprint());
        let window = FeatureConfig::new(300, 86_400, &[]).unwrap();
        let cidr = FeatureConfig::new(900, 86_400, &["52.10.0.0/16".parse().unwrap()]).unwrap();
        let mut limits = FeatureConfig::default();
        limits.limits.max_pairs += 1;
        let external = FeatureConfig::default().with_external(&["192.168.0.4/31".parse().unwrap()]);
        let no_edges = FeatureConfig::default().with_tables(false, true);
        let no_pairs = FeatureConfig::default().with_tables(true, false);
        assert_ne!(no_edges.fingerprint(), no_pairs.fingerprint());
        for other in [window, cidr, limits, external, no_edges, no_pairs] {
            assert_ne!(base.fingerprint(), other.fingerprint());
        }
    }

    #[test]
    fn declared_blocks_are_normalized_and_serialize_as_text() {
        let a: Cidr = "52.10.0.0/16".parse().unwrap();
        let b: Cidr = "10.9.0.0/16".parse().unwrap();
        let c2: Cidr = "192.168.0.4/31".parse().unwrap();
        let cfg = FeatureConfig::new(900, 86_400, &[a, b, a]).unwrap().with_external(&[c2]);
        let declared = cfg.declared_blocks();
        assert_eq!(declared.internal, vec![b, a]);
        assert_eq!(declared.external, vec![c2]);
        let other_order = FeatureConfig::new(900, 86_400, &[b, a]).unwrap().with_external(&[c2, c2]);
        assert_eq!(other_order.declared_blocks(), declared);
        assert!(FeatureConfig::default().declared_blocks().is_empty());
        assert_eq!(declared.to_string(), "internal [10.9.0.0/16, 52.10.0.0/16], external [192.168.0.4/31]");

        let json = serde_json::to_string(declared).unwrap();
        assert_eq!(json, r#"{"internal":["10.9.0.0/16","52.10.0.0/16"],"external":["192.168.0.4/31"]}"#);
        let back: AddressBlocks = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, declared);
        assert!(serde_json::from_str::<AddressBlocks>(r#"{"internal":["10.0.0.0"],"external":[]}"#).is_err());
    }

    #[test]
    fn windows_are_aligned() {
        let cfg = FeatureConfig::default();
        // 1_795_849_200 is a multiple of 900.
        assert_eq!(cfg.window_of(1_795_849_259), 1_795_849_200);
        assert_eq!(cfg.window_of(900), 900);
        assert_eq!(cfg.window_of(899), 0);
        assert_eq!(cfg.horizon_of(86_399), 0);
    }
}

/// What a record must carry to count for anything, each need with the flow-log fields
/// that meet it: a record without addresses belongs to no host, one without `start` to
/// no window, one without `bytes` adds nothing to any volume.
const NEEDED_FIELDS: &[(&str, &[&str])] = &[
    ("source address", &["srcaddr", "pkt-srcaddr"]),
    ("destination address", &["dstaddr", "pkt-dstaddr"]),
    ("start time", &["start"]),
    ("byte count", &["bytes"]),
];

/// The needs (addresses, start time, byte count) that no name in `fields` (an object's header) meets.
pub fn missing_needed_fields(fields: &[&str]) -> Vec<&'static str> {
    NEEDED_FIELDS.iter().filter(|(_, names)| !fields.iter().any(|f| names.contains(f))).map(|(need, _)| *need).collect()
}

#[cfg(test)]
mod needed_fields_tests {
    use super::missing_needed_fields;

    #[test]
    fn needs_are_met_by_either_address_field() {
        let v2 = ["version", "srcaddr", "dstaddr", "start", "end", "bytes"];
        assert!(missing_needed_fields(&v2).is_empty());
        assert!(missing_needed_fields(&["pkt-srcaddr", "pkt-dstaddr", "start", "bytes"]).is_empty());
        assert_eq!(missing_needed_fields(&["version", "srcaddr", "bytes"]), ["destination address", "start time"]);
    }
}
