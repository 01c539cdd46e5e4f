//! The edge model of the lateral-movement detector: port-level counts derived from the
//! baseline's histories, and the surprise, in bits, of a host opening a port on a destination
//! ([`Context::edge_surprise`]), which the detector scores new internal edges by.

use std::collections::{HashMap, HashSet};

use flowhound_flowlog::Addr;

use super::{Context, parse_addr};
use crate::config::LateralConfig;
use crate::history::Histories;

/// Ports of interactive remote access and remote execution — SSH, MS-RPC, SMB, RDP,
/// WinRM — as opposed to the database ports among
/// [`ADMIN_PORTS`](flowhound_features::ADMIN_PORTS), which application hosts open all day.
const REMOTE_ACCESS_PORTS: [u16; 6] = [22, 135, 445, 3389, 5985, 5986];

impl Context<'_> {
    /// Edge-days on which `host` opened `port` (to any destination) in training.
    pub(super) fn edge_model_port_days(&self, host: Addr, port: u16) -> u32 {
        self.edge_model.host_port.get(&(host, port)).copied().unwrap_or(0)
    }

    /// True when `port` is the host's role: it opened it on at least
    /// `routine_destinations` destinations in training (a bastion's SSH, CI's deploys), or
    /// it is a probing host (scanner, poller) that opened it at all.
    pub(super) fn routine_port(&self, src: Addr, port: u16) -> bool {
        self.edge_model.routine(src, port, self.baseline.detect.lateral.routine_destinations)
    }

    /// How surprising it is that `src` opens `port` on `dst`, in bits, factored as
    /// "this host opens this port at all" × "towards this destination's group" plus
    /// destination-side novelty (see [`EdgeSurprise`]).
    pub(super) fn edge_surprise(&self, src: Addr, dst: Addr, port: u16) -> EdgeSurprise {
        let cfg = &self.baseline.detect.lateral;
        let m = &self.edge_model;
        let n_fleet_port = f64::from(m.fleet_port.get(&port).copied().unwrap_or(0));
        let p_fleet = (n_fleet_port + 1.0) / (f64::from(m.global_total) + PORT_VOCABULARY);
        // The group's habit is the average of its members' port mixes (each member weighs
        // one, so a single busy admin host does not make RDP "common for the group"),
        // leaving the host itself out.
        let sg = self.group(src);
        let own_share = m.host_share.get(&(src, port)).copied().unwrap_or(0.0);
        let is_member = m.members_with_edges.contains(&src);
        let members = m.group_members.get(&sg).copied().unwrap_or(0) - usize::from(is_member);
        let share_sum = m.group_share.get(&(sg, port)).copied().unwrap_or(0.0) - own_share;
        let members = members as f64;
        let p_group = (share_sum.max(0.0) + cfg.alpha_group * p_fleet) / (members + cfg.alpha_group);
        let (n_host_port, total_host) = match self.host(src) {
            Some(h) => (f64::from(m.host_port.get(&(src, port)).copied().unwrap_or(0)), f64::from(h.edge_total)),
            None => (0.0, 0.0),
        };
        // A host whose own edges look nothing like its group's (a web host clustered with
        // the Windows hosts by volume) should not inherit the group's habits: the prior
        // leans on the group only as far as the host resembles it.
        let cohesion = m.cohesion.get(&src).copied().unwrap_or(1.0);
        let prior = cohesion * p_group + (1.0 - cohesion) * p_fleet;
        let p_port = (n_host_port + cfg.alpha_host * prior) / (total_host + cfg.alpha_host);
        let port_bits = -p_port.max(1e-300).log2();

        // A port the host routinely opens on many destinations is its role (a bastion's
        // SSH, a scanner's probes): a new destination group is its job, not a surprise.
        let routine = self.routine_port(src, port);
        let dst_group = self.group(dst);
        let group_bits = if routine || dst_group >= self.n_groups {
            0.0
        } else {
            let n_fleet_group = f64::from(m.global_edges.get(&(dst_group, port)).copied().unwrap_or(0));
            let p_fleet_group = (n_fleet_group + 1.0) / (n_fleet_port + self.n_groups as f64 + 1.0);
            let n_host_group = match self.host(src) {
                Some(_) => f64::from(m.host_edge_counts.get(&(src, dst_group, port)).copied().unwrap_or(0)),
                None => 0.0,
            };
            let p = (n_host_group + cfg.alpha_host * p_fleet_group) / (n_host_port + cfg.alpha_host);
            -p.max(1e-300).log2()
        };
        // A destination that was there all through training and never accepted this port
        // from anyone but a scanner is not a server of it.
        // Nor, for a source whose role this port is not, a server of ordinary clients: a
        // host whose SSH only the bastion and CI ever used has administrators, not clients,
        // and an application server that turns up there is neither.
        let served_by = m.served.get(&(dst, port)).copied().unwrap_or(0);
        let clients = m.served_clients.get(&(dst, port)).copied().unwrap_or(0);
        let unserved = self.hosts.contains_key(&dst) && (served_by == 0 || (!routine && clients == 0));
        // A host the model knows that never opened any remote-access protocol is not an
        // administrator's machine: its first SSH, SMB, RDP or WinRM session is a change of
        // role, however common the port is elsewhere in the fleet.
        let first_remote_access =
            REMOTE_ACCESS_PORTS.contains(&port) && self.hosts.contains_key(&src) && !m.remote_access.contains(&src);
        EdgeSurprise { port_bits, group_bits, cohesion, routine, served_by, unserved, first_remote_access }
    }
}

