//! Packet faults show in measured round trips and counts, only towards the
//! chosen peers, and heal completely.
mod common;

use splitbrain_docker::fault::packet;
use splitbrain_docker::{Cluster, ExecOutput, PacketFault};

use common::or_skip;

/// `ping` from n1 to n2 with `flags`, bounded by `timeout_s` seconds.
async fn ping_n2_from_n1(cluster: &Cluster, flags: &[&str], timeout_s: u64) -> ExecOutput {
    let ip = cluster.node("n2").unwrap().ip.to_string();
    let mut argv = vec!["ping"];
    argv.extend_from_slice(flags);
    argv.push(ip.as_str());
    cluster
        .exec("n1", &argv, std::time::Duration::from_secs(timeout_s))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_of_200ms_shows_in_round_trips_to_the_chosen_peer_only() {
    let (engine, cluster, run_id) =
        or_skip!(common::cluster_or_skip("delay_of_200ms_shows_in_round_trips", "delay", 3).await);

    let baseline = common::mean_rtt_ms(&cluster, "n1", "n2", 5).await.unwrap();
    assert!(baseline < 50.0, "baseline rtt {baseline} ms");

    let fault = PacketFault {
        delay_ms: 200,
        ..PacketFault::default()
    };
    packet::apply(&cluster, "n1", &["n2".to_string()], &fault)
        .await
        .unwrap();
    let delayed = common::mean_rtt_ms(&cluster, "n1", "n2", 5).await.unwrap();
    let other = common::mean_rtt_ms(&cluster, "n1", "n3", 5).await.unwrap();
    eprintln!(
        "rtt n1->n2 baseline {baseline:.3} ms, delayed {delayed:.3} ms; n1->n3 {other:.3} ms"
    );
    assert!(
        (195.0..400.0).contains(&delayed),
        "delayed rtt {delayed} ms"
    );
    assert!(other < 50.0, "n3 was not chosen, its rtt is {other} ms");

    packet::heal(&cluster, "n1").await.unwrap();
    let healed = common::mean_rtt_ms(&cluster, "n1", "n2", 5).await.unwrap();
    assert!(healed < 50.0, "healed rtt {healed} ms");
    // Healing twice is a no-op.
    packet::heal(&cluster, "n1").await.unwrap();

    // The delayer's log is collected with the node's other logs.
    let logs = tempfile::tempdir().unwrap();
    let report = cluster.teardown(Some(logs.path())).await.unwrap();
    assert!(report.log_failures.is_empty(), "{report:?}");
    assert!(logs.path().join("n1/delayer.log").exists());
    assert_eq!(common::leftovers(&engine, &run_id).await, (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_loss_silences_and_full_duplication_doubles_replies() {
    let (engine, cluster, run_id) = or_skip!(
        common::cluster_or_skip(
            "total_loss_silences_and_full_duplication_doubles",
            "loss",
            2,
        )
        .await
    );
    let peers = ["n2".to_string()];

    packet::apply_to_all(&cluster, "n1", 0, 0, 100.0)
        .await
        .unwrap();
    assert!(
        !common::pings(&cluster, "n1", "n2").await,
        "100% loss must silence n1 -> n2"
    );

    let dup = PacketFault {
        duplicate_pct: 100.0,
        ..PacketFault::default()
    };
    packet::apply(&cluster, "n1", &peers, &dup).await.unwrap();
    let out = ping_n2_from_n1(&cluster, &["-c", "5", "-i", "0.2", "-W", "1"], 15).await;
    // "5 packets transmitted, 5 received, +4 duplicates, ..."; ping stops
    // at the fifth reply, so the last copy may come too late to count.
    let duplicates: u32 = out
        .stdout
        .split(", ")
        .find_map(|part| {
            part.strip_prefix('+')?
                .strip_suffix(" duplicates")?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    assert!(duplicates >= 4, "{}", out.stdout);

    packet::heal(&cluster, "n1").await.unwrap();
    assert!(common::pings(&cluster, "n1", "n2").await);
    common::teardown_leaving_nothing(&engine, cluster, &run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_packets_overtake_delayed_ones() {
    let (engine, cluster, run_id) = or_skip!(
        common::cluster_or_skip("reordered_packets_overtake_delayed_ones", "reorder", 2).await
    );
    let fault = PacketFault {
        delay_ms: 300,
        reorder_pct: 50.0,
        seed: 11,
        ..PacketFault::default()
    };
    packet::apply(&cluster, "n1", &["n2".to_string()], &fault)
        .await
        .unwrap();
    let out = ping_n2_from_n1(&cluster, &["-c", "16", "-i", "0.05", "-W", "2"], 20).await;
    // "64 bytes from ...: icmp_seq=3 ttl=64 time=300 ms"
    let rtts: Vec<f64> = out
        .stdout
        .lines()
        .filter_map(|l| l.split("time=").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    let fast = rtts.iter().filter(|&&t| t < 50.0).count();
    let slow = rtts.iter().filter(|&&t| t >= 290.0).count();
    assert_eq!(fast + slow, rtts.len(), "{}", out.stdout);
    assert!(
        fast >= 2 && slow >= 2,
        "both immediate and delayed packets: {}",
        out.stdout
    );
    // Sent 50 ms apart, a packet let through at once arrives before the
    // delayed ones sent earlier: the replies come back out of order.
    let order: Vec<u32> = out
        .stdout
        .lines()
        .filter_map(|l| l.split("icmp_seq=").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(
        order.windows(2).any(|w| w[1] < w[0]),
        "no reordering seen: {order:?}"
    );

    packet::heal(&cluster, "n1").await.unwrap();
    common::teardown_leaving_nothing(&engine, cluster, &run_id).await;
}
