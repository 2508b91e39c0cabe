//! Packet faults (delay, loss, duplication, reordering towards chosen peers).

/// Where the in-node packet delayer writes its log.
pub const DELAYER_LOG: &str = "/var/log/splitbrain/delayer.log";