/// Pseudo-vocabulary of ports for the fleet-level estimate.
const PORT_VOCABULARY: f64 = 1024.0;

/// The parts of a new edge's surprise, for the score and the evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct EdgeSurprise {
    /// −log2 P(port | host), backed off host → peer group (weighted by cohesion) → fleet.
    pub port_bits: f64,
    /// −log2 P(destination group | port, host), backed off to the fleet's use of the port.
    pub group_bits: f64,
    /// How much the host's own port mix resembles its peer group's (histogram intersection).
    pub cohesion: f64,
    /// The host opened this port on at least `routine_destinations` destinations in training.
    pub routine: bool,
    /// Non-scanning sources that opened this port on the destination in training.
    pub served_by: u32,
    /// The destination was known in training and no one (scanners aside) opened this port on
    /// it, or — when the port is not the source's routine — only hosts whose routine it is.
    pub unserved: bool,
    /// The port is a remote-access port and the host, known in training, never opened one.
    pub first_remote_access: bool,
}

/// Port-level counts behind [`Context::edge_surprise`], derived from the baseline's histories.
#[derive(Debug, Default)]
pub(super) struct EdgeModel {
    /// Edge-days per (source, destination peer group, port): each host's back-off counts.
    host_edge_counts: HashMap<(Addr, usize, u16), u32>,
    /// Edge-days per (destination peer group, port) over the fleet, and their total.
    global_edges: HashMap<(usize, u16), u32>,
    global_total: u32,
    host_port: HashMap<(Addr, u16), u32>,
    host_port_destinations: HashMap<(Addr, u16), u32>,
    /// Share of the host's edge-days on each port.
    host_share: HashMap<(Addr, u16), f64>,
    /// Sum of the members' shares per (group, port), and members with any edge.
    group_share: HashMap<(usize, u16), f64>,
    group_members: HashMap<usize, usize>,
    members_with_edges: HashSet<Addr>,
    /// Hosts that open many pairs in one window (scanners, pollers): every port they
    /// opened in training is their routine.
    probing: HashSet<Addr>,
    fleet_port: HashMap<u16, u32>,
    served: HashMap<(Addr, u16), u32>,
    /// Sources that opened the port on the destination in training without it being their
    /// routine: its ordinary clients, as opposed to the bastion, CI or a scanner.
    served_clients: HashMap<(Addr, u16), u32>,
    cohesion: HashMap<Addr, f64>,
    /// Hosts that opened a remote-access port (SSH, SMB, RDP, WinRM, RPC) in training.
    remote_access: HashSet<Addr>,
}

