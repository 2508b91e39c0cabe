//! How an etcd error maps to an operation's outcome.
//!
//! `fail` claims the request had no effect, so it is reserved for errors that
//! prove the server rejected the request before acting on it. Anything else
//! (timeouts, lost connections, errors raised after a proposal may have been
//! committed) is `info`: the checker then treats the effect as possible.

use etcd_client::Error;
use tonic::Code;

pub(crate) use crate::failure::Failure;

/// The message of etcd's `ErrGRPCNoLeader`.
const NO_LEADER: &str = "etcdserver: no leader";
/// `concurrency.ErrElectionNotLeader`, passed through by the election service.
pub(crate) const ELECTION_NOT_LEADER: &str = "election: not leader";
/// `concurrency.ErrElectionNoLeader`: the election has no leader at all.
pub(crate) const ELECTION_NO_LEADER: &str = "election: no leader";
/// What etcd-client reports when the first keep-alive answer carries TTL 0.
const KEEP_ALIVE_LEASE_NOT_FOUND: &str = "lease not found";

/// The shape of the RPC that failed, which decides what "no leader" proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rpc {
    /// A unary call. With `require_leader`, etcd's unary interceptor rejects
    /// it with "no leader" before the handler runs, so that error is definite.
    Unary,
    /// The lease keep-alive stream. Its handler forwards the renewal to the
    /// leader and may itself report "no leader" after a forwarded renewal
    /// that took effect, so on a stream that error is not definite.
    Stream,
}

impl Failure {
    pub(crate) fn from_etcd(what: &str, rpc: Rpc, err: &Error) -> Self {
        Failure::new(is_refusal(rpc, err), format!("failed to {what}: {err}"))
    }
}

/// Whether `err` proves that the request had no effect.
pub(crate) fn is_refusal(rpc: Rpc, err: &Error) -> bool {
    match err {
        // Rejected by the client library before anything was sent.
        Error::InvalidArgs(_) | Error::InvalidUri(_) | Error::InvalidMetadataValue(_) => true,
        // etcd-client's own check of the first keep-alive answer (TTL 0).
        Error::LeaseKeepAliveError(m) => m == KEEP_ALIVE_LEASE_NOT_FOUND,
        Error::GRpcStatus(status) => {
            let message = status.message();
            match status.code() {
                // Validation and authorization happen before a proposal;
                // "too many requests" and "request too large" are checked
                // before proposing too.
                Code::InvalidArgument
                | Code::PermissionDenied
                | Code::Unauthenticated
                | Code::ResourceExhausted
                | Code::OutOfRange => true,
                // "requested lease not found": the lease the request names
                // is gone, so nothing could be attached to it.
                Code::NotFound => message.contains("lease not found"),
                Code::Unavailable => rpc == Rpc::Unary && message == NO_LEADER,
                // The election service returns plain Go errors (code
                // Unknown); "not leader" comes from a failed compare.
                Code::Unknown => message == ELECTION_NOT_LEADER,
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether `err` is etcd's answer that an election currently has no leader.
pub(crate) fn is_election_without_leader(err: &Error) -> bool {
    matches!(err, Error::GRpcStatus(s) if s.message() == ELECTION_NO_LEADER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, message: &str) -> Error {
        Error::GRpcStatus(tonic::Status::new(code, message))
    }

    #[test]
    fn no_leader_is_a_refusal_only_on_unary_calls() {
        let err = status(Code::Unavailable, NO_LEADER);
        assert!(is_refusal(Rpc::Unary, &err));
        assert!(!is_refusal(Rpc::Stream, &err));
    }

    #[test]
    fn timeouts_and_lost_connections_are_indefinite() {
        for err in [
            status(Code::Unavailable, "etcdserver: request timed out"),
            status(
                Code::Unavailable,
                "error trying to connect: tcp connect error",
            ),
            status(Code::DeadlineExceeded, "context deadline exceeded"),
            status(Code::Cancelled, "context canceled"),
        ] {
            assert!(!is_refusal(Rpc::Unary, &err), "{err}");
        }
    }

    #[test]
    fn expired_lease_and_lost_leadership_are_refusals() {
        assert!(is_refusal(
            Rpc::Unary,
            &status(Code::NotFound, "etcdserver: requested lease not found")
        ));
        assert!(is_refusal(
            Rpc::Unary,
            &status(Code::Unknown, ELECTION_NOT_LEADER)
        ));
        assert!(is_refusal(
            Rpc::Stream,
            &Error::LeaseKeepAliveError(KEEP_ALIVE_LEASE_NOT_FOUND.into())
        ));
    }
}
