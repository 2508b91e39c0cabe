//! The Redis keys a lock, its token counter and its protected resource live
//! under, named in one place for every Redis target.

/// The Redis key of lock `key`.
pub fn lock_key(key: &str) -> String {
    format!("splitbrain:lock:{key}")
}

/// The Redis key of lock `key`'s grant counter (its tokens).
pub fn counter_key(key: &str) -> String {
    format!("splitbrain:token:{key}")
}

/// The Redis key holding the protected resource `key`: a JSON list.
pub fn resource_key(key: &str) -> String {
    format!("splitbrain:resource:{key}")
}

/// The Redis key holding the highest token the fenced resource `key` accepted.
pub fn fence_key(key: &str) -> String {
    format!("splitbrain:fence:{key}")
}
