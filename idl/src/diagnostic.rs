//! Diagnostics (errors and warnings) and their rustc-style rendering.
//!
//! Rendering goes through the `annotate-snippets` crate, the renderer rustc
//! uses, so a diagnostic looks like this:
//!
//! ```text
//! error: unknown type `Foo`
//!  --> android/os/IThing.aidl:5:5
//!   |
//! 5 |     Foo get();
//!   |     ^^^ not found
//!   |
//!   = note: looked for `android/os/Foo.aidl` in the include roots: `aidl`
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use annotate_snippets::{Level, Renderer, Snippet};

use crate::source::{FileId, LineCol, Location, SourceMap};

/// How serious a diagnostic is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The input is invalid; no model is produced.
    Error,
    /// The input is valid but suspicious.
    Warning,
}

/// A source location a diagnostic points at, with an optional message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub location: Location,
    /// What to print next to the underline (may be empty).
    pub message: String,
    /// Primary labels get `^^^`, secondary ones `---`.
    pub primary: bool,
}

/// One error or warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The headline: what is wrong.
    pub message: String,
    /// Source locations; the first primary label gives the `--> file:line:col` line.
    pub labels: Vec<Label>,
    /// `= note: ...` lines.
    pub notes: Vec<String>,
    /// `= help: ...` lines.
    pub help: Vec<String>,
}

impl Diagnostic {
    /// An error with a headline and no location yet.
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
            help: Vec::new(),
        }
    }

    /// A warning with a headline and no location yet.
    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    /// Adds a primary label.
    pub fn with_label(mut self, location: Location, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            location,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// Adds a secondary label.
    pub fn with_secondary(mut self, location: Location, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            location,
            message: message.into(),
            primary: false,
        });
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help.push(help.into());
        self
    }

    /// The location of the first primary label (or of the first label).
    pub fn primary_location(&self) -> Option<Location> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or_else(|| self.labels.first())
            .map(|l| l.location)
    }

    /// Renders this diagnostic alone, without colour.
    pub fn render(&self, sources: &SourceMap) -> String {
        render_one(self, sources, &Renderer::plain())
    }
}

/// A list of diagnostics together with the sources they point into.
#[derive(Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    sources: Arc<SourceMap>,
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.items.iter()).finish()
    }
}

impl Diagnostics {
    /// Bundles diagnostics with their sources, sorted by file and position.
    pub fn new(mut items: Vec<Diagnostic>, sources: Arc<SourceMap>) -> Diagnostics {
        // stable: keeps the order of diagnostics at the same place
        items.sort_by_key(|d| {
            d.primary_location()
                .map(|l| (0u8, l.file, l.span.start))
                .unwrap_or((1, FileId(0), 0))
        });
        items.dedup();
        Diagnostics { items, sources }
    }

    /// The diagnostics, sorted by location.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Whether at least one is an error.
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// The sources the diagnostics point into.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// `file:line:column` of a diagnostic's primary location, if it has one.
    pub fn position(&self, diagnostic: &Diagnostic) -> Option<(String, LineCol)> {
        let loc = diagnostic.primary_location()?;
        let file = self.sources.try_get(loc.file)?;
        Some((file.name().to_string(), file.line_col(loc.span.start)))
    }

    /// One line per diagnostic: `file:line:column: error: message`.
    pub fn summary(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|d| {
                let level = match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                match self.position(d) {
                    Some((file, lc)) => format!("{file}:{lc}: {level}: {}", d.message),
                    None => format!("{level}: {}", d.message),
                }
            })
            .collect()
    }

    /// Renders every diagnostic like rustc does, optionally with ANSI colours,
    /// followed by a count of the errors.
    pub fn render(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&render_one(d, &self.sources, &renderer));
            out.push_str("\n\n");
        }
        let errors = self.error_count();
        if errors > 0 {
            let s = if errors == 1 { "" } else { "s" };
            out.push_str(&format!(
                "error: aborting due to {errors} previous error{s}\n"
            ));
        }
        out
    }

    /// Moves the diagnostics out.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// The excerpt of one file that a diagnostic shows: whole lines from the first
/// to the last label, and the labels' ranges relative to the excerpt.
struct Excerpt<'s> {
    name: &'s str,
    text: &'s str,
    first_line: usize,
    labels: Vec<(std::ops::Range<usize>, &'s str, bool)>,
}

fn render_one(d: &Diagnostic, sources: &SourceMap, renderer: &Renderer) -> String {
    let level = match d.severity {
        Severity::Error => Level::Error,
        Severity::Warning => Level::Warning,
    };

    // group labels by file, the file of the primary label first
    let mut order: Vec<FileId> = Vec::new();
    if let Some(p) = d.primary_location() {
        order.push(p.file);
    }
    let mut by_file: BTreeMap<FileId, Vec<&Label>> = BTreeMap::new();
    for l in &d.labels {
        if sources.try_get(l.location.file).is_none() {
            continue;
        }
        if !order.contains(&l.location.file) {
            order.push(l.location.file);
        }
        by_file.entry(l.location.file).or_default().push(l);
    }

    let mut excerpts: Vec<Excerpt<'_>> = Vec::new();
    for file_id in order {
        let Some(labels) = by_file.get(&file_id) else {
            continue;
        };
        let file = sources.get(file_id);
        let text = file.text();
        let clamp = |o: u32| -> usize {
            let mut o = (o as usize).min(text.len());
            while o > 0 && !text.is_char_boundary(o) {
                o -= 1;
            }
            o
        };
        let lo = labels.iter().map(|l| clamp(l.location.span.start)).min();
        let hi = labels.iter().map(|l| clamp(l.location.span.end)).max();
        let (Some(lo), Some(hi)) = (lo, hi) else {
            continue;
        };
        let first_line = file.line_index(lo as u32);
        let last_line = file.line_index(hi as u32);
        let start = file.line_start(first_line).min(lo);
        let end = file.line_end(last_line).max(hi).min(text.len());
        let excerpt = text.get(start..end).unwrap_or("");
        // primary labels first so that `-->` points at them
        let mut sorted: Vec<&Label> = labels.clone();
        sorted.sort_by_key(|l| !l.primary);
        let labels = sorted
            .iter()
            .map(|l| {
                let s = clamp(l.location.span.start).max(start) - start;
                let e = clamp(l.location.span.end).max(start) - start;
                let e = e.min(excerpt.len());
                (s.min(e)..e, l.message.as_str(), l.primary)
            })
            .collect();
        excerpts.push(Excerpt {
            name: file.name(),
            text: excerpt,
            first_line: first_line + 1,
            labels,
        });
    }

    let mut message = level.title(&d.message);
    for ex in &excerpts {
        let mut snippet = Snippet::source(ex.text)
            .origin(ex.name)
            .line_start(ex.first_line)
            .fold(true);
        for (range, label, primary) in &ex.labels {
            // annotate-snippets draws `^` for error-level annotations and
            // `-` without a prefix for warning-level ones
            let lvl = if *primary {
                Level::Error
            } else {
                Level::Warning
            };
            let mut ann = lvl.span(range.clone());
            if !label.is_empty() {
                ann = ann.label(label);
            }
            snippet = snippet.annotation(ann);
        }
        message = message.snippet(snippet);
    }
    for n in &d.notes {
        message = message.footer(Level::Note.title(n));
    }
    for h in &d.help {
        message = message.footer(Level::Help.title(h));
    }
    renderer.render(message).to_string()
}
