//! A venue's dead-man countdown ("cancel every order after N seconds unless told again"),
//! kept alive by pit on a timer of the connection's own runtime, off the engine thread.
//!
//! OKX ("Cancel All After") and Kraken ("CancelAllOrdersAfter") work the same way: pit
//! sets a countdown of `secs`, and sets it again before it runs out; should pit hang, die
//! or lose the network, the countdown runs out and the venue cancels every order of the
//! account by itself. [`keep`] is that refresher, whatever the venue; a venue says how to
//! set its countdown and whether its answer confirms it ([`Countdown`]).
//!
//! * Refreshed every third of the window ([`refresh_every`]), at a fixed rate from the
//!   start of the last confirmed refresh (a slow answer does not push the next one back),
//!   each given at most [`refresh_limit`]; a failed one is tried again a second later.
//! * "Armed" only once the venue's answer confirms the countdown; until then the status
//!   says "dead-man: not armed (why)" and the owner raises an alert.
//! * A refresh is skipped while the engine loop has not turned since the last one
//!   ([`PulseCheck::turned`]): a pit whose engine alone hangs (its connections alive) lets
//!   the countdown run out and the venue cancels every order; it arms again as soon as the
//!   loop turns.
//! * `secs` 0 turns the switch off: a countdown an earlier run left is disarmed (it would
//!   cancel this run's orders), confirmed by the venue, else an alert.

use super::pulse::PulseCheck;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What the refresher tells the connection task that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadManEvent {
    /// The venue confirmed the countdown (`again`: after it was not armed): publish the
    /// health now, not at the next unrelated message.
    Armed { again: bool },
    /// The countdown is not armed: why, for an alert.
    NotArmed(String),
    /// `dead_man_secs` 0, and a countdown an earlier run may have left is not confirmed
    /// disarmed.
    NotDisarmed(String),
}

/// One venue's countdown as [`keep`] drives it.
pub trait Countdown: Send + Sync + 'static {
    /// The venue as the texts name it: "OKX", "Kraken".
    const VENUE: &'static str;
    /// The venue's name for the call: "Cancel All After".
    const CALL: &'static str;
    /// The config table of `dead_man_secs`: "[live.okx]".
    const TABLE: &'static str;

    /// Set the countdown to `secs` (0: off), given at most `limit`; `Ok` only when the
    /// venue's answer confirms exactly that (else why not).
    fn set(&self, secs: u32, limit: Duration) -> impl Future<Output = Result<(), String>> + Send;
}

/// How often the countdown is refreshed: a third of the window (one lost refresh never
/// lets it fire).
pub fn refresh_every(secs: u32) -> Duration {
    Duration::from_millis(u64::from(secs) * 1000 / 3).max(Duration::from_secs(1))
}

/// How long one refresh may take before it is given up (and tried again): well under a
/// third of the window, so a refresh that hangs until the HTTP timeout cannot let the
/// countdown run out.
pub fn refresh_limit(secs: u32) -> Duration {
    (refresh_every(secs) / 2).max(Duration::from_millis(500))
}

/// How long disarming an earlier countdown may take.
const DISARM_LIMIT: Duration = Duration::from_secs(5);

