//! What the helper binaries' roles share: how a status is printed for the
//! tests to match, and how a helper follows its stdin (and dies with it).

use std::io::BufRead;

use capbinder::Status;

/// `Status` with its classification, so tests can match on it.
pub fn status_line(s: &Status) -> String {
    format!(
        "{s} [exception={:?} code={:?} specific={} dead={}]",
        s.exception,
        s.code,
        s.service_specific,
        s.is_dead()
    )
}

/// Exits when stdin closes (the test is gone), so that a test that dies
/// leaves no helper behind; `on_line` sees each line, trimmed.
pub fn watch_stdin(on_line: impl Fn(&str) + Send + 'static) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            on_line(line.trim());
        }
        std::process::exit(0);
    });
}
