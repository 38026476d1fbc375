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