/// Keep the countdown of `c` at `secs` until `out` closes (see the module's text);
/// `status` gets the status bar's words each time they change, `out` the events.
pub async fn keep<C, M>(
    c: C,
    secs: u32,
    mut engine: PulseCheck,
    status: impl Fn(String) + Send,
    out: UnboundedSender<M>,
) where
    C: Countdown,
    M: From<DeadManEvent> + Send,
{
    let venue = C::VENUE;
    let log = venue.to_lowercase();
    if secs == 0 {
        match bounded(&c, 0, DISARM_LIMIT).await {
            Ok(()) => {
                tracing::info!("{log}: {} off (0 confirmed)", C::CALL);
                status(format!("dead-man off ({} dead_man_secs = 0)", C::TABLE));
            }
            Err(e) => {
                tracing::warn!(error = %e, "{log}: {} not disarmed", C::CALL);
                status(format!(
                    "dead-man off, an earlier countdown maybe not ({e})"
                ));
                let _ = out.send(DeadManEvent::NotDisarmed(e).into());
            }
        }
        return;
    }
    let every = refresh_every(secs);
    let limit = refresh_limit(secs);
    let mut armed: Option<bool> = None;
    loop {
        let started = tokio::time::Instant::now();
        let next = if !engine.turned() {
            if armed != Some(false) {
                let e = format!(
                    "the engine loop has not turned for {} ms: not refreshed, {venue} cancels every order when the {secs}s countdown runs out",
                    every.as_millis()
                );
                tracing::error!("{log}: {e}");
                status(format!("dead-man: {e}"));
                let _ = out.send(DeadManEvent::NotArmed(e).into());
            }
            armed = Some(false);
            // Looked at again every second: the refresh resumes as soon as it turns.
            started + Duration::from_secs(1)
        } else {
            match bounded(&c, secs, limit).await {
                Ok(()) => {
                    if armed != Some(true) {
                        tracing::info!(secs, "{log}: {} armed", C::CALL);
                        status(format!("dead-man {secs}s armed"));
                        let again = armed == Some(false);
                        let _ = out.send(DeadManEvent::Armed { again }.into());
                    }
                    armed = Some(true);
                    // The venue's countdown began no earlier than this request left.
                    started + every
                }
                Err(e) => {
                    if armed != Some(false) {
                        tracing::warn!(error = %e, "{log}: {} not armed", C::CALL);
                        status(format!("dead-man: not armed ({e})"));
                        let _ = out.send(DeadManEvent::NotArmed(e).into());
                    }
                    armed = Some(false);
                    started + Duration::from_secs(1)
                }
            }
        };
        if out.is_closed() {
            return;
        }
        tokio::time::sleep_until(next).await;
    }
}

