//! Source files, byte spans and their translation to `line:column`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Identifies one source file inside a [`SourceMap`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub(crate) u32);

impl FileId {
    /// The index of the file in its [`SourceMap`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A half-open byte range `start..end` in one source file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// Makes a span from two byte offsets (swapped if given in the wrong order).
    pub fn new(start: usize, end: usize) -> Span {
        let (start, end) = if start <= end {
            (start, end)
        } else {
            (end, start)
        };
        Span {
            start: clamp_u32(start),
            end: clamp_u32(end),
        }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(self) -> bool {
        self.end == self.start
    }

    /// The span as a `Range<usize>` for slicing.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

fn clamp_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A 1-based line and column; the column counts characters, like rustc.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineCol {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A span in a particular file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The file.
    pub file: FileId,
    /// The bytes in that file.
    pub span: Span,
}

impl Location {
    /// Makes a location.
    pub fn new(file: FileId, span: Span) -> Location {
        Location { file, span }
    }
}

/// The text of one `.aidl` file and its line table.
#[derive(Debug, Clone)]
pub struct SourceFile {
    path: PathBuf,
    name: String,
    text: String,
    line_starts: Vec<u32>,
}

impl SourceFile {
    /// Makes a source file; `name` is what diagnostics print for it.
    pub fn new(path: PathBuf, name: String, text: String) -> SourceFile {
        let mut line_starts = vec![0u32];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(clamp_u32(i + 1));
            }
        }
        SourceFile {
            path,
            name,
            text,
            line_starts,
        }
    }

    /// The path the file was read from (or was given for in-memory sources).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name diagnostics print for the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text of `span`, or `""` when the span is out of range.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }

    /// Index (0-based) of the line that holds byte `offset`.
    pub fn line_index(&self, offset: u32) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Byte offset where 0-based line `index` starts.
    pub fn line_start(&self, index: usize) -> usize {
        self.line_starts
            .get(index)
            .map(|&s| s as usize)
            .unwrap_or(self.text.len())
    }

    /// Byte offset where 0-based line `index` ends (before its newline).
    pub fn line_end(&self, index: usize) -> usize {
        match self.line_starts.get(index + 1) {
            Some(&next) => {
                let next = next as usize;
                // strip the '\n' (and a '\r' before it)
                let mut end = next.saturating_sub(1);
                if end > 0 && self.text.as_bytes().get(end - 1) == Some(&b'\r') {
                    end -= 1;
                }
                end.max(self.line_start(index))
            }
            None => self.text.len(),
        }
    }

    /// Translates a byte offset into a 1-based line and character column.
    pub fn line_col(&self, offset: u32) -> LineCol {
        let offset = (offset as usize).min(self.text.len());
        let index = self.line_index(offset as u32);
        let start = self.line_start(index);
        let column = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        LineCol {
            line: clamp_u32(index + 1),
            column: clamp_u32(column + 1),
        }
    }
}

/// Every source file a session has read, addressed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, path: PathBuf, name: String, text: String) -> FileId {
        let id = FileId(clamp_u32(self.files.len()));
        self.files.push(SourceFile::new(path, name, text));
        id
    }

    /// The file with id `id`.
    ///
    /// # Panics
    ///
    /// Panics if `id` came from another map.
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.index()]
    }

    /// The file with id `id`, if it belongs to this map.
    pub fn try_get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.index())
    }

    /// All files, in the order they were added.
    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(clamp_u32(i)), f))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the map holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// `file:line:column` of the start of a location.
    pub fn describe(&self, location: Location) -> String {
        match self.try_get(location.file) {
            Some(f) => format!("{}:{}", f.name(), f.line_col(location.span.start)),
            None => String::from("<unknown>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let f = SourceFile::new("a".into(), "a".into(), "ab\nçd\r\nx".into());
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        // 'd' is after a two-byte character
        assert_eq!(f.line_col(5), LineCol { line: 2, column: 2 });
        assert_eq!(f.line_col(8), LineCol { line: 3, column: 1 });
        assert_eq!(f.line_end(1), 5 + 1);
        assert_eq!(f.line_col(1000), LineCol { line: 3, column: 2 });
    }
}
