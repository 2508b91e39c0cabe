//! Redis as three targets: one instance, Redlock over five instances, and a
//! primary with two replicas under Sentinel.
//!
//! # Model
//!
//! A lock is a key set with `SET key value NX PX ttl`, where `value` is random
//! per grant, so that only the grant's owner can release (`DEL`) or renew
//! (`PEXPIRE`) it: both are Lua scripts that compare the value first. The
//! server times the key by its own wall clock (`CLOCK_REALTIME`), so a clock
//! step on a node expires its locks early or late.
//!
//! Tokens differ per target:
//!
//! * [`RedisTarget`] and [`SentinelTarget`]: the grant script also `INCR`s a
//!   per-lock counter in the same atomic step, and the counter's new value is
//!   the token. It increases only while the counter survives: a restart
//!   without persistence, or a failover to a replica that had not received
//!   the last increments, takes it backwards ([`TokenSemantics::Counter`]).
//! * [`RedlockTarget`]: Redlock offers no fencing token (its author's own
//!   answer is to use the random value as a check-and-set guard, which does
//!   not order grants). Grants carry no token at all
//!   ([`TokenSemantics::None`]), so the `fenced` workload cannot run on it and
//!   the token checks have nothing to judge; `lost-mutual-exclusion` and
//!   `lost-update` still apply.
//!
//! A holder's conservative validity is the invoke time of its last successful
//! grant or renewal plus the TTL (for Redlock, plus the shorter validity its
//! quorum rule computes): the server can only have started the key's TTL
//! after the request was sent.
//!
//! The protected resource is one key per name holding a JSON list of
//! integers, on the node that answers lock requests (for Redlock, the first
//! node). An unguarded write is a plain `SET`; a fenced write is a Lua script
//! that keeps, beside the resource, the highest token it has accepted, and
//! refuses a write whose token is lower. That record lives and dies with the
//! resource: a Redis that forgets both (kill without persistence) accepts the
//! old tokens again, which the history shows as `stale-token-accepted`.
//!
//! # Outcomes
//!
//! `fail` is reserved for requests that provably had no effect: a refused
//! connection (nothing was sent), an error reply (Redis answers errors before
//! executing, and none of the scripts here writes before it can fail), or a
//! script that answers "no". A timeout or a lost connection is `info`. Reads change nothing, so every failed read is a `fail`.
//!
//! Acquiring never waits: a lock held by someone else is a `fail` at once, and
//! the workload's idle pause is the retry, which is how Redis locks are used.

mod commands;
mod connection;
mod deploy;
mod discovery;
mod instance_client;
mod keys;
mod outcome;
mod recipe;
mod redlock;
mod sentinel;
mod single;
mod target_methods;
mod tokens;

pub use deploy::{RedisLayout, RedisPersistence, DATA_DIR, PORT, SENTINEL_PORT};
pub use discovery::MASTER_NAME;
pub use instance_client::InstanceClient;
pub use keys::{counter_key, fence_key, lock_key, resource_key};
pub use redlock::{redlock_drift_ms, RedlockClient, RedlockTarget, REDLOCK_NODES};
pub use sentinel::{SentinelTarget, SENTINEL_DOWN_AFTER_MS, SENTINEL_FAILOVER_TIMEOUT_MS};
pub use single::RedisTarget;
pub use splitbrain_vocab::WriteMode;
pub use tokens::TokenSemantics;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{ClockEntry, Target};
    use splitbrain_vocab::FaultKind;

    #[test]
    fn persistence_names_round_trip_and_unknown_names_are_refused() {
        for p in [
            RedisPersistence::None,
            RedisPersistence::AofEverysec,
            RedisPersistence::AofAlways,
        ] {
            assert_eq!(p.as_str().parse::<RedisPersistence>(), Ok(p));
        }
        assert!("always"
            .parse::<RedisPersistence>()
            .is_err_and(|e| e.contains("aof-always")));
    }

    #[test]
    fn every_redis_target_accepts_kill_pause_and_clock_faults() {
        let targets: [Box<dyn Target>; 3] = [
            Box::new(RedisTarget::new(WriteMode::Fenced, RedisPersistence::None)),
            Box::new(RedlockTarget::new(
                WriteMode::Unguarded,
                RedisPersistence::None,
            )),
            Box::new(SentinelTarget::new(
                WriteMode::Fenced,
                RedisPersistence::None,
            )),
        ];
        for target in &targets {
            for fault in [FaultKind::Kill, FaultKind::Pause, FaultKind::Clock] {
                assert!(target.fault(fault).applies(), "{} {fault}", target.name());
            }
            assert_eq!(
                target.clock_entry(),
                ClockEntry::Preload,
                "{}",
                target.name()
            );
            assert_eq!(target.version_command(), ["redis-server", "--version"]);
        }
        assert_eq!(
            targets.iter().map(|t| t.name()).collect::<Vec<_>>(),
            ["redis", "redlock", "redis-sentinel"]
        );
        assert!(targets[2].as_primaries().is_some());
        assert!(targets[0].as_primaries().is_none());
    }

    #[test]
    fn only_redlock_grants_carry_no_token() {
        let (w, p) = (WriteMode::Fenced, RedisPersistence::None);
        assert_eq!(
            RedisTarget::new(w, p).token_semantics(),
            TokenSemantics::Counter
        );
        assert_eq!(
            SentinelTarget::new(w, p).token_semantics(),
            TokenSemantics::Counter
        );
        assert_eq!(
            RedlockTarget::new(w, p).token_semantics(),
            TokenSemantics::None
        );
    }
}
