//! The shim and clockctl on real dynamically linked programs of this host
//! (`python3`, `date`): each test gives a program the shim through
//! `LD_PRELOAD`, changes the state file with clockctl, and brackets what the
//! program reads between real readings taken by this (unshimmed) process.

use std::io::Write;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use splitbrain_clockshim::{ClockRecord, ClockState, Strobe, LAYOUT_VERSION, MAGIC, RECORD_LEN};

mod common;

use common::*;

#[test]
fn zero_offset_reads_real_time() {
    let node = Node::new();
    node.set(ClockState::REAL);
    let mut probe = shimmed_probe(&node);
    bracketed_sample(&node, &mut probe).assert_real("zero offset");
}

#[test]
fn without_state_file_the_shim_reads_real_time() {
    let node = Node::new();
    let mut probe = shimmed_probe(&node);
    bracketed_sample(&node, &mut probe).assert_real("no state file");

    let mut unset = python3();
    unset.env("LD_PRELOAD", node.path("libclockshim.so"));
    let mut probe = Probe::start(unset);
    bracketed_sample(&node, &mut probe).assert_wall_offset(0, "no env var");
}

#[test]
fn bump_of_120_s_moves_wall_clock_and_not_monotonic() {
    let node = Node::new();
    node.set(ClockState::offset(120 * SEC_NS));

    let mut probe = shimmed_probe(&node);
    let s = bracketed_sample(&node, &mut probe);
    s.assert_wall_offset(120 * SEC_NS, "python after +120 s");
    s.assert_mono_real("python after +120 s");

    // coreutils date reads the time through timespec_get.
    let before = real_wall_ns();
    let out = node
        .shimmed("date")
        .arg("+%s%N")
        .output()
        .expect("failed to run date");
    let after = real_wall_ns();
    let shown: i64 = String::from_utf8(out.stdout)
        .expect("date prints ASCII")
        .trim()
        .parse()
        .expect("date +%s%N prints an integer");
    assert!(
        (before..=after).contains(&(shown - 120 * SEC_NS)),
        "date showed {shown}, real was [{before}, {after}]"
    );
}

#[test]
fn running_process_sees_live_updates_of_the_state_file() {
    let node = Node::new();
    node.set(ClockState::REAL);
    let mut probe = shimmed_probe(&node);
    bracketed_sample(&node, &mut probe).assert_wall_offset(0, "before the bump");

    node.set(ClockState::offset(120 * SEC_NS));
    let s = bracketed_sample(&node, &mut probe);
    s.assert_wall_offset(120 * SEC_NS, "after a live +120 s");
    s.assert_mono_real("after a live +120 s");

    node.set(ClockState::offset(-30 * SEC_NS));
    bracketed_sample(&node, &mut probe).assert_wall_offset(-30 * SEC_NS, "after a live -30 s");

    node.set(ClockState::REAL);
    bracketed_sample(&node, &mut probe).assert_real("after the heal");
}

#[test]
fn state_file_created_after_start_is_picked_up_within_a_second() {
    let node = Node::new();
    let mut probe = shimmed_probe(&node);
    bracketed_sample(&node, &mut probe).assert_wall_offset(0, "no file yet");
    node.set(ClockState::offset(120 * SEC_NS));
    // The shim looks for a missing file again at most once a second.
    thread::sleep(Duration::from_millis(1_100));
    bracketed_sample(&node, &mut probe).assert_wall_offset(120 * SEC_NS, "file created later");
}

#[test]
fn rate_two_makes_monotonic_and_wall_clocks_advance_twice_as_fast() {
    let node = Node::new();
    let mut probe = probe_at_rate(&node, 2.0);
    let a = bracketed_sample(&node, &mut probe);
    thread::sleep(Duration::from_millis(1_000));
    let b = bracketed_sample(&node, &mut probe);

    // Real time between the two reads lies between these bounds.
    let real_min = (b.mono_before - a.mono_after) as f64;
    let real_max = (b.mono_after - a.mono_before) as f64;
    let mono_step = (b.mono - a.mono) as f64;
    let wall_step = (b.wall - a.wall) as f64;
    for (name, step) in [("monotonic", mono_step), ("wall", wall_step)] {
        assert!(
            step >= 2.0 * real_min * 0.999 && step <= 2.0 * real_max * 1.001,
            "{name} advanced {step} ns while real time advanced [{real_min}, {real_max}] ns"
        );
    }

    // Healing puts the wall clock back on real time, and the monotonic
    // clock keeps the lead it gained instead of stepping back.
    node.set(ClockState::REAL);
    let c = bracketed_sample(&node, &mut probe);
    c.assert_wall_offset(0, "wall after healing the rate");
    let lead = c.mono - c.mono_after;
    assert!(c.mono >= b.mono, "monotonic went back on heal");
    assert!(
        lead > 900_000_000,
        "monotonic lost the lead it gained at rate 2 ({lead} ns)"
    );
    thread::sleep(Duration::from_millis(500));
    let d = bracketed_sample(&node, &mut probe);
    let real_max = (d.mono_after - c.mono_before) as f64;
    let real_min = (d.mono_before - c.mono_after) as f64;
    let step = (d.mono - c.mono) as f64;
    assert!(
        step >= real_min && step <= real_max,
        "after the heal monotonic advanced {step} ns for real [{real_min}, {real_max}]"
    );
}

