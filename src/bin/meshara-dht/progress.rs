//! Progress bars and spinners (indicatif) for work that takes more than a
//! second. They draw on stderr, and only when stdout is a terminal and
//! `--quiet` is off, so piped or scripted output never contains them.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Makes bars that are either drawn or hidden, as decided once at start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    enabled: bool,
}

impl Progress {
    /// Bars are drawn if `wanted` and stdout is a terminal.
    pub(crate) fn new(wanted: bool) -> Self {
        Progress {
            enabled: wanted && std::io::stdout().is_terminal(),
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// A bar counting `len` steps of `what`.
    pub(crate) fn bar(&self, len: u64, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len), self.target());
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed_precise}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar
    }

    /// A spinner for work of unknown length.
    pub(crate) fn spinner(&self, what: &str) -> ProgressBar {
        let spinner = ProgressBar::with_draw_target(None, self.target());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            spinner.set_style(style);
        }
        spinner.set_message(what.to_string());
        if self.enabled {
            spinner.enable_steady_tick(Duration::from_millis(100));
        }
        spinner
    }
}