impl EdgeModel {
    pub(super) fn new(histories: &Histories, group_of: &HashMap<Addr, usize>, cfg: &LateralConfig) -> EdgeModel {
        let mut m = EdgeModel::default();
        for h in &histories.hosts {
            let Some(src) = parse_addr(&h.ip) else { continue };
            for &(g, port, n) in &h.edge_counts {
                m.host_edge_counts.insert((src, g, port), n);
            }
        }
        for &(_, dg, port, n) in &histories.group_edges {
            *m.global_edges.entry((dg, port)).or_default() += n;
            m.global_total += n;
        }
        for h in &histories.hosts {
            let Some(src) = parse_addr(&h.ip) else { continue };
            // Scanners and pollers (many pairs in one window) open everything; what they
            // touch says nothing about which ports a destination serves.
            let scanning = h.max_pairs as usize >= cfg.scan_min_pairs;
            if scanning {
                m.probing.insert(src);
            }
            for e in &h.edges {
                *m.host_port.entry((src, e.port)).or_default() += e.days;
                *m.host_port_destinations.entry((src, e.port)).or_default() += 1;
                if REMOTE_ACCESS_PORTS.contains(&e.port) {
                    m.remote_access.insert(src);
                }
            }
        }
        for h in &histories.hosts {
            let Some(src) = parse_addr(&h.ip) else { continue };
            if m.probing.contains(&src) {
                continue;
            }
            for e in &h.edges {
                let Some(dst) = parse_addr(&e.dst) else { continue };
                *m.served.entry((dst, e.port)).or_default() += 1;
                if !m.routine(src, e.port, cfg.routine_destinations) {
                    *m.served_clients.entry((dst, e.port)).or_default() += 1;
                }
            }
        }
        let mut host_ports: HashMap<Addr, Vec<(u16, u32)>> = HashMap::new();
        for (&(src, port), &n) in &m.host_port {
            host_ports.entry(src).or_default().push((port, n));
            *m.fleet_port.entry(port).or_default() += n;
        }
        for (src, ports) in &host_ports {
            let total: u32 = ports.iter().map(|(_, n)| n).sum();
            if total == 0 {
                continue;
            }
            m.members_with_edges.insert(*src);
            let group = group_of.get(src).copied();
            if let Some(g) = group {
                *m.group_members.entry(g).or_default() += 1;
            }
            for &(port, n) in ports {
                let share = f64::from(n) / f64::from(total);
                m.host_share.insert((*src, port), share);
                if let Some(g) = group {
                    *m.group_share.entry((g, port)).or_default() += share;
                }
            }
        }
        // Cohesion: histogram intersection of the host's port mix with the mean mix of the
        // rest of its group (leave-one-out, so a host is not compared with itself).
        for (src, ports) in &host_ports {
            let Some(&g) = group_of.get(src) else { continue };
            let others = m.group_members.get(&g).copied().unwrap_or(0).saturating_sub(1);
            if others == 0 || !m.members_with_edges.contains(src) {
                continue;
            }
            let mut overlap = 0.0;
            for &(port, _) in ports {
                let own = m.host_share.get(&(*src, port)).copied().unwrap_or(0.0);
                let rest = (m.group_share.get(&(g, port)).copied().unwrap_or(0.0) - own).max(0.0) / others as f64;
                overlap += own.min(rest);
            }
            m.cohesion.insert(*src, overlap.clamp(0.0, 1.0));
        }
        m
    }

    /// True when `port` is `src`'s role: it opened it on at least `routine_destinations`
    /// destinations in training, or `src` is a probing host that opened it at all.
    fn routine(&self, src: Addr, port: u16, routine_destinations: u32) -> bool {
        let spread = self.host_port_destinations.get(&(src, port)).copied().unwrap_or(0);
        spread >= routine_destinations || (spread > 0 && self.probing.contains(&src))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EdgeUse, HostHistory};

    fn history(ip: &str, edges: &[(&str, u16)]) -> HostHistory {
        HostHistory {
            ip: ip.to_string(),
            group: 0,
            first_seen: 0,
            last_seen: 86_400,
            windows: 96,
            dests: Vec::new(),
            edges: edges
                .iter()
                .map(|&(dst, port)| EdgeUse { dst: dst.to_string(), port, days: 1, first_seen: 0 })
                .collect(),
            edge_counts: Vec::new(),
            edge_total: edges.len() as u32,
            max_fanout: 1,
            max_pairs: 1,
            max_external: [0; 3],
            edge_hours: 0,
            volume: Default::default(),
        }
    }

    #[test]
    fn remote_access_users_and_ordinary_clients_are_told_apart() {
        let hosts = [
            // A bastion: SSH to three hosts is its routine.
            history("10.0.0.1", &[("10.0.0.3", 22), ("10.0.0.7", 22), ("10.0.0.8", 22)]),
            history("10.0.0.2", &[("10.0.0.3", 5432), ("10.0.0.4", 8080)]),
            history("10.0.0.5", &[("10.0.0.6", 445)]),
        ];
        let group_of: HashMap<Addr, usize> = hosts.iter().map(|h| (parse_addr(&h.ip).unwrap(), 0)).collect();
        let histories = Histories { hosts: hosts.to_vec(), ..Histories::default() };
        let m = EdgeModel::new(&histories, &group_of, &LateralConfig::default());
        let mut users: Vec<String> = m.remote_access.iter().map(ToString::to_string).collect();
        users.sort();
        // A database client is not a remote-access user: 5432 is an admin port, not a shell.
        assert_eq!(users, ["10.0.0.1", "10.0.0.5"]);
        let db = parse_addr("10.0.0.3").unwrap();
        // The bastion served 10.0.0.3's SSH, but only as an administrator: no ordinary client.
        assert_eq!(m.served.get(&(db, 22)), Some(&1));
        assert_eq!(m.served_clients.get(&(db, 22)), None);
        assert_eq!(m.served_clients.get(&(db, 5432)), Some(&1));
    }
}
