//! The etcd names a lock, an election and a protected resource live under,
//! in one place for the target and its clients.

/// The name of the lock `key` in etcd's Lock API.
pub fn lock_name(key: &str) -> String {
    format!("/splitbrain/lock/{key}")
}

/// The name of the election `key` in etcd's Election API.
pub fn election_name(key: &str) -> String {
    format!("/splitbrain/election/{key}")
}

/// The etcd key holding the protected resource `key`: a JSON list.
pub fn resource_key(key: &str) -> String {
    format!("/splitbrain/resource/{key}")
}