#[test]
fn strobe_alternates_the_wall_clock_between_two_offsets() {
    let node = Node::new();
    node.set(ClockState {
        strobe: Some(Strobe {
            delta_ns: 10 * SEC_NS,
            period_ns: 200_000_000,
        }),
        ..ClockState::REAL
    });
    let mut probe = shimmed_probe(&node);
    let (mut real, mut shifted) = (0, 0);
    let deadline = Instant::now() + Duration::from_millis(STROBE_WATCH_MS);
    while (real < 3 || shifted < 3) && Instant::now() < deadline {
        let s = bracketed_sample(&node, &mut probe);
        s.assert_mono_real("strobe");
        let within =
            |offset_ns: i64| (s.wall_before..=s.wall_after).contains(&(s.wall - offset_ns));
        if within(0) {
            real += 1;
        } else if within(10 * SEC_NS) {
            shifted += 1;
        } else {
            panic!(
                "strobe read {} outside real [{}, {}] + 0 or 10 s",
                s.wall, s.wall_before, s.wall_after
            );
        }
        thread::sleep(Duration::from_millis(17));
    }
    assert!(
        real >= 3 && shifted >= 3,
        "in {STROBE_WATCH_MS} ms the strobe showed real time {real} times and +10 s {shifted} times"
    );
}

/// Publishes many states while the probe reads both clocks in a tight loop:
/// every read must be one of the published states, never a torn mix.
fn watch_while_flapping(
    node: &Node,
    states: [ClockState; 2],
    watch_secs: f64,
) -> (u64, u64, String) {
    let mut probe = shimmed_probe(node);
    writeln!(probe.stdin, "watch {watch_secs}").expect("failed to write to the probe");
    let deadline = Instant::now() + Duration::from_secs_f64(watch_secs);
    let mut published = 0;
    while Instant::now() < deadline {
        node.set(states[published % 2]);
        published += 1;
    }
    assert!(published > 10, "only {published} states published");
    let line = probe
        .lines
        .recv_timeout(Duration::from_millis(PROBE_REPLY_TIMEOUT_MS))
        .expect("the watch reported");
    let mut f = line.split_whitespace();
    let reads = f.next().expect("reads").parse().expect("integer");
    let back = f.next().expect("back").parse().expect("integer");
    (reads, back, f.next().unwrap_or("").to_owned())
}

#[test]
fn every_read_while_offsets_flap_shows_a_published_offset() {
    let node = Node::new();
    node.set(ClockState::REAL);
    let (reads, back, seen) = watch_while_flapping(
        &node,
        [ClockState::offset(1_000 * SEC_NS), ClockState::REAL],
        1.5,
    );
    assert!(reads > 10_000, "only {reads} reads");
    assert_eq!(back, 0, "monotonic went back {back} times");
    // Relative to the first read, which may have caught either state.
    assert!(
        seen == "0,1000" || seen == "-1000,0",
        "wall minus monotonic took values other than the two published: {seen}"
    );
}

#[test]
fn monotonic_never_goes_back_while_rates_flap() {
    let node = Node::new();
    node.set(ClockState::REAL);
    let slow = ClockState {
        rate: 0.5,
        ..ClockState::REAL
    };
    let fast = ClockState {
        rate: 3.0,
        ..ClockState::REAL
    };
    let (reads, back, _) = watch_while_flapping(&node, [fast, slow], 1.5);
    assert!(reads > 10_000, "only {reads} reads");
    assert_eq!(back, 0, "monotonic went back {back} times in {reads} reads");
}

/// A file left with an odd seq (a writer caught, or killed, mid-write) is
/// not trusted: the reader waits a bounded time, then reads real time; the
/// next clockctl run repairs it.
#[test]
fn state_caught_mid_write_is_not_used_and_clockctl_repairs_it() {
    let node = Node::new();
    node.set(ClockState::REAL);
    let mid_write = ClockRecord {
        magic: MAGIC,
        version: LAYOUT_VERSION,
        seq: 5,
        state: ClockState::offset(120 * SEC_NS),
        anchor_mono_ns: 0,
        anchor_drift_ns: 0,
    };
    let mut file = vec![0u8; splitbrain_clockshim::FILE_SIZE];
    file[..RECORD_LEN].copy_from_slice(&mid_write.encode());
    std::fs::write(node.state_path(), &file).expect("failed to forge the state file");

    let mut probe = shimmed_probe(&node);
    let s = bracketed_sample(&node, &mut probe);
    s.assert_wall_offset(0, "odd seq");
    assert!(
        s.wall_after - s.wall_before < 5 * SEC_NS,
        "a read against an odd seq took {} ns",
        s.wall_after - s.wall_before
    );

    node.set(ClockState::offset(60 * SEC_NS));
    let repaired = node.record();
    assert_eq!(repaired.seq, 6);
    assert_eq!(
        repaired.anchor_drift_ns, 0,
        "torn anchors are not carried over"
    );
    bracketed_sample(&node, &mut probe).assert_wall_offset(60 * SEC_NS, "after the repair");
}

