//! Sends keep to the channel's rate, and a pause of the channel holds every tick's sends.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::fake_messenger::rate_limited;
use super::fake_renderer::FakeRenderer;
use super::world::{start, World};
use crate::clock::Clock;
use crate::delivery::{run_tick, Outgoing, SenderConfig};
use crate::messenger::{Messenger, SendOutcome};
use crate::subscriber::{Address, Channel, Platform};

#[test]
fn pacing_spaces_sends_at_the_channel_rate() {
    let world = World::campaign_to(1..=30).sending_per_second(5);
    world.tick();
    let times: Vec<DateTime<Utc>> = world.sends().into_iter().map(|(_, t)| t).collect();
    assert_eq!(times.len(), 30);
    // A wave takes the slots of the next second (5 at 5/s) and starts at the first of them.
    for (i, wave) in times.chunks(5).enumerate() {
        assert!(wave.iter().all(|&t| t == wave[0]), "{times:?}");
        assert_eq!(wave[0] - times[0], Duration::seconds(1) * i as i32);
    }
    // No second holds more than the rate's five messages.
    for &from in &times {
        let within = times
            .iter()
            .filter(|&&t| t >= from && t < from + Duration::seconds(1))
            .count();
        assert!(within <= 5, "{times:?}");
    }
}

#[test]
fn a_huge_retry_after_does_not_panic_the_tick() {
    let world = World::campaign_to(1..=1);
    world.answer(1, [rate_limited(u64::MAX)]);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        world.tick_as("t1", Duration::seconds(20))
    }));
    assert!(outcome.is_ok_and(|r| r.is_ok()));
    assert!(world.pace().paused_until <= Some(start() + Duration::seconds(3_600)));
}

#[test]
fn a_pause_recorded_by_an_overlapping_tick_stops_sends_already_planned() {
    let paused_at = Mutex::new(None);
    let world = World::campaign_to(1..=5);
    world.on_send(2, |w| {
        let until = w.now() + Duration::seconds(30);
        w.pause_channel_until(until);
        *paused_at.lock().unwrap() = Some((w.now(), until));
    });
    let report = world.tick();
    let (from, until) = paused_at.lock().unwrap().unwrap();
    let during: Vec<_> = world
        .sends()
        .into_iter()
        .filter(|(_, at)| *at > from && *at < until)
        .collect();
    assert!(
        during.is_empty(),
        "sent while the channel was paused: {during:?}"
    );
    assert_eq!(report.sent, 5, "the rest went out after the pause");
    assert!(world.each_sent_once());
}

/// Time shared by callers running on threads: a caller's sleep ends when every caller is asleep and
/// its wake-up is the earliest, so overlapping callers interleave as they would in real time.
struct Lockstep {
    state: Mutex<LockstepState>,
    woken: Condvar,
}

struct LockstepState {
    now: DateTime<Utc>,
    awake: usize,
    sleeping: Vec<DateTime<Utc>>,
}

impl Lockstep {
    fn new(callers: usize) -> Self {
        Lockstep {
            state: Mutex::new(LockstepState {
                now: start(),
                awake: callers,
                sleeping: Vec::new(),
            }),
            woken: Condvar::new(),
        }
    }

    /// With every caller asleep, move to the earliest wake-up and count its sleepers awake.
    fn move_on(state: &mut LockstepState) {
        if state.awake > 0 {
            return;
        }
        let Some(&next) = state.sleeping.iter().min() else {
            return;
        };
        state.now = next;
        let before = state.sleeping.len();
        state.sleeping.retain(|&wake| wake > next);
        state.awake += before - state.sleeping.len();
    }

    /// A caller is done.
    fn leave(&self) {
        let mut state = self.state.lock().unwrap();
        state.awake -= 1;
        Self::move_on(&mut state);
        self.woken.notify_all();
    }
}

impl Clock for Lockstep {
    fn now(&self) -> DateTime<Utc> {
        self.state.lock().unwrap().now
    }