/// One call of [`Countdown::set`], given up after `limit`.
async fn bounded<C: Countdown>(c: &C, secs: u32, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, c.set(secs, limit)).await {
        Err(_) => Err(format!(
            "no answer from {} within {} ms",
            C::VENUE,
            limit.as_millis()
        )),
        Ok(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Heartbeat;
    use crate::venue::live::pulse::EngineWatch;
    use std::sync::{Arc, Mutex};

    /// A venue whose answers the test scripts: each call's `secs` is noted; it confirms
    /// unless `refuse` is set, and answers after `delay`.
    #[derive(Clone, Default)]
    struct Venue {
        calls: Arc<Mutex<Vec<(u32, tokio::time::Instant)>>>,
        refuse: Arc<Mutex<bool>>,
        delay: Duration,
    }

    impl Countdown for Venue {
        const VENUE: &'static str = "Test";
        const CALL: &'static str = "Cancel After";
        const TABLE: &'static str = "[live.test]";
        fn set(&self, secs: u32, _: Duration) -> impl Future<Output = Result<(), String>> + Send {
            let me = self.clone();
            async move {
                me.calls
                    .lock()
                    .unwrap()
                    .push((secs, tokio::time::Instant::now()));
                tokio::time::sleep(me.delay).await;
                if *me.refuse.lock().unwrap() {
                    Err("refused".into())
                } else {
                    Ok(())
                }
            }
        }
    }

    struct Seen {
        status: Arc<Mutex<Vec<String>>>,
        events: tokio::sync::mpsc::UnboundedReceiver<DeadManEvent>,
    }

    fn start(v: &Venue, secs: u32, watch: &EngineWatch) -> Seen {
        let status = Arc::new(Mutex::new(Vec::new()));
        let st = status.clone();
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(keep(
            v.clone(),
            secs,
            watch.check(),
            move |s| st.lock().unwrap().push(s),
            tx,
        ));
        Seen { status, events }
    }

    fn last(s: &Seen) -> String {
        s.status.lock().unwrap().last().cloned().unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn refreshed_a_third_of_the_window_apart_and_armed_only_once_confirmed() {
        let v = Venue {
            delay: Duration::from_millis(700),
            ..Default::default()
        };
        let watch = EngineWatch::default();
        let pulse = Heartbeat::default();
        watch.attach(pulse.clone());
        let mut s = start(&v, 30, &watch);
        let t0 = tokio::time::Instant::now();
        for _ in 0..3 {
            pulse.beat();
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            s.events.recv().await,
            Some(DeadManEvent::Armed { again: false })
        );
        assert_eq!(last(&s), "dead-man 30s armed");
        let calls = v.calls.lock().unwrap().clone();
        // At 0 and 10 s: a fixed rate from each start, the 0.7 s answers not added on.
        let at: Vec<u128> = calls.iter().map(|(_, t)| (*t - t0).as_millis()).collect();
        assert_eq!(at, [0, 10_000], "{at:?}");
        assert!(calls.iter().all(|(secs, _)| *secs == 30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_stands_still_is_not_refreshed_for_and_armed_again_once_it_turns() {
        let v = Venue::default();
        let watch = EngineWatch::default();
        let pulse = Heartbeat::default();
        watch.attach(pulse.clone());
        let mut s = start(&v, 30, &watch);
        pulse.beat();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            s.events.recv().await,
            Some(DeadManEvent::Armed { again: false })
        );
        // The loop stands still from here for 35 s: the refresh due at 10 s is not made
        // (the venue's countdown runs out at 30 s).
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(
            v.calls.lock().unwrap().len(),
            1,
            "refreshed for a hung loop"
        );
        match s.events.recv().await {
            Some(DeadManEvent::NotArmed(why)) => {
                assert!(why.contains("engine loop has not turned"), "{why}");
                assert!(why.contains("Test cancels every order"), "{why}");
            }
            e => panic!("{e:?}"),
        }
        assert!(
            last(&s).starts_with("dead-man: the engine loop"),
            "{}",
            last(&s)
        );
        // It turns: armed again within a second.
        pulse.beat();
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(
            s.events.recv().await,
            Some(DeadManEvent::Armed { again: true })
        );
        assert_eq!(v.calls.lock().unwrap().len(), 2);
        assert_eq!(last(&s), "dead-man 30s armed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_said_once_and_tried_again_every_second() {
        let v = Venue::default();
        *v.refuse.lock().unwrap() = true;
        let watch = EngineWatch::default();
        let mut s = start(&v, 30, &watch);
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        assert_eq!(v.calls.lock().unwrap().len(), 4, "at 0, 1, 2 and 3 s");
        assert_eq!(
            s.events.recv().await,
            Some(DeadManEvent::NotArmed("refused".into()))
        );
        assert!(s.events.try_recv().is_err(), "said once");
        assert_eq!(last(&s), "dead-man: not armed (refused)");
        *v.refuse.lock().unwrap() = false;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            s.events.recv().await,
            Some(DeadManEvent::Armed { again: true })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_that_hangs_is_given_up_well_within_the_window() {
        let v = Venue {
            delay: Duration::from_secs(3600),
            ..Default::default()
        };
        let watch = EngineWatch::default();
        let mut s = start(&v, 30, &watch);
        match s.events.recv().await {
            Some(DeadManEvent::NotArmed(why)) => {
                assert_eq!(why, "no answer from Test within 5000 ms")
            }
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn off_disarms_an_earlier_countdown_and_says_so_or_alerts() {
        let v = Venue::default();
        let watch = EngineWatch::default();
        let s = start(&v, 0, &watch);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(v.calls.lock().unwrap().first().map(|c| c.0), Some(0));
        assert_eq!(last(&s), "dead-man off ([live.test] dead_man_secs = 0)");
        let v = Venue::default();
        *v.refuse.lock().unwrap() = true;
        let mut s = start(&v, 0, &watch);
        assert_eq!(
            s.events.recv().await,
            Some(DeadManEvent::NotDisarmed("refused".into()))
        );
        assert_eq!(
            last(&s),
            "dead-man off, an earlier countdown maybe not (refused)"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(v.calls.lock().unwrap().len(), 1, "disarmed once, not kept");
    }

    #[test]
    fn the_countdown_is_refreshed_three_times_a_window() {
        assert_eq!(refresh_every(60), Duration::from_secs(20));
        assert_eq!(refresh_every(30), Duration::from_secs(10));
        assert_eq!(refresh_every(10), Duration::from_millis(3333));
        assert_eq!(refresh_every(5), Duration::from_millis(1666));
        // One refresh given up well before the next is due: a hung one cannot eat the
        // window.
        for secs in [5, 10, 30, 60, 120, 3600] {
            assert!(refresh_limit(secs) * 3 <= refresh_every(secs) * 2, "{secs}");
            assert!(refresh_limit(secs) < Duration::from_secs(u64::from(secs)) / 3);
        }
    }
}
