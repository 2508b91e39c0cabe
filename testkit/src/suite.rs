//! The behaviours every lock target must show, each written once and run
//! on a fresh [`TestBed`] of every family that claims it (see
//! [`crate::conformance`]). Where targets legitimately differ (whether a
//! second acquirer waits, whether grants carry tokens), the bed's
//! [`crate::bed::Profile`] says which, and the behaviour checks that.

use std::time::{Duration, Instant};

use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::{Client, ClientConfig, Completion, HistoryClock};
use splitbrain_targets::etcd::WriteMode;
use splitbrain_targets::target::Target;
use tokio::task::JoinHandle;

use crate::bed::{Contention, TestBed};
use crate::cluster::LocalCluster;
use crate::ops::{completion, inv, ok, run, write_k, Done};

/// Scheduling slack on a shared 2-core machine.
pub const SLACK: Duration = Duration::from_millis(500);
/// Bound on a probe of a node that is down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).expect("a test-sized duration")
}

fn lease(cfg: &ClientConfig) -> Duration {
    Duration::from_millis(cfg.lease_ms)
}

/// A started bed: the nodes of `B`'s service.
type Bed<B> = LocalCluster<<B as TestBed>::Service>;

async fn start<B: TestBed>(write_mode: WriteMode) -> Bed<B> {
    B::start(B::profile().nodes, write_mode).await
}

/// A second process asking for a held lock, as the bed's contention has it:
/// waiting in a task, or refused and ready to ask again.
enum Second {
    Waiting(JoinHandle<(Box<dyn Client>, Done)>),
    Refused(Box<dyn Client>),
}

impl Second {
    async fn ask(contention: Contention, mut client: Box<dyn Client>, clock: HistoryClock) -> Self {
        match contention {
            Contention::Queues => Second::Waiting(tokio::spawn(async move {
                let done = run(client.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
                (client, done)
            })),
            Contention::Refuses => {
                let mut second = Second::Refused(client);
                second.still_excluded(&clock).await;
                second
            }
        }
    }

    /// Asserts the second process has not been granted the lock.
    async fn still_excluded(&mut self, clock: &HistoryClock) {
        match self {
            Second::Waiting(waiter) => assert!(
                !waiter.is_finished(),
                "the second acquire returned while the lock was held"
            ),
            Second::Refused(client) => {
                let refused =
                    completion(client.as_mut(), clock, inv(F::Acquire, "k", None, None)).await;
                assert_eq!(refused.kind, OpType::Fail, "held: {refused:?}");
            }
        }
    }

    /// The second process's grant, once the lock is free.
    async fn granted(self, clock: &HistoryClock) -> (Box<dyn Client>, Done) {
        match self {
            Second::Waiting(waiter) => waiter.await.expect("the waiting task"),
            Second::Refused(mut client) => {
                let done = run(client.as_mut(), clock, inv(F::Acquire, "k", None, None)).await;
                (client, done)
            }
        }
    }
}

/// A fresh fenced bed on which p0 holds "k" and p1 has asked for it.
struct Contended<B: TestBed> {
    bed: Bed<B>,
    clock: HistoryClock,
    p0: Box<dyn Client>,
    first: Completion,
    second: Second,
}

impl<B: TestBed> Contended<B> {
    async fn start() -> Self {
        let profile = B::profile();
        let bed = start::<B>(WriteMode::Fenced).await;
        let clock = HistoryClock::start();
        let mut p0 = bed.client(0, &profile.config).await;
        let p1 = bed.client(1, &profile.config).await;
        let first = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        let second = Second::ask(profile.contention, p1, clock).await;
        Contended {
            bed,
            clock,
            p0,
            first,
            second,
        }
    }
}

/// Where the bed's tokens count, `granted` carries a higher one than `first`.
fn assert_token_after(tokens: bool, first: &Completion, granted: &Done) {
    if tokens {
        assert!(
            granted.completion.token > first.token,
            "{first:?} then {granted:?}"
        );
    }
}

pub async fn successive_grants_get_increasing_tokens_and_a_lease_bound<B: TestBed>() {
    let profile = B::profile();
    let bed = start::<B>(WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let lease_ns = ns(lease(&profile.config));
    let mut p0 = bed.client(0, &profile.config).await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let acquired = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        let c = &acquired.completion;
        assert_eq!(c.kind, OpType::Ok, "{c:?}");
        assert_eq!(c.node.as_deref(), Some(profile.grant_node));
        // The bound is a grant or keep-alive invoked within the op, plus the lease.
        let valid_until = c.valid_until.expect("valid_until");
        assert!(
            valid_until >= acquired.invoked_ns + lease_ns
                && valid_until <= acquired.at_ns + lease_ns,
            "valid_until {valid_until} outside the op's window plus the lease: {acquired:?}"
        );
        tokens.push(c.token.expect("token"));
        ok(p0.as_mut(), &clock, inv(F::Release, "k", c.token, None)).await;
    }
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "tokens {tokens:?}");
}