    fn sleep(&self, duration: Duration) {
        let mut state = self.state.lock().unwrap();
        let wake = state.now + duration.max(Duration::zero());
        state.awake -= 1;
        state.sleeping.push(wake);
        Self::move_on(&mut state);
        self.woken.notify_all();
        while state.now < wake {
            state = self.woken.wait(state).unwrap();
        }
    }
}

/// A platform that answers every request "sent" a round trip later, recording when each started.
struct Timed<'c> {
    clock: &'c Lockstep,
    round_trip: Duration,
    sent: Mutex<Vec<(String, DateTime<Utc>)>>,
}

impl Messenger for Timed<'_> {
    type Message = Outgoing;

    fn send(&self, channel: &Channel, to: &Address, message: &Outgoing) -> SendOutcome {
        self.send_many(channel, &[(to, message)]).remove(0)
    }

    fn send_many(&self, _: &Channel, sends: &[(&Address, &Outgoing)]) -> Vec<SendOutcome> {
        let now = self.clock.now();
        let mut sent = self.sent.lock().unwrap();
        let answers = sends
            .iter()
            .map(|(to, _)| {
                sent.push((to.as_str().to_owned(), now));
                SendOutcome::Sent {
                    message_id: sent.len().to_string(),
                }
            })
            .collect();
        drop(sent);
        self.clock.sleep(self.round_trip);
        answers
    }
}

/// Send a campaign to `recipients` at 25/s with `callers` ticks overlapping on threads, the platform
/// answering after 100 ms; the start of each request.
fn sent_at_25_per_second(recipients: u32, callers: usize) -> Vec<(String, DateTime<Utc>)> {
    let world = World::campaign_to(1..=recipients);
    let clock = Lockstep::new(callers);
    let platform = Timed {
        clock: &clock,
        round_trip: Duration::milliseconds(100),
        sent: Mutex::new(Vec::new()),
    };
    std::thread::scope(|scope| {
        for caller in 0..callers {
            let (world, clock, platform) = (&world, &clock, &platform);
            scope.spawn(move || {
                let mut config = SenderConfig::new(format!("caller-{caller}"), start());
                config.rates.insert(Platform::Telegram, 25);
                let deadline = start() + Duration::seconds(600);
                let report = catch_unwind(AssertUnwindSafe(|| {
                    // Each caller ticks again until a tick finds nothing to do, as schedulers do.
                    loop {
                        config.deadline = deadline.min(clock.now() + Duration::seconds(20));
                        let report =
                            run_tick(world.store(), platform, &FakeRenderer, clock, &config);
                        if report.map_or(true, |r| r.steps.is_empty()) {
                            break;
                        }
                    }
                }));
                clock.leave();
                report.unwrap();
            });
        }
    });
    let sent = platform.sent.into_inner().unwrap();
    assert_eq!(sent.len(), recipients as usize);
    assert!(world.each_sent_once());
    sent
}

/// Messages a second from the first request to the last: those started before the last, over that time.
fn measured_rate(sent: &[(String, DateTime<Utc>)]) -> f64 {
    let first = sent.iter().map(|(_, at)| *at).min().unwrap();
    let last = sent.iter().map(|(_, at)| *at).max().unwrap();
    let before_last = sent.iter().filter(|(_, at)| *at < last).count();
    before_last as f64 / ((last - first).num_milliseconds() as f64 / 1000.0)
}

/// The most requests started within any one second.
fn busiest_second(sent: &[(String, DateTime<Utc>)]) -> usize {
    sent.iter()
        .map(|(_, from)| {
            sent.iter()
                .filter(|(_, at)| at >= from && *at < *from + Duration::seconds(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn one_caller_and_four_overlapping_keep_25_a_second_within_5_percent() {
    for callers in [1, 4] {
        let sent = sent_at_25_per_second(500, callers);
        let rate = measured_rate(&sent);
        assert!(
            (23.75..=26.25).contains(&rate),
            "{callers} callers: {rate}/s"
        );
        // Waves start together, but no second holds more than the rate's messages.
        assert!(
            busiest_second(&sent) <= 25,
            "{callers} callers: {}",
            busiest_second(&sent)
        );
    }
}
