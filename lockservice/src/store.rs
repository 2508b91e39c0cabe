//! One node's state: locks, elections, the protected resources and the token
//! counter, and the file that keeps what must survive a kill.
//!
//! Locks and elections are the same thing here, a lease per key with a
//! holder and a token; they live in separate tables so that a lock and an
//! election may share a name. Tokens and terms come from one counter, so
//! they are unique and increase across both tables while the counter lasts.
//!
//! What survives a kill (the state file, written to a temporary file, fsync'd
//! and renamed before the reply): the counter (except in `volatile-tokens`),
//! the resources with the highest token each accepted, and the longest lease
//! ever granted. Leases do not survive; instead a node that restarts on an
//! existing state file refuses grants for that longest lease (the grace
//! period), so every lease granted before the kill has run out first.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::mode::{Expiry, LeaseClock, Mode};

const STATE_FILE: &str = "state.json";
const STATE_TMP: &str = "state.json.tmp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Table {
    Lock,
    Election,
}

impl Table {
    fn noun(self) -> &'static str {
        match self {
            Table::Lock => "lock",
            Table::Election => "election",
        }
    }
}

/// Why a request was refused; either way it changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The state precludes it (HTTP 409).
    Conflict(String),
    /// The node cannot serve it now (HTTP 503).
    Unavailable(String),
}

#[derive(Debug, Clone)]
pub struct Lease {
    pub holder: String,
    pub token: u64,
    pub expiry: Expiry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub token: u64,
    pub lease_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub list: Vec<Value>,
    /// The highest token a fenced write carried.
    pub highest_token: u64,
}

/// What the state file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Persisted {
    /// Absent in `volatile-tokens`.
    counter: Option<u64>,
    lease_bound_ms: u64,
    resources: BTreeMap<String, Resource>,
}

/// A lease as replicated: remaining time instead of an instant, since
/// instants do not travel between processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub table: Table,
    pub key: String,
    pub holder: String,
    pub token: u64,
    pub remaining_ms: u64,
}

/// Everything a primary sends its replicas.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub counter: u64,
    pub lease_bound_ms: u64,
    pub leases: Vec<LeaseRecord>,
    pub resources: BTreeMap<String, Resource>,
}

#[derive(Debug)]
pub struct Store {
    mode: Mode,
    clock: LeaseClock,
    data_dir: PathBuf,
    max_lease_ms: u64,
    /// Leases are held `lease_ms` times this on the node's own clock.
    clock_rate_bound: f64,
    counter: u64,
    lease_bound_ms: u64,
    locks: HashMap<String, Lease>,
    leaders: HashMap<String, Lease>,
    resources: BTreeMap<String, Resource>,
    /// Bumped on every change, so replication can tell what is new.
    version: u64,
}

/// The store and whether it was restored from an earlier run's state file.
pub struct Opened {
    pub store: Store,
    pub restarted: bool,
}