/// Renewals keep the lock held past its first lease; a release lets the
/// second process have it, with a higher token.
pub async fn a_held_lock_excludes_others_until_released<B: TestBed>() {
    let profile = B::profile();
    let cfg = &profile.config;
    let Contended {
        bed: _bed,
        clock,
        mut p0,
        first,
        mut second,
    } = Contended::<B>::start().await;

    // Two pauses of 0.6 leases: the lock outlives its first lease only by
    // the renewal between them.
    tokio::time::sleep(lease(cfg).mul_f64(0.6)).await;
    second.still_excluded(&clock).await;
    let renewed = ok(p0.as_mut(), &clock, inv(F::Renew, "k", first.token, None)).await;
    assert!(renewed.valid_until > first.valid_until, "{renewed:?}");
    assert_eq!(renewed.node.as_deref(), Some(profile.grant_node));
    tokio::time::sleep(lease(cfg).mul_f64(0.6)).await;
    second.still_excluded(&clock).await;

    let release_invoked_ns = clock.now_ns();
    ok(p0.as_mut(), &clock, inv(F::Release, "k", first.token, None)).await;
    let (mut p1, granted) = second.granted(&clock).await;
    assert_eq!(granted.completion.kind, OpType::Ok, "{granted:?}");
    assert!(granted.at_ns >= release_invoked_ns);
    assert_token_after(profile.tokens, &first, &granted);
    p1.close().await;
}

