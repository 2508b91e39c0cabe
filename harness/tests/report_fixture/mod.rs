//! A run directory as `splitbrain run` leaves it, built by a small simulation
//! of a lock service so the report tests do not need Docker.
//!
//! The simulated service grants a lock per key, queueing waiters (an acquire
//! waits at most 1 s, then fails) and expiring nothing early. Faults follow a
//! real schedule: a partition isolates `n3`, during which a client talking to
//! `n3` is granted a lock that another process still holds (the minority
//! node's stale view), which the checkers must find as
//! `lost-mutual-exclusion`; a kill of `n2` turns the ops in flight on `n2`
//! into `info` (their processes retire and the slot continues as a new one).
//! Every grant is followed by writes fenced with its token and a release; a
//! final read lists every acknowledged write.

#![allow(dead_code)] // each test binary uses a different part of the fixture

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

pub const MS: i64 = 1_000_000;

pub struct Options {
    pub slots: u64,
    pub keys: u64,
    /// Client operations (invocation and completion) to record, about.
    pub target_ops: usize,
    pub hold_ms: (i64, i64),
    pub think_ms: (i64, i64),
    /// Fault windows in ms: partition of n3, kill of n2.
    pub partition_ms: (i64, i64),
    pub kill_ms: (i64, i64),
    /// Put markup in a key, a log line and the config, to test escaping.
    pub hostile: bool,
    pub seed: u64,
}

impl Options {
    /// A 20-second run of five clients on one lock with one anomaly.
    pub fn small() -> Options {
        Options {
            slots: 5,
            keys: 1,
            target_ops: 400,
            hold_ms: (120, 380),
            think_ms: (20, 200),
            partition_ms: (4_000, 8_000),
            kill_ms: (12_000, 15_000),
            hostile: false,
            seed: 7,
        }
    }

    /// About `ops` client ops: twenty clients on ten locks, short holds.
    pub fn large(ops: usize) -> Options {
        Options {
            slots: 20,
            keys: 10,
            target_ops: ops,
            hold_ms: (4, 30),
            think_ms: (1, 10),
            partition_ms: (10_000, 25_000),
            kill_ms: (30_000, 40_000),
            hostile: false,
            seed: 11,
        }
    }
}

struct Rec {
    time: i64,
    seq: u64,
    op: Value,
}

struct Sim {
    recs: Vec<Rec>,
    seq: u64,
    rng: ChaCha8Rng,
}

impl Sim {
    fn push(&mut self, time: i64, mut op: Value) {
        op["time"] = json!(time);
        self.seq += 1;
        self.recs.push(Rec {
            time,
            seq: self.seq,
            op,
        });
    }

    fn between(&mut self, (lo, hi): (i64, i64)) -> i64 {
        self.rng.random_range(lo..=hi)
    }
}

