//! IVR menus (the seeds' first step, "配置ivr"): play a prompt, collect
//! DTMF digits with timeouts and retries, send each choice to an
//! extension, a queue, another menu, or hang up.
//!
//! One [`Session`] per caller in a menu; sans-IO like the rest of the
//! crate: the driver plays what [`Output::Play`] names, feeds digits and
//! the end of each prompt, and calls [`Session::handle_timeout`] at
//! [`Session::poll_timeout`].
//!
//! ```text
//! start ──► Play(prompt) ──prompt_done──► wait `timeout` for a digit
//!   digit ──► (barge-in) collect; `max_digits` reached or '#' ──► choose
//!   `inter_digit_timeout` after a digit ──► choose
//!   no digit in `timeout`, or no such choice ──► retry: Play(invalid or prompt)
//!   more than `retries` retries ──► Go(on_failure) (default: hang up)
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Where a choice leads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Ring this extension.
    Extension(String),
    /// Join this queue.
    Queue(String),
    /// Another menu.
    Ivr(String),
    /// Hang up.
    Hangup,
}

/// A menu as configured (`/v1/ivrs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Menu {
    /// Unique name.
    pub name: String,
    /// What to play: `tone:SPEC` or an audio file (opaque to the engine).
    pub prompt: String,
    /// Played instead of `prompt` after an invalid choice or no input.
    pub invalid_prompt: Option<String>,
    /// Seconds to wait for the first digit after the prompt.
    pub timeout: u32,
    /// Seconds to wait for each further digit.
    pub inter_digit_timeout: u32,
    /// Digits of a choice (a `#` ends a choice early).
    pub max_digits: u32,
    /// How many times the menu is offered again after no input or an
    /// invalid choice.
    pub retries: u32,
    /// Choice (digits) → target.
    pub choices: BTreeMap<String, Target>,
    /// Where callers go when the retries are used up (None: hang up).
    pub on_failure: Option<Target>,
}

impl Default for Menu {
    fn default() -> Menu {
        Menu { name: String::new(), prompt: String::new(), invalid_prompt: None, timeout: 5, inter_digit_timeout: 2, max_digits: 1, retries: 2, choices: BTreeMap::new(), on_failure: None }
    }
}

/// What the session asks of the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Play this prompt (stop whatever plays), then report
    /// [`Session::prompt_done`].
    Play(String),
    /// The caller chose (or ran out of tries): go there. The session is over.
    Go(Target),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The prompt plays; a digit barges in.
    Prompting,
    /// Waiting for digits until the deadline.
    Collecting,
    /// Went somewhere.
    Done,
}

/// One caller in one menu.
#[derive(Clone, Debug)]
pub struct Session {
    menu: Menu,
    digits: String,
    retries_used: u32,
    state: State,
    deadline: Option<Instant>,
}

impl Session {
    /// Enter `menu`: the first output plays its prompt.
    pub fn start(menu: Menu) -> (Session, Output) {
        let prompt = menu.prompt.clone();
        (Session { menu, digits: String::new(), retries_used: 0, state: State::Prompting, deadline: None }, Output::Play(prompt))
    }

    /// The menu's name.
    pub fn menu(&self) -> &str {
        &self.menu.name
    }

    /// Digits collected so far.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The prompt has played: the wait for digits starts.
    pub fn prompt_done(&mut self, now: Instant) {
        if self.state == State::Prompting {
            self.state = State::Collecting;
            self.deadline = Some(now + Duration::from_secs(u64::from(self.menu.timeout)));
        }
    }

    /// A digit from the caller (it interrupts the prompt).
    pub fn digit(&mut self, now: Instant, d: char) -> Option<Output> {
        if self.state == State::Done {
            return None;
        }
        self.state = State::Collecting;
        if d == '#' && !self.digits.is_empty() {
            return Some(self.choose());
        }
        self.digits.push(d);
        if self.digits.len() >= self.menu.max_digits.max(1) as usize {
            return Some(self.choose());
        }
        self.deadline = Some(now + Duration::from_secs(u64::from(self.menu.inter_digit_timeout)));
        None
    }

