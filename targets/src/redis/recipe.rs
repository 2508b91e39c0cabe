//! How redis-server (and, for the Sentinel target, redis-sentinel beside it)
//! is started on a node.
//!
//! Each command is a small `sh` script that prepares the data directory and
//! then `exec`s redis-server, so the process the kill and pause faults find
//! by name is redis-server itself.

use std::net::Ipv4Addr;

use super::deploy::{RedisLayout, RedisPersistence, DATA_DIR};
use crate::target::{NodeAddr, ServiceCommand};

pub(crate) const SERVER_PROCESS: &str = "redis-server";

/// The Sentinel's primary: where it is at first and what to call it.
pub(crate) struct Monitor<'a> {
    pub name: &'a str,
    pub primary: Ipv4Addr,
    /// Sentinels that must agree a primary is down.
    pub quorum: usize,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
}

pub(crate) fn data_dir(layout: &RedisLayout, node: &NodeAddr) -> String {
    match &layout.data_root {
        None => DATA_DIR.to_string(),
        Some(root) => root.join(&node.name).display().to_string(),
    }
}

fn bind_address(layout: &RedisLayout, node: &NodeAddr) -> String {
    if layout.bind_node_ip {
        node.ip.to_string()
    } else {
        "0.0.0.0".to_string()
    }
}

/// redis-server's arguments (after the program name).
pub(crate) fn server_args(
    layout: &RedisLayout,
    node: &NodeAddr,
    persistence: RedisPersistence,
    replica_of: Option<Ipv4Addr>,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port".to_string(),
        layout.port.to_string(),
        "--bind".to_string(),
        bind_address(layout, node),
        "--protected-mode".to_string(),
        "no".to_string(),
        "--dir".to_string(),
        data_dir(layout, node),
        "--daemonize".to_string(),
        "no".to_string(),
        "--logfile".to_string(),
        String::new(),
        // Replicas report this address to their primary and the Sentinels
        // rather than whatever source address their connection had.
        "--replica-announce-ip".to_string(),
        node.ip.to_string(),
        // Only AOF persists, when asked for: no RDB snapshots in any mode.
        "--save".to_string(),
        String::new(),
    ]
    .to_vec();
    match persistence {
        RedisPersistence::None => args.extend(["--appendonly".into(), "no".into()]),
        RedisPersistence::AofEverysec => args.extend([
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "everysec".into(),
        ]),
        RedisPersistence::AofAlways => args.extend([
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
        ]),
    }
    // A primary in Redis 7 waits 5 s for more replicas before a diskless
    // full sync; any node may become primary, and its replicas should sync
    // at once.
    args.extend(["--repl-diskless-sync-delay".to_string(), "0".to_string()]);
    if let Some(primary) = replica_of {
        args.extend([
            "--replicaof".to_string(),
            primary.to_string(),
            layout.port.to_string(),
        ]);
    }
    args
}

/// redis-server alone.
pub(crate) fn server_command(
    layout: &RedisLayout,
    node: &NodeAddr,
    persistence: RedisPersistence,
) -> ServiceCommand {
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        r#"mkdir -p "$0" && exec "$@""#.to_string(),
        data_dir(layout, node),
        SERVER_PROCESS.to_string(),
    ];
    argv.extend(server_args(layout, node, persistence, None));
    ServiceCommand {
        argv,
        env: Vec::new(),
        process_name: SERVER_PROCESS.to_string(),
    }
}

/// The Sentinel's configuration file. Sentinel rewrites it as it learns the
/// topology, so it is written only when absent.
pub(crate) fn sentinel_config(layout: &RedisLayout, node: &NodeAddr, monitor: &Monitor) -> String {
    let dir = data_dir(layout, node);
    let name = monitor.name;
    [
        format!("port {}", layout.sentinel_port),
        format!("bind {}", bind_address(layout, node)),
        "protected-mode no".to_string(),
        "daemonize no".to_string(),
        format!("pidfile {dir}/sentinel.pid"),
        "logfile \"\"".to_string(),
        format!("dir {dir}"),
        format!("sentinel announce-ip {}", node.ip),
        format!("sentinel announce-port {}", layout.sentinel_port),
        format!(
            "sentinel monitor {name} {} {} {}",
            monitor.primary, layout.port, monitor.quorum
        ),
        format!(
            "sentinel down-after-milliseconds {name} {}",
            monitor.down_after_ms
        ),
        format!(
            "sentinel failover-timeout {name} {}",
            monitor.failover_timeout_ms
        ),
        format!("sentinel parallel-syncs {name} 1"),
    ]
    .join("\n")
        + "\n"
}