/// After a rate fault left the monotonic clock ahead, a state that cannot
/// be read (a writer stuck mid-write) must not step it back to real time.
#[test]
fn monotonic_holds_still_rather_than_stepping_back_when_the_state_is_unreadable() {
    let node = Node::new();
    let mut probe = probe_at_rate(&node, 3.0);
    thread::sleep(Duration::from_millis(500));
    node.set(ClockState::REAL);
    let ahead = bracketed_sample(&node, &mut probe);
    let lead = ahead.mono - ahead.mono_after;
    assert!(
        lead > 800_000_000,
        "rate 3 for 500 ms gave a lead of only {lead} ns"
    );

    // An odd seq, written in place so the probe's mapping sees it.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(node.state_path())
        .expect("failed to open the state file");
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(8)).expect("seek");
    file.write_all(&7u32.to_le_bytes())
        .expect("failed to write seq");
    drop(file);

    let held = bracketed_sample(&node, &mut probe);
    assert!(
        held.mono >= ahead.mono,
        "monotonic stepped back from {} to {} when the state became unreadable",
        ahead.mono,
        held.mono
    );
}

#[test]
fn clockctl_writes_the_layout_this_crate_encodes() {
    let node = Node::new();
    let state = ClockState {
        offset_ns: -123_456_789,
        rate: 1.5,
        strobe: Some(Strobe {
            delta_ns: 7 * SEC_NS,
            period_ns: 300_000_000,
        }),
    };
    let argv = state
        .clockctl_set_argv("unused", node.state_path().to_str().expect("utf-8 path"))
        .expect("valid state");
    let out = node.clockctl(&argv[1..]);
    let printed = String::from_utf8(out.stdout).expect("clockctl prints ASCII");
    let first = node.record();
    assert_eq!(
        ClockRecord::parse_clockctl(&printed),
        Some(first),
        "{printed}"
    );
    let shown = node.clockctl(&["show".to_owned(), argv[2].clone()]);
    let shown = String::from_utf8(shown.stdout).expect("clockctl prints ASCII");
    assert_eq!(ClockRecord::parse_clockctl(&shown), Some(first), "{shown}");
    assert_eq!(first.magic, MAGIC);
    assert_eq!(first.version, LAYOUT_VERSION);
    assert_eq!(first.seq, 2);
    assert_eq!(first.state, state);
    assert_eq!(first.anchor_drift_ns, 0);
    assert_eq!(
        std::fs::metadata(node.state_path())
            .expect("state file")
            .len(),
        splitbrain_clockshim::FILE_SIZE as u64
    );

    thread::sleep(Duration::from_millis(200));
    node.set(ClockState::REAL);
    let second = node.record();
    assert_eq!(second.seq, 4);
    assert_eq!(second.state, ClockState::REAL);
    // 200 ms or more at rate 1.5 left at least 100 ms of monotonic drift.
    let elapsed = second.anchor_mono_ns - first.anchor_mono_ns;
    assert_eq!(
        second.anchor_drift_ns,
        elapsed / 2,
        "drift is (rate - 1) * elapsed"
    );
}

#[test]
fn clockctl_refuses_bad_parameters() {
    let node = Node::new();
    let path = node.state_path().to_str().expect("utf-8").to_owned();
    let nan_rate = ClockState {
        rate: f64::NAN,
        ..ClockState::REAL
    }
    .encode();
    let hex: String = nan_rate.iter().map(|b| format!("{b:02x}")).collect();
    let slow_strobe = ClockState {
        strobe: Some(Strobe {
            delta_ns: SEC_NS,
            period_ns: splitbrain_clockshim::MAX_STROBE_PERIOD_NS + 1,
        }),
        ..ClockState::REAL
    }
    .encode();
    let slow_hex: String = slow_strobe.iter().map(|b| format!("{b:02x}")).collect();
    let far = ClockState::offset(splitbrain_clockshim::MAX_OFFSET_NS + 1).encode();
    let far_hex: String = far.iter().map(|b| format!("{b:02x}")).collect();
    for args in [
        vec!["set".to_owned(), path.clone(), hex],
        vec!["set".to_owned(), path.clone(), slow_hex],
        vec!["set".to_owned(), path.clone(), far_hex],
        vec!["set".to_owned(), path.clone(), "zz".repeat(32)],
        vec!["set".to_owned(), path.clone(), "00".to_owned()],
        vec!["bogus".to_owned()],
    ] {
        let out = node.clockctl(&args);
        assert_eq!(out.status.code(), Some(2), "clockctl {args:?}");
    }
    assert!(
        !Path::new(&path).exists(),
        "a refused set must not create the file"
    );
}
