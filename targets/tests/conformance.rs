//! The conformance suite (`splitbrain_testkit::suite`) on real etcd and
//! Redis processes on loopback: every behaviour each target family shows,
//! and why it lacks the others. The reference service's bed runs the same
//! suite in `lockservice/tests/conformance.rs`.

use splitbrain_testkit::beds::{EtcdBed, RedisBed, RedlockBed, SentinelBed};

mod etcd {
    use super::EtcdBed;

    splitbrain_testkit::conformance!(EtcdBed { lacks: [] });
}

mod redis {
    use super::RedisBed;

    splitbrain_testkit::conformance!(RedisBed {
        lacks: [
            a_grant_after_a_long_wait_is_bounded_from_the_grant =>
                "acquiring never waits: SET NX answers at once",
            an_acquire_that_waits_past_its_timeout_gives_up =>
                "acquiring never waits: SET NX answers at once",
            clients_on_different_nodes_share_one_lock => "one node serves every client",
        ],
    });
}

mod redlock {
    use super::RedlockBed;

    splitbrain_testkit::conformance!(RedlockBed {
        lacks: [
            successive_grants_get_increasing_tokens_and_a_lease_bound =>
                "Redlock grants carry no token",
            a_fenced_write_with_a_stale_token_is_refused =>
                "without tokens every fenced write is refused (redis::redlock, \
                 fenced_writes_are_refused_for_want_of_a_token)",
            a_grant_after_a_long_wait_is_bounded_from_the_grant =>
                "acquiring never waits: a round of SET NX answers at once",
            an_acquire_that_waits_past_its_timeout_gives_up =>
                "acquiring never waits: a round of SET NX answers at once",
            requests_to_a_paused_server_end_info_within_the_request_timeout =>
                "one paused node of five leaves a quorum; redis::redlock pauses a majority",
            a_killed_server_fails_requests_fast_and_serves_after_restart =>
                "one killed node of five leaves a quorum; redis::redlock kills two, then three",
            clients_on_different_nodes_share_one_lock => "every client asks every node",
        ],
    });
}

/// Runs in the serial `docker` test group (.config/nextest.toml), as the
/// other Sentinel tests do.
mod sentinel {
    use super::SentinelBed;

    splitbrain_testkit::conformance!(SentinelBed {
        lacks: [
            a_grant_after_a_long_wait_is_bounded_from_the_grant =>
                "acquiring never waits: SET NX answers at once",
            an_acquire_that_waits_past_its_timeout_gives_up =>
                "acquiring never waits: SET NX answers at once",
            requests_to_a_paused_server_end_info_within_the_request_timeout =>
                "a pause past down-after (1 s) starts a failover; redis_sentinel pauses \
                 the primary for one request",
            a_killed_server_fails_requests_fast_and_serves_after_restart =>
                "a killed primary is failed over, not restarted; redis_sentinel follows \
                 the failover",
            clients_on_different_nodes_share_one_lock => "every client talks to the primary",
        ],
    });
}