/// A holder that goes quiet loses the lock when its lease runs out, not
/// before; its late renewal and release fail, and leave the new hold be.
pub async fn an_expired_lease_lets_another_process_acquire<B: TestBed>() {
    let profile = B::profile();
    let cfg = &profile.config;
    let Contended {
        bed,
        clock,
        mut p0,
        first,
        second,
    } = Contended::<B>::start().await;
    let bound = first.valid_until.expect("valid_until");

    if profile.contention == Contention::Refuses {
        tokio::time::sleep(profile.held_at_most).await;
    }
    let (_p1, granted) = second.granted(&clock).await;
    assert_eq!(granted.completion.kind, OpType::Ok, "{granted:?}");
    assert_token_after(profile.tokens, &first, &granted);
    // The service kept its promise: nothing granted before p0's conservative bound.
    assert!(
        granted.at_ns >= bound,
        "granted at {} before {bound}",
        granted.at_ns
    );

    let late = completion(p0.as_mut(), &clock, inv(F::Renew, "k", first.token, None)).await;
    assert_eq!(
        late.kind,
        OpType::Fail,
        "renewing an expired lease: {late:?}"
    );
    if let Some(words) = profile.late_renewal_says {
        let says = late.error.as_deref().unwrap_or_default();
        assert!(says.contains(words), "{late:?}");
    }
    let late = completion(p0.as_mut(), &clock, inv(F::Release, "k", first.token, None)).await;
    assert_eq!(
        late.kind, profile.late_release,
        "releasing another's grant: {late:?}"
    );

    // p0's failed release did not free p1's lock.
    let impatient = ClientConfig {
        acquire_timeout_ms: cfg.request_timeout_ms,
        ..cfg.clone()
    };
    let mut p2 = bed.client(2, &impatient).await;
    let refused = completion(p2.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    let expected = match profile.contention {
        Contention::Refuses => OpType::Fail,
        Contention::Queues => profile.gave_up,
    };
    assert_eq!(refused.kind, expected, "{refused:?}");
}

/// A fresh bed with holds of p0 (expired) and p1 (current) on "k", each
/// having read the empty resource while it held the lock, as in Jepsen's
/// lock-protected set.
struct StaleAndCurrent<B: TestBed> {
    _bed: Bed<B>,
    clock: HistoryClock,
    p0: Box<dyn Client>,
    p1: Box<dyn Client>,
    stale: Option<u64>,
    current: Option<u64>,
}

impl<B: TestBed> StaleAndCurrent<B> {
    async fn start(write_mode: WriteMode) -> Self {
        let profile = B::profile();
        let bed = start::<B>(write_mode).await;
        let clock = HistoryClock::start();
        let mut p0 = bed.client(0, &profile.config).await;
        let mut p1 = bed.client(1, &profile.config).await;
        let stale = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        let read = ok(p0.as_mut(), &clock, inv(F::Read, "k", stale.token, None)).await;
        assert_eq!(read.value, Some(json!([])));
        // p0 pauses past its lease; p1 is granted the lock (a queued
        // acquire waits for that) and reads.
        if profile.contention == Contention::Refuses {
            tokio::time::sleep(profile.held_at_most).await;
        }
        let current = ok(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        let read = ok(p1.as_mut(), &clock, inv(F::Read, "k", current.token, None)).await;
        assert_eq!(read.value, Some(json!([])));
        StaleAndCurrent {
            _bed: bed,
            clock,
            p0,
            p1,
            stale: stale.token,
            current: current.token,
        }
    }

    /// p1's write of `value`, with its token.
    async fn current_writes(&mut self, value: u64) -> Completion {
        let write = write_k(self.current, value);
        ok(self.p1.as_mut(), &self.clock, write).await
    }

    /// p0's write of `value`, with its stale token.
    async fn stale_writes(&mut self, value: u64) -> Completion {
        let write = write_k(self.stale, value);
        completion(self.p0.as_mut(), &self.clock, write).await
    }

    /// What p1 reads now.
    async fn resource(&mut self) -> Option<serde_json::Value> {
        let read = inv(F::Read, "k", None, None);
        ok(self.p1.as_mut(), &self.clock, read).await.value
    }
}

pub async fn a_fenced_write_with_a_stale_token_is_refused<B: TestBed>() {
    let mut holds = StaleAndCurrent::<B>::start(WriteMode::Fenced).await;
    let accepted = holds.current_writes(2).await;
    assert_eq!(accepted.token, holds.current);
    let refused = holds.stale_writes(1).await;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
    assert_eq!(refused.token, holds.stale);
    assert_eq!(holds.resource().await, Some(json!([2])));
    // The holder's next write builds on its own: nothing is lost.
    holds.current_writes(3).await;
    assert_eq!(holds.resource().await, Some(json!([2, 3])));
}

pub async fn an_unguarded_stale_write_loses_an_update<B: TestBed>() {
    let mut holds = StaleAndCurrent::<B>::start(WriteMode::Unguarded).await;
    holds.current_writes(2).await;
    let accepted = holds.stale_writes(1).await;
    assert_eq!(
        accepted.kind,
        OpType::Ok,
        "the unguarded resource takes the stale write: {accepted:?}"
    );
    // p1's acknowledged 2 is gone: the lost update the append workload finds.
    assert_eq!(
        holds.resource().await,
        Some(json!([1])),
        "p1's acknowledged 2 is lost"
    );
}

/// A write needs a read to build on and, fenced, a hold to fence with; a
/// release or renewal needs a hold. The client refuses the rest unsent.
pub async fn requests_without_a_read_or_a_hold_are_refused_client_side<B: TestBed>() {
    let profile = B::profile();
    let bed = start::<B>(WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = bed.client(0, &profile.config).await;
    let unread = completion(p0.as_mut(), &clock, write_k(Some(1), 1)).await;
    assert_eq!(unread.kind, OpType::Fail, "{unread:?}");
    ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    let unheld = completion(p0.as_mut(), &clock, write_k(None, 1)).await;
    assert_eq!(unheld.kind, OpType::Fail, "{unheld:?}");
    for f in [F::Release, F::Renew] {
        let not_held = completion(p0.as_mut(), &clock, inv(f.clone(), "k", None, None)).await;
        assert_eq!(not_held.kind, OpType::Fail, "{f}: {not_held:?}");
    }
}

/// A grant that waited in the queue longer than a lease is bounded from
/// the grant (a keep-alive or renewal sent after it), not from the request.
pub async fn a_grant_after_a_long_wait_is_bounded_from_the_grant<B: TestBed>() {
    let profile = B::profile();
    let cfg = &profile.config;
    let bed = start::<B>(WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let lease_ns = ns(lease(cfg));
    let mut p0 = bed.client(0, cfg).await;
    let mut p1 = bed.client(1, cfg).await;
    let first = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    let waited_from_ns = clock.now_ns();
    let waiter = tokio::spawn(async move {
        let done = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        (p1, done)
    });
    // The holder renews for 2.5 leases; nothing renews the waiter's.
    for _ in 0..10 {
        tokio::time::sleep(lease(cfg) / 4).await;
        ok(p0.as_mut(), &clock, inv(F::Renew, "k", first.token, None)).await;
    }
    assert!(!waiter.is_finished(), "granted while the lock was held");
    ok(p0.as_mut(), &clock, inv(F::Release, "k", first.token, None)).await;
    let (mut p1, second) = waiter.await.expect("the waiting task");
    assert_eq!(second.completion.kind, OpType::Ok, "{second:?}");
    assert!(
        second.at_ns - waited_from_ns > lease_ns,
        "the grant came within a lease of the request: the test proves nothing"
    );
    let until = second.completion.valid_until.expect("valid_until");
    assert!(
        until > second.at_ns && until <= second.at_ns + lease_ns,
        "valid_until {} ms after the grant, expected within (0, lease]",
        (until - second.at_ns) / 1_000_000
    );
    let token = second.completion.token;
    ok(p1.as_mut(), &clock, inv(F::Renew, "k", token, None)).await;
}

/// An acquire whose lock stays held gives up at its acquire timeout:
/// `info` if its request was still out, `fail` if the service said no.
pub async fn an_acquire_that_waits_past_its_timeout_gives_up<B: TestBed>() {
    let profile = B::profile();
    let cfg = &profile.config;
    let bed = start::<B>(WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let impatient = ClientConfig {
        acquire_timeout_ms: cfg.request_timeout_ms + 500,
        ..cfg.clone()
    };
    let mut p0 = bed.client(0, cfg).await;
    let mut p1 = bed.client(1, &impatient).await;
    ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;

    let started = Instant::now();
    let gave_up = completion(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    let took = started.elapsed();
    assert_eq!(gave_up.kind, profile.gave_up, "{gave_up:?}");
    // A refusal comes when the service stops waiting, one request's time
    // before the client would.
    let earliest = match profile.gave_up {
        OpType::Info => impatient.acquire_timeout(),
        _ => impatient.acquire_timeout() - impatient.request_timeout(),
    };
    assert!(
        took >= earliest && took <= impatient.acquire_timeout() + SLACK,
        "took {took:?}"
    );
    B::after_acquire_timeout(&bed).await;
}

/// Asserts `took` is one request timeout, give or take scheduling.
fn one_request_timeout(cfg: &ClientConfig, took: Duration, what: &str) {
    assert!(
        took >= cfg.request_timeout() && took <= cfg.request_timeout() + SLACK,
        "{what} took {took:?}"
    );
}

/// While the server is stopped, what may have taken effect ends `info` and
/// reads `fail`, each within the request timeout; after it resumes, late
/// replies are not taken for the answers to later requests.
pub async fn requests_to_a_paused_server_end_info_within_the_request_timeout<B: TestBed>() {
    let profile = B::profile();
    let cfg = &profile.config;
    let bed = start::<B>(WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let mut p0 = bed.client(0, cfg).await;
    let acquired = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;

    bed.pause(0, true);
    for (f, value) in [(F::Write, Some(json!(1))), (F::Renew, None)] {
        let started = Instant::now();
        let done = completion(
            p0.as_mut(),
            &clock,
            inv(f.clone(), "k", acquired.token, value),
        )
        .await;
        one_request_timeout(cfg, started.elapsed(), &f.to_string());
        assert_eq!(done.kind, OpType::Info, "{f}: {done:?}");
    }
    // Not waiting at the service: the acquire is one request, bounded as such.
    let impatient = ClientConfig {
        acquire_timeout_ms: cfg.request_timeout_ms,
        ..cfg.clone()
    };
    let mut p1 = bed.client(1, &impatient).await;
    let started = Instant::now();
    let acquire = completion(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(acquire.kind, profile.paused_acquire, "{acquire:?}");
    assert!(started.elapsed() <= cfg.request_timeout() + SLACK);
    // A read has no effect, so an unanswered one is a fail, bounded the same way.
    for reader in [&mut p0, &mut p1] {
        let started = Instant::now();
        let read = completion(reader.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
        assert_eq!(read.kind, OpType::Fail, "{read:?}");
        assert!(started.elapsed() <= cfg.request_timeout() + SLACK);
    }
    bed.pause(0, false);

    let read = ok(p1.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert!(
        read.value.as_ref().is_some_and(|v| v.is_array()),
        "{read:?}"
    );
    let other = ok(p1.as_mut(), &clock, inv(F::Acquire, "other", None, None)).await;
    B::after_resume(&bed, &clock, &other).await;
}

/// A killed server fails its probe; its clients' requests end within the
/// request timeout rather than hang; after a restart they are served again.
pub async fn a_killed_server_fails_requests_fast_and_serves_after_restart<B: TestBed>() {
    let profile = B::profile();
    let cfg = &profile.config;
    let mut bed = start::<B>(WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let mut p0 = bed.client(0, cfg).await;
    ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    ok(p0.as_mut(), &clock, write_k(None, 1)).await;

    bed.kill(0);
    let started = Instant::now();
    let probe = bed.target.probe(&bed.nodes[0], PROBE_TIMEOUT).await;
    assert!(probe.is_err(), "{probe:?}");
    assert!(started.elapsed() <= PROBE_TIMEOUT + SLACK);
    let asks = [
        (F::Write, Some(json!(2)), Some(profile.write_to_killed)),
        (F::Campaign, None, None),
    ];
    for (f, value, expected) in asks {
        let started = Instant::now();
        let lost = completion(p0.as_mut(), &clock, inv(f.clone(), "k", None, value)).await;
        assert_ne!(lost.kind, OpType::Ok, "{f}: {lost:?}");
        if let Some(expected) = expected {
            assert_eq!(lost.kind, expected, "{f}: {lost:?}");
        }
        let took = started.elapsed();
        assert!(took <= cfg.request_timeout() + SLACK, "{f} took {took:?}");
    }
    let fresh = refused_while_down::<B>(&bed, &clock).await;

    bed.restart(0).await;
    if let Some(mut p1) = fresh {
        // The first request after the restart already gets through: a
        // refused connection is retried once, since nothing was sent.
        ok(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    }
    // p0's connection died with the server; its next request redials.
    let read = ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    let kept = if profile.durable {
        json!([1])
    } else {
        json!([])
    };
    assert_eq!(read.value, Some(kept), "{read:?}");
}

/// A client built while the server is down, after three acquires refused
/// within the request timeout each, for beds that can build one.
async fn refused_while_down<B: TestBed>(
    bed: &Bed<B>,
    clock: &HistoryClock,
) -> Option<Box<dyn Client>> {
    let profile = B::profile();
    if !profile.builds_clients_while_down {
        return None;
    }
    let mut p1 = bed.client(1, &profile.config).await;
    for _ in 0..3 {
        let started = Instant::now();
        let refused = completion(p1.as_mut(), clock, inv(F::Acquire, "k", None, None)).await;
        assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
        assert!(started.elapsed() <= profile.config.request_timeout() + SLACK);
    }
    Some(p1)
}

/// Acquire and release pairs from 8 processes on one key for 2 s: no two
/// holds overlap. Prints the throughput, for the README
/// (`cargo test ... contended -- --nocapture`).
pub async fn contended_grants_stay_exclusive<B: TestBed>() {
    let profile = B::profile();
    let bed = start::<B>(WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let run_for = Duration::from_secs(2);
    let mut tasks = Vec::new();
    for p in 0..8u64 {
        let client = bed.client(p, &profile.config).await;
        tasks.push(tokio::spawn(acquire_and_release(client, clock, run_for)));
    }
    let mut ops = 0;
    let mut holds = Vec::new();
    for task in tasks {
        let (n, h) = task.await.expect("a process task");
        ops += n;
        holds.extend(h);
    }
    println!(
        "{}: {:.0} ops/s ({} grants) from 8 processes",
        B::NAME,
        ops as f64 / run_for.as_secs_f64(),
        holds.len()
    );
    assert!(!holds.is_empty());
    // In grant order (token order where there are tokens), each grant
    // completed after the previous holder invoked its release.
    holds.sort_by_key(|h| (h.token, h.granted_ns));
    for w in holds.windows(2) {
        if profile.tokens {
            assert!(w[1].token > w[0].token, "duplicate token {:?}", w[1].token);
        }
        assert!(
            w[1].granted_ns > w[0].released_ns,
            "overlapping holds: {w:?}"
        );
    }
}

#[derive(Debug)]
struct Hold {
    token: Option<u64>,
    granted_ns: i64,
    released_ns: i64,
}

async fn acquire_and_release(
    mut client: Box<dyn Client>,
    clock: HistoryClock,
    run_for: Duration,
) -> (u64, Vec<Hold>) {
    let started = Instant::now();
    let (mut ops, mut holds) = (0u64, Vec::new());
    while started.elapsed() < run_for {
        let a = run(client.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        ops += 1;
        if a.completion.kind == OpType::Ok {
            let token = a.completion.token;
            let r = run(client.as_mut(), &clock, inv(F::Release, "k", token, None)).await;
            ops += 1;
            assert_eq!(r.completion.kind, OpType::Ok, "{:?}", r.completion);
            holds.push(Hold {
                token,
                granted_ns: a.at_ns,
                released_ns: r.invoked_ns,
            });
        }
    }
    (ops, holds)
}

/// Processes pinned to different nodes contend for one lock: the one on n2
/// waits while the one on n1 holds it.
pub async fn clients_on_different_nodes_share_one_lock<B: TestBed>() {
    let profile = B::profile();
    let cfg = &profile.config;
    let bed = B::start(3, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = bed.client(0, cfg).await;
    let mut p4 = bed.client(4, cfg).await;
    let held = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(held.node.as_deref(), Some("n1"));
    let waiter = tokio::spawn(async move {
        let done = run(p4.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        (p4, done)
    });
    // Within the lease: the holder keeps it.
    tokio::time::sleep(Duration::from_millis(1000).min(lease(cfg).mul_f64(0.8))).await;
    assert!(
        !waiter.is_finished(),
        "p4 on n2 was granted the lock p0 holds via n1"
    );
    ok(p0.as_mut(), &clock, inv(F::Release, "k", held.token, None)).await;
    let (_, granted) = waiter.await.expect("the waiting task");
    assert_eq!(granted.completion.kind, OpType::Ok, "{granted:?}");
    assert_eq!(granted.completion.node.as_deref(), Some("n2"));
    assert!(granted.completion.token > held.token);
}