/// redis-server, with redis-sentinel started beside it unless it already
/// runs (a restart after the kill fault restarts only redis-server, whose
/// name is the one the faults match: they hit the data node, while the
/// Sentinel keeps watching, as a monitor on separate hardware would).
pub(crate) fn server_with_sentinel_command(
    layout: &RedisLayout,
    node: &NodeAddr,
    persistence: RedisPersistence,
    monitor: &Monitor,
) -> ServiceCommand {
    let replica_of = (node.ip != monitor.primary).then_some(monitor.primary);
    let script = format!(
        r#"dir="$0"
mkdir -p "$dir" || exit 1
[ -f "$dir/sentinel.conf" ] || printf '%s' '{config}' > "$dir/sentinel.conf" || exit 1
if ! kill -0 "$(cat "$dir/sentinel.pid" 2>/dev/null)" 2>/dev/null; then
  redis-sentinel "$dir/sentinel.conf" &
fi
exec "$@""#,
        config = sentinel_config(layout, node, monitor),
    );
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        script,
        data_dir(layout, node),
        SERVER_PROCESS.to_string(),
    ];
    argv.extend(server_args(layout, node, persistence, replica_of));
    ServiceCommand {
        argv,
        env: Vec::new(),
        process_name: SERVER_PROCESS.to_string(),
    }
}

pub(crate) fn version_command() -> Vec<String> {
    vec![SERVER_PROCESS.to_string(), "--version".to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u8) -> NodeAddr {
        NodeAddr {
            name: format!("n{i}"),
            ip: Ipv4Addr::new(10, 0, 0, i),
        }
    }

    fn has_pair(argv: &[String], flag: &str, value: &str) -> bool {
        argv.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    #[test]
    fn persistence_none_saves_nothing_and_binds_everywhere() {
        let cmd = server_command(&RedisLayout::default(), &node(1), RedisPersistence::None);
        assert_eq!(cmd.process_name, "redis-server");
        assert!(has_pair(&cmd.argv, "--save", ""));
        assert!(has_pair(&cmd.argv, "--appendonly", "no"));
        assert!(has_pair(&cmd.argv, "--bind", "0.0.0.0"));
        assert!(has_pair(&cmd.argv, "--protected-mode", "no"));
        assert!(has_pair(&cmd.argv, "--dir", "/var/lib/splitbrain/redis"));
    }

    #[test]
    fn aof_modes_choose_the_fsync_policy() {
        for (persistence, fsync) in [
            (RedisPersistence::AofEverysec, "everysec"),
            (RedisPersistence::AofAlways, "always"),
        ] {
            let cmd = server_command(&RedisLayout::default(), &node(1), persistence);
            assert!(has_pair(&cmd.argv, "--appendonly", "yes"));
            assert!(has_pair(&cmd.argv, "--appendfsync", fsync));
        }
    }

    #[test]
    fn sentinel_nodes_replicate_the_first_and_monitor_it() {
        let monitor = Monitor {
            name: "m",
            primary: node(1).ip,
            quorum: 2,
            down_after_ms: 1000,
            failover_timeout_ms: 3000,
        };
        let layout = RedisLayout::default();
        let first =
            server_with_sentinel_command(&layout, &node(1), RedisPersistence::None, &monitor);
        assert!(!first.argv.iter().any(|a| a == "--replicaof"));
        let second =
            server_with_sentinel_command(&layout, &node(2), RedisPersistence::None, &monitor);
        assert!(has_pair(&second.argv, "--replicaof", "10.0.0.1"));
        assert!(second.argv[2].contains("sentinel monitor m 10.0.0.1 6379 2"));
        assert!(second.argv[2].contains("sentinel announce-ip 10.0.0.2"));
        assert_eq!(second.process_name, "redis-server");
    }
}