impl Store {
    pub fn open(mode: Mode, data_dir: &Path, max_lease_ms: u64) -> io::Result<Opened> {
        fs::create_dir_all(data_dir)?;
        let path = data_dir.join(STATE_FILE);
        let persisted = match fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice::<Persisted>(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("failed to parse {}: {e}", path.display()),
                )
            })?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let restarted = persisted.is_some();
        let persisted = persisted.unwrap_or_default();
        let store = Store {
            mode,
            clock: mode.lease_clock(),
            data_dir: data_dir.to_path_buf(),
            max_lease_ms,
            clock_rate_bound: 1.0,
            counter: if mode.persists_tokens() {
                persisted.counter.unwrap_or(0)
            } else {
                0
            },
            lease_bound_ms: persisted.lease_bound_ms,
            locks: HashMap::new(),
            leaders: HashMap::new(),
            resources: persisted.resources,
            version: 0,
        };
        // The file exists from the first start on, so a restart is always seen.
        store.persist()?;
        Ok(Opened { store, restarted })
    }

    /// Holds every lease for `lease_ms` times `bound` of this node's clock,
    /// so that a lease lasts its promised time in real time as long as the
    /// clock runs at most `bound` times too fast. Values below 1 count as 1.
    pub fn with_clock_rate_bound(mut self, bound: f64) -> Self {
        self.clock_rate_bound = if bound.is_finite() {
            bound.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// How long this node's clock must hold a lease of `lease_ms`.
    fn hold_ms(&self, lease_ms: u64) -> u64 {
        // Float precision is irrelevant at these magnitudes; `as` saturates.
        (lease_ms as f64 * self.clock_rate_bound).ceil() as u64
    }

    /// The grace period after a restart: the longest lease ever granted, as
    /// this node's clock must hold it.
    pub fn grace_ms(&self) -> u64 {
        self.hold_ms(self.lease_bound_ms)
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    fn table(&mut self, table: Table) -> &mut HashMap<String, Lease> {
        match table {
            Table::Lock => &mut self.locks,
            Table::Election => &mut self.leaders,
        }
    }

    /// Grants `key` to `holder` if nobody holds it; `Ok(None)` if someone does.
    pub fn try_grant(
        &mut self,
        table: Table,
        key: &str,
        holder: &str,
        lease_ms: u64,
    ) -> Result<Option<Grant>, Refusal> {
        if let Some(lease) = self.table(table).get(key) {
            if !lease.expiry.expired() {
                if lease.holder == holder {
                    return Err(Refusal::Conflict(format!(
                        "{holder} already holds {} {key}",
                        table.noun()
                    )));
                }
                return Ok(None);
            }
        }
        let lease_ms = lease_ms.clamp(1, self.max_lease_ms);
        let (old_counter, old_bound) = (self.counter, self.lease_bound_ms);
        self.counter += 1;
        self.lease_bound_ms = self.lease_bound_ms.max(lease_ms);
        // The token must be on disk before anyone hears of it: otherwise a
        // kill could hand it out again.
        if let Err(e) = self.persist() {
            self.counter = old_counter;
            self.lease_bound_ms = old_bound;
            return Err(Refusal::Unavailable(format!(
                "failed to persist the token counter: {e}"
            )));
        }
        let token = self.counter;
        let expiry = self.clock.deadline(self.hold_ms(lease_ms));
        self.table(table).insert(
            key.to_string(),
            Lease {
                holder: holder.to_string(),
                token,
                expiry,
            },
        );
        self.version += 1;
        Ok(Some(Grant { token, lease_ms }))
    }

    fn held(&mut self, table: Table, key: &str, holder: &str, token: u64) -> Result<(), Refusal> {
        let noun = table.noun();
        match self.table(table).get(key) {
            Some(lease) if lease.holder == holder && lease.token == token => {
                if lease.expiry.expired() {
                    Err(Refusal::Conflict(format!(
                        "the lease of {noun} {key} with token {token} has expired"
                    )))
                } else {
                    Ok(())
                }
            }
            Some(lease) if !lease.expiry.expired() => Err(Refusal::Conflict(format!(
                "{noun} {key} is held by {} with token {}",
                lease.holder, lease.token
            ))),
            _ => Err(Refusal::Conflict(format!(
                "{holder} does not hold {noun} {key} with token {token}"
            ))),
        }
    }

    pub fn renew(
        &mut self,
        table: Table,
        key: &str,
        holder: &str,
        token: u64,
        lease_ms: u64,
    ) -> Result<Grant, Refusal> {
        self.held(table, key, holder, token)?;
        let lease_ms = lease_ms.clamp(1, self.max_lease_ms);
        if lease_ms > self.lease_bound_ms {
            let old = self.lease_bound_ms;
            self.lease_bound_ms = lease_ms;
            if let Err(e) = self.persist() {
                self.lease_bound_ms = old;
                return Err(Refusal::Unavailable(format!(
                    "failed to persist the lease bound: {e}"
                )));
            }
        }
        let expiry = self.clock.deadline(self.hold_ms(lease_ms));
        if let Some(lease) = self.table(table).get_mut(key) {
            lease.expiry = expiry;
        }
        self.version += 1;
        Ok(Grant { token, lease_ms })
    }

    pub fn release(
        &mut self,
        table: Table,
        key: &str,
        holder: &str,
        token: u64,
    ) -> Result<(), Refusal> {
        self.held(table, key, holder, token)?;
        self.table(table).remove(key);
        self.version += 1;
        Ok(())
    }

    /// The current holder of `key` and its token, if its lease runs.
    pub fn holder(&mut self, table: Table, key: &str) -> Option<(String, u64)> {
        self.table(table)
            .get(key)
            .filter(|lease| !lease.expiry.expired())
            .map(|lease| (lease.holder.clone(), lease.token))
    }

    pub fn read(&self, key: &str) -> Resource {
        self.resources.get(key).cloned().unwrap_or_default()
    }

    /// Replaces resource `key` with `list`. A write with a token is fenced
    /// (except in `no-fencing`): the token must be the current holder's of
    /// lock `key` and no lower than any token the resource accepted before.
    /// A write without a token is unguarded.
    pub fn write(
        &mut self,
        key: &str,
        token: Option<u64>,
        list: Vec<Value>,
    ) -> Result<(), Refusal> {
        let previous = self.resources.get(key).cloned().unwrap_or_default();
        let mut highest_token = previous.highest_token;
        if let Some(token) = token {
            if self.mode.fences() {
                if token < previous.highest_token {
                    return Err(Refusal::Conflict(format!(
                        "stale token {token}: resource {key} has accepted token {}",
                        previous.highest_token
                    )));
                }
                match self.holder(Table::Lock, key) {
                    Some((_, current)) if current == token => {}
                    Some((_, current)) => {
                        return Err(Refusal::Conflict(format!(
                            "stale token {token}: lock {key} is held with token {current}"
                        )))
                    }
                    None => {
                        return Err(Refusal::Conflict(format!(
                            "stale token {token}: nobody holds lock {key}"
                        )))
                    }
                }
            }
            highest_token = highest_token.max(token);
        }
        self.resources.insert(
            key.to_string(),
            Resource {
                list,
                highest_token,
            },
        );
        if let Err(e) = self.persist() {
            self.resources.insert(key.to_string(), previous);
            return Err(Refusal::Unavailable(format!(
                "failed to persist resource {key}: {e}"
            )));
        }
        self.version += 1;
        Ok(())
    }

    pub fn snapshot(&self) -> Snapshot {
        let leases = [(Table::Lock, &self.locks), (Table::Election, &self.leaders)]
            .into_iter()
            .flat_map(|(table, leases)| {
                leases.iter().map(move |(key, lease)| LeaseRecord {
                    table,
                    key: key.clone(),
                    holder: lease.holder.clone(),
                    token: lease.token,
                    remaining_ms: u64::try_from(lease.expiry.remaining().as_millis())
                        .unwrap_or(u64::MAX),
                })
            })
            .filter(|record| record.remaining_ms > 0)
            .collect();
        Snapshot {
            counter: self.counter,
            lease_bound_ms: self.lease_bound_ms,
            leases,
            resources: self.resources.clone(),
        }
    }

    /// Takes over a primary's state wholesale, as a replica does.
    pub fn apply(&mut self, snapshot: Snapshot) -> io::Result<()> {
        self.counter = snapshot.counter;
        self.lease_bound_ms = snapshot.lease_bound_ms;
        self.resources = snapshot.resources;
        self.locks.clear();
        self.leaders.clear();
        for record in snapshot.leases {
            let expiry = self.clock.deadline(record.remaining_ms);
            self.table(record.table).insert(
                record.key,
                Lease {
                    holder: record.holder,
                    token: record.token,
                    expiry,
                },
            );
        }
        self.version += 1;
        self.persist()
    }

    /// Writes the state file durably: temporary file, fsync, rename, fsync
    /// of the directory so that the rename itself survives a crash.
    fn persist(&self) -> io::Result<()> {
        let persisted = Persisted {
            counter: self.mode.persists_tokens().then_some(self.counter),
            lease_bound_ms: self.lease_bound_ms,
            resources: self.resources.clone(),
        };
        let bytes = serde_json::to_vec(&persisted).map_err(io::Error::other)?;
        let tmp = self.data_dir.join(STATE_TMP);
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, self.data_dir.join(STATE_FILE))?;
        File::open(&self.data_dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(mode: Mode) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let opened = Store::open(mode, dir.path(), 60_000).expect("open");
        (dir, opened.store)
    }

    #[test]
    fn a_held_lock_is_not_granted_to_another_holder() {
        let (_dir, mut s) = store(Mode::Safe);
        let first = s.try_grant(Table::Lock, "k", "a", 1000).expect("grant");
        assert_eq!(first.map(|g| g.token), Some(1));
        assert_eq!(s.try_grant(Table::Lock, "k", "b", 1000), Ok(None));
        s.release(Table::Lock, "k", "a", 1).expect("release");
        let second = s.try_grant(Table::Lock, "k", "b", 1000).expect("grant");
        assert_eq!(second.map(|g| g.token), Some(2));
    }

    #[test]
    fn fenced_write_needs_the_current_token_and_no_fencing_takes_any() {
        for (mode, stale_accepted) in [(Mode::Safe, false), (Mode::NoFencing, true)] {
            let (_dir, mut s) = store(mode);
            s.try_grant(Table::Lock, "k", "a", 1000).expect("grant");
            s.release(Table::Lock, "k", "a", 1).expect("release");
            s.try_grant(Table::Lock, "k", "b", 1000).expect("grant");
            s.write("k", Some(2), vec![Value::from(1)])
                .expect("current write");
            let stale = s.write("k", Some(1), vec![Value::from(2)]);
            assert_eq!(stale.is_ok(), stale_accepted, "{mode:?}: {stale:?}");
        }
    }

    #[test]
    fn the_counter_survives_reopening_unless_volatile() {
        for (mode, next) in [(Mode::Safe, 2), (Mode::VolatileTokens, 1)] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut s = Store::open(mode, dir.path(), 60_000).expect("open").store;
            s.try_grant(Table::Lock, "k", "a", 1000).expect("grant");
            let reopened = Store::open(mode, dir.path(), 60_000).expect("reopen");
            assert!(reopened.restarted);
            assert_eq!(reopened.store.grace_ms(), 1000);
            let mut s = reopened.store.with_clock_rate_bound(4.0);
            assert_eq!(s.grace_ms(), 4000);
            let grant = s.try_grant(Table::Lock, "k", "b", 1000).expect("grant");
            assert_eq!(grant.map(|g| g.token), Some(next), "{mode:?}");
        }
    }
}
