//! The suite's behaviours, listed once: the [`Behaviour`] enum a bed names
//! what it lacks with, and the [`crate::conformance`] macro that turns the
//! list into one test per behaviour a bed claims.

/// Calls macro `$m` with the name of every behaviour of the suite: the one
/// list the [`Behaviour`] enum and [`crate::conformance`]'s tests come from.
#[macro_export]
macro_rules! with_behaviours {
    ($m:ident) => {
        $m! {
            successive_grants_get_increasing_tokens_and_a_lease_bound,
            a_held_lock_excludes_others_until_released,
            an_expired_lease_lets_another_process_acquire,
            a_fenced_write_with_a_stale_token_is_refused,
            an_unguarded_stale_write_loses_an_update,
            requests_without_a_read_or_a_hold_are_refused_client_side,
            a_grant_after_a_long_wait_is_bounded_from_the_grant,
            an_acquire_that_waits_past_its_timeout_gives_up,
            requests_to_a_paused_server_end_info_within_the_request_timeout,
            a_killed_server_fails_requests_fast_and_serves_after_restart,
            contended_grants_stay_exclusive,
            clients_on_different_nodes_share_one_lock,
        }
    };
}

macro_rules! behaviour_enum {
    ($($name:ident),* $(,)?) => {
        /// Every behaviour of the suite, each variant named as the suite's
        /// function, and the test [`crate::conformance`] generates, that it
        /// stands for.
        #[allow(
            non_camel_case_types,
            reason = "the macros name the variant, the function and the test with one identifier"
        )]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Behaviour {
            $($name,)*
        }
    };
}

crate::with_behaviours!(behaviour_enum);

/// Instantiates the suite for one bed: a test for every behaviour, but for
/// those the bed `lacks`, each with the reason why. Naming a behaviour that
/// does not exist, or one twice, fails the build.
///
/// ```ignore
/// splitbrain_testkit::conformance!(RedisBed {
///     lacks: [clients_on_different_nodes_share_one_lock => "one node serves every client"],
/// });
/// ```
#[macro_export]
macro_rules! conformance {
    ($bed:ty { lacks: [$($lacked:ident => $why:literal),* $(,)?] $(,)? }) => {
        $crate::conformance!(@with ($) $bed { $($lacked => $why),* });
    };
    // `$d` is a `$` for the macros defined here, which cannot write one.
    (@with ($d:tt) $bed:ty { $($lacked:ident => $why:literal),* }) => {
        macro_rules! conformance_test {
            $(($lacked) => {};)*
            ($d name:ident) => {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $d name() {
                    $crate::suite::$d name::<$bed>().await;
                }
            };
        }
        macro_rules! conformance_tests {
            ($d($d name:ident),* $d(,)?) => {
                $d(conformance_test!($d name);)*
            };
        }
        $crate::with_behaviours!(conformance_tests);

        #[test]
        fn behaviours_not_shown_say_why() {
            // Each name must be a behaviour, and a match names each once.
            fn lacked(behaviour: $crate::behaviours::Behaviour) -> Option<&'static str> {
                match behaviour {
                    $($crate::behaviours::Behaviour::$lacked => Some($why),)*
                    _ => None,
                }
            }
            $(
                let why = lacked($crate::behaviours::Behaviour::$lacked).unwrap_or_default();
                assert!(!why.trim().is_empty(), "{} gives no reason", stringify!($lacked));
                println!("{}: {}", stringify!($lacked), why);
            )*
        }
    };
}