    /// When [`Session::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Collecting {
            self.deadline
        } else {
            None
        }
    }

    /// The wait ran out: choose with what was dialled, or offer the menu again.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Output> {
        if self.state != State::Collecting || self.deadline.is_none_or(|d| d > now) {
            return None;
        }
        self.deadline = None;
        if self.digits.is_empty() {
            return Some(self.retry());
        }
        Some(self.choose())
    }

    fn choose(&mut self) -> Output {
        let digits = std::mem::take(&mut self.digits);
        match self.menu.choices.get(&digits) {
            Some(t) => {
                self.state = State::Done;
                Output::Go(t.clone())
            }
            None => self.retry(),
        }
    }

    fn retry(&mut self) -> Output {
        self.digits.clear();
        if self.retries_used >= self.menu.retries {
            self.state = State::Done;
            return Output::Go(self.menu.on_failure.clone().unwrap_or(Target::Hangup));
        }
        self.retries_used += 1;
        self.state = State::Prompting;
        self.deadline = None;
        Output::Play(self.menu.invalid_prompt.clone().unwrap_or_else(|| self.menu.prompt.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the base of the virtual clock is read, once per test.
    trait NowForTests {
        fn now_for_tests() -> Instant;
    }
    impl NowForTests for Instant {
        #[allow(clippy::disallowed_methods)]
        fn now_for_tests() -> Instant {
            Instant::now()
        }
    }

    fn menu() -> Menu {
        let mut choices = BTreeMap::new();
        choices.insert("1".to_owned(), Target::Queue("sales".into()));
        choices.insert("2".to_owned(), Target::Extension("1000".into()));
        choices.insert("9".to_owned(), Target::Ivr("more".into()));
        Menu { name: "main".into(), prompt: "welcome.wav".into(), invalid_prompt: Some("invalid.wav".into()), choices, ..Menu::default() }
    }

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn a_digit_during_the_prompt_chooses_at_once() {
        let t0 = Instant::now_for_tests();
        let (mut s, first) = Session::start(menu());
        assert_eq!(first, Output::Play("welcome.wav".into()));
        assert_eq!(s.poll_timeout(), None, "no timeout while the prompt plays");
        assert_eq!(s.digit(t0, '1'), Some(Output::Go(Target::Queue("sales".into()))));
        assert_eq!(s.digit(t0, '2'), None, "over: later digits do nothing");
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn no_input_replays_then_fails_over_after_the_retries() {
        let t0 = Instant::now_for_tests();
        let mut m = menu();
        m.on_failure = Some(Target::Extension("operator".into()));
        let (mut s, _) = Session::start(m);
        s.prompt_done(t0);
        assert_eq!(s.poll_timeout(), Some(secs(t0, 5)));
        assert_eq!(s.handle_timeout(secs(t0, 4)), None, "not yet");
        assert_eq!(s.handle_timeout(secs(t0, 5)), Some(Output::Play("invalid.wav".into())), "retry 1");
        s.prompt_done(secs(t0, 8));
        assert_eq!(s.handle_timeout(secs(t0, 13)), Some(Output::Play("invalid.wav".into())), "retry 2");
        s.prompt_done(secs(t0, 16));
        assert_eq!(s.handle_timeout(secs(t0, 21)), Some(Output::Go(Target::Extension("operator".into()))), "retries (2) used up");
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn an_invalid_choice_is_a_retry_and_the_default_failure_hangs_up() {
        let t0 = Instant::now_for_tests();
        let mut m = menu();
        m.retries = 1;
        let (mut s, _) = Session::start(m);
        s.prompt_done(t0);
        assert_eq!(s.digit(t0, '7'), Some(Output::Play("invalid.wav".into())));
        s.prompt_done(t0);
        assert_eq!(s.digit(t0, '8'), Some(Output::Go(Target::Hangup)));
    }

    #[test]
    fn multi_digit_choices_end_on_max_digits_hash_or_the_inter_digit_timeout() {
        let t0 = Instant::now_for_tests();
        let mut m = menu();
        m.max_digits = 3;
        m.choices.insert("12".into(), Target::Queue("vip".into()));
        m.choices.insert("123".into(), Target::Ivr("deep".into()));
        let (mut s, _) = Session::start(m.clone());
        s.prompt_done(t0);
        assert_eq!(s.digit(t0, '1'), None);
        assert_eq!(s.poll_timeout(), Some(secs(t0, 2)), "inter-digit timeout after a digit");
        assert_eq!(s.digit(secs(t0, 1), '2'), None);
        assert_eq!(s.digit(secs(t0, 2), '3'), Some(Output::Go(Target::Ivr("deep".into()))), "max digits");
        let (mut s, _) = Session::start(m.clone());
        s.prompt_done(t0);
        s.digit(t0, '1');
        assert_eq!(s.digit(t0, '#'), Some(Output::Go(Target::Queue("sales".into()))), "# ends the choice");
        let (mut s, _) = Session::start(m);
        s.prompt_done(t0);
        s.digit(t0, '1');
        s.digit(secs(t0, 1), '2');
        assert_eq!(s.handle_timeout(secs(t0, 2)), None);
        assert_eq!(s.handle_timeout(secs(t0, 3)), Some(Output::Go(Target::Queue("vip".into()))), "inter-digit timeout chooses");
    }

    #[test]
    fn menus_deserialise_with_defaults_and_refuse_unknown_fields() {
        let m: Menu = serde_json::from_str(r#"{"name":"m","prompt":"tone:425@1000/0","choices":{"1":{"queue":"q"},"0":"hangup"}}"#).expect("menu");
        assert_eq!((m.timeout, m.retries, m.max_digits), (5, 2, 1));
        assert_eq!(m.choices.get("0"), Some(&Target::Hangup));
        assert!(serde_json::from_str::<Menu>(r#"{"name":"m","promt":"x"}"#).is_err());
    }
}