/// Writes run.json, history.jsonl, results.json (from the real checkers),
/// harness.log and nodes/<node>/service.log into `dir`.
#[allow(
    clippy::too_many_lines,
    reason = "one run's timeline, written record by record in time order: split, it would no longer read as a run"
)]
pub fn write_run(dir: &Path, o: &Options) {
    let nodes = ["n1", "n2", "n3"];
    let mut sim = Sim {
        recs: Vec::new(),
        seq: 0,
        rng: ChaCha8Rng::seed_from_u64(o.seed),
    };
    let key_name = |k: u64| {
        if o.hostile && k == 0 {
            "<script>document.body.dataset.pwned=1</script>".to_string()
        } else if o.keys == 1 {
            "lock".to_string()
        } else {
            format!("lock-{k}")
        }
    };
    let mut free_at = vec![0i64; o.keys as usize];
    let mut token = 1000u64;
    let mut element = 0u64;
    // Per slot: (next invoke time, process).
    let mut slots: Vec<(i64, u64)> = (0..o.slots).map(|s| (s as i64 * 7 * MS, s)).collect();
    let mut rogue_done = false;
    let mut ops = 0usize;
    while ops < o.target_ops {
        let s = (0..slots.len()).min_by_key(|&i| slots[i].0).unwrap();
        let (t, p) = slots[s];
        let k = s as u64 % o.keys;
        let key = key_name(k);
        let node = nodes[s % 3];
        let lat = |sim: &mut Sim| sim.between((1, 6)) * MS + sim.between((0, 999_999));
        sim.push(
            t,
            json!({"process": p, "type": "invoke", "f": "acquire", "key": key}),
        );
        let in_kill = node == "n2" && t >= o.kill_ms.0 * MS && t < o.kill_ms.1 * MS;
        if in_kill {
            let done = t + sim.between((40, 90)) * MS;
            sim.push(done, json!({"process": p, "type": "info", "f": "acquire", "key": key, "node": node, "error": "connection reset by peer"}));
            ops += 1;
            slots[s] = (done + 200 * MS, p + o.slots);
            continue;
        }
        let in_partition = t >= o.partition_ms.0 * MS && t < o.partition_ms.1 * MS;
        let rogue =
            in_partition && node == "n3" && !rogue_done && free_at[k as usize] > t + 50 * MS;
        let grant = if rogue {
            rogue_done = true;
            t + lat(&mut sim)
        } else {
            free_at[k as usize].max(t) + lat(&mut sim)
        };
        if grant - t > 1000 * MS {
            let done = t + 1000 * MS;
            sim.push(done, json!({"process": p, "type": "fail", "f": "acquire", "key": key, "node": node, "error": "timed out waiting for the lock"}));
            ops += 1;
            slots[s] = (done + sim.between(o.think_ms) * MS, p);
            continue;
        }
        token += 1;
        let tok = token;
        sim.push(grant, json!({"process": p, "type": "ok", "f": "acquire", "key": key, "token": tok, "valid_until": grant + 5000 * MS, "node": node}));
        ops += 1;
        let hold = sim.between(o.hold_ms) * MS;
        let mut now = grant + lat(&mut sim);
        if !rogue {
            let writes = sim.between((1, 2));
            for _ in 0..writes {
                element += 1;
                let res = format!("resource-{k}");
                sim.push(now, json!({"process": p, "type": "invoke", "f": "write", "key": res, "token": tok, "value": element}));
                now += lat(&mut sim);
                sim.push(now, json!({"process": p, "type": "ok", "f": "write", "key": res, "token": tok, "value": element}));
                ops += 1;
                now += sim.between((1, 20)) * MS;
            }
        }
        let release = (grant + hold).max(now);
        sim.push(
            release,
            json!({"process": p, "type": "invoke", "f": "release", "key": key, "token": tok}),
        );
        let released = release + lat(&mut sim);
        sim.push(
            released,
            json!({"process": p, "type": "ok", "f": "release", "key": key}),
        );
        ops += 1;
        if !rogue {
            free_at[k as usize] = released;
        }
        slots[s] = (released + sim.between(o.think_ms) * MS, p);
    }
    let end_of_ops = slots.iter().map(|s| s.0).max().unwrap_or(0);
    // Final reads, one per resource, after every fault is healed.
    let reader = slots.iter().map(|s| s.1).max().unwrap_or(0) + o.slots;
    let mut t = end_of_ops + 500 * MS;
    for k in 0..o.keys {
        let res = format!("resource-{k}");
        sim.push(
            t,
            json!({"process": reader, "type": "invoke", "f": "read", "key": res}),
        );
        t += 3 * MS;
        sim.push(
            t,
            json!({"process": reader, "type": "ok", "f": "read", "key": res, "value": Value::Null}),
        );
        t += 2 * MS;
    }
    // Nemesis records.
    let partition = json!({"kind": "partition", "topology": "one", "grudge": {"n3": ["n1", "n2"], "n1": ["n3"], "n2": ["n3"]}, "sides": [["n3"], ["n1", "n2"]]});
    sim.push(
        o.partition_ms.0 * MS,
        json!({"process": "nemesis", "type": "info", "f": "start-partition", "value": partition}),
    );
    sim.push(o.partition_ms.1 * MS, json!({"process": "nemesis", "type": "info", "f": "stop-partition", "value": {"fault": "partition"}}));
    sim.push(o.kill_ms.0 * MS, json!({"process": "nemesis", "type": "info", "f": "start-kill", "value": {"kind": "kill", "victims": "one", "nodes": ["n2"]}}));
    sim.push(
        o.kill_ms.1 * MS,
        json!({"process": "nemesis", "type": "info", "f": "stop-kill", "value": {"fault": "kill"}}),
    );
    sim.push(
        end_of_ops + 100 * MS,
        json!({"process": "nemesis", "type": "info", "f": "heal", "value": {}}),
    );

    // The final reads list what each resource holds: every acknowledged write
    // to it, in order.
    sim.recs.sort_by_key(|r| (r.time, r.seq));
    let mut per_resource: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    let mut lines = String::new();
    for (i, r) in sim.recs.iter_mut().enumerate() {
        let op = &mut r.op;
        op["index"] = json!(i);
        if op["f"] == "write" && op["type"] == "ok" {
            let res = op["key"].as_str().unwrap().to_string();
            per_resource
                .entry(res)
                .or_default()
                .push(op["value"].as_u64().unwrap());
        }
        if op["f"] == "read" && op["type"] == "ok" {
            let res = op["key"].as_str().unwrap().to_string();
            op["value"] = json!(per_resource.get(&res).cloned().unwrap_or_default());
        }
        lines.push_str(&op.to_string());
        lines.push('\n');
    }
    std::fs::create_dir_all(dir.join("nodes")).unwrap();
    std::fs::write(dir.join("history.jsonl"), lines).unwrap();

    let image = if o.hostile {
        "splitbrain/base:</script><b>bold</b>"
    } else {
        "splitbrain/base:3f9a2c1e"
    };
    let run = json!({
        "config": {"target": "etcd", "workload": "lock", "concurrency": o.slots, "nodes": 3, "seed": o.seed, "results_dir": "results", "time_limit_s": 20},
        "seed": o.seed,
        "run_id": "etcd-20261126t101500z",
        "schedule": {"faults": [
            {"start_ms": 4000, "stop_ms": 8000, "plan": {"fault": "partition", "topology": "one", "seed": 1}},
            {"start_ms": 12000, "stop_ms": 16000, "plan": {"fault": "kill", "victims": "one", "seed": 2}}]},
        "harness": {"version": "0.1.0", "git_revision": "feb28a1"},
        "image": image,
        "target": {"name": "etcd", "version": "3.5.17", "nodes": [
            {"name": "n1", "ip": "172.28.0.11"}, {"name": "n2", "ip": "172.28.0.12"}, {"name": "n3", "ip": "172.28.0.13"}]},
    });
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_vec_pretty(&run).unwrap(),
    )
    .unwrap();

    let (history, warnings) = splitbrain_checkers::read_history(dir.join("history.jsonl")).unwrap();
    let mut report = splitbrain_checkers::check(&history);
    report
        .warnings
        .extend(warnings.iter().map(|w| w.to_string()));
    let mut doc = serde_json::to_value(&report).unwrap();
    doc["liveness"] = json!({"grants_after_heal": 3, "interrupted": false, "final_reads_missing": [], "problems": []});
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_vec_pretty(&doc).unwrap(),
    )
    .unwrap();

    for n in nodes {
        let d = dir.join("nodes").join(n);
        std::fs::create_dir_all(&d).unwrap();
        let mut log = String::new();
        for i in 0..120 {
            log.push_str(&format!(
                "{{\"level\":\"info\",\"ts\":\"2026-11-26T10:15:{:02}.{:03}Z\",\"caller\":\"etcdserver/server.go:{}\",\"msg\":\"applied entries\",\"member\":\"{n}\",\"index\":{}}}\n",
                i % 60, i * 7 % 1000, 1200 + i, 4000 + i
            ));
        }
        if n == "n3" {
            log.push_str("{\"level\":\"warn\",\"msg\":\"lost the TCP streaming connection with remote peer\",\"remote-peer-id\":\"n1\"}\n");
        }
        if o.hostile {
            log.push_str("<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"> <script>document.body.dataset.pwned=1</script>\n");
        }
        std::fs::write(d.join("service.log"), log).unwrap();
    }
    std::fs::write(
        dir.join("harness.log"),
        "2026-11-26T10:15:00Z INFO starting run seed=7\n2026-11-26T10:15:04Z INFO start-partition: {\"sides\":[[\"n3\"],[\"n1\",\"n2\"]]}\n",
    )
    .unwrap();
}
