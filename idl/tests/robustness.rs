//! The front end must never panic, whatever it is fed: random bytes,
//! truncated and mutated fixtures, token soup, and pathological nesting.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use capbinder_idl::Session;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_texts() -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "aidl") {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixtures(), &mut out);
    out
}

/// Parses, checks and renders; panics are caught and reported with the input.
fn survive(path: &Path, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut s = Session::new();
        s.add_include_dir(fixtures().join("valid"));
        s.add_source(path, text.clone());
        match s.check() {
            Ok(model) => {
                for t in model.types() {
                    let _ = model.position(t.location);
                }
            }
            Err(diags) => {
                let rendered = diags.render(false);
                assert!(rendered.contains("error"));
                let _ = diags.summary();
            }
        }
        let _ = capbinder_idl::parse_file("x.aidl", &text);
    }));
    if result.is_err() {
        panic!("panicked on input {}:\n{text:?}", path.display());
    }
}

#[test]
fn truncated_fixtures() {
    for (path, bytes) in fixture_texts() {
        let step = (bytes.len() / 60).max(1);
        let mut cut = 0;
        while cut < bytes.len() {
            survive(&path, &bytes[..cut]);
            cut += step;
        }
    }
}

#[test]
fn mutated_fixtures() {
    let texts = fixture_texts();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let specials: &[u8] = b"{}()<>[];,.=@\"'/*\n0123456789xLu_-+~!&|^%?#\\\xff\xc3";
    for _ in 0..3000 {
        let (path, bytes) = &texts[rng.below(texts.len())];
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(b.len() + 1);
            match rng.below(4) {
                0 if !b.is_empty() => {
                    b.remove(at.min(b.len() - 1));
                }
                1 => b.insert(at, specials[rng.below(specials.len())]),
                2 if !b.is_empty() => {
                    let i = at.min(b.len() - 1);
                    b[i] = specials[rng.below(specials.len())];
                }
                _ => {
                    // duplicate a slice (creates duplicates, nesting, cycles)
                    let from = rng.below(b.len() + 1);
                    let len = rng.below(40).min(b.len() - from);
                    let piece: Vec<u8> = b[from..from + len].to_vec();
                    let at = at.min(b.len());
                    b.splice(at..at, piece);
                }
            }
        }
        survive(path, &b);
    }
}

#[test]
fn token_soup() {
    let words = [
        "package",
        "import",
        "interface",
        "oneway",
        "parcelable",
        "enum",
        "union",
        "const",
        "in",
        "out",
        "inout",
        "int",
        "long",
        "byte",
        "String",
        "List",
        "Map",
        "void",
        "IBinder",
        "Foo",
        "p.q.Foo",
        "cpp_header",
        "\"x.h\"",
        "@nullable",
        "@Backing(type=\"int\")",
        "@nullable(heap=true)",
        "@JavaDerive(toString=true)",
        "{",
        "}",
        "(",
        ")",
        "<",
        ">",
        ">>",
        "[",
        "]",
        "[3]",
        ";",
        ",",
        ".",
        "=",
        "1",
        "0xFFFFFFFF",
        "1L",
        "255u8",
        "1.5f",
        "'c'",
        "true",
        "-",
        "+",
        "<<",
        "~",
        "!",
        "&&",
        "||",
        "?",
        ":",
        "/** doc */",
        "// c\n",
        "= 3",
        "A",
        "B",
        "A.B",
        "Tag",
    ];
    let mut rng = Rng(42);
    for i in 0..3000 {
        let n = 1 + rng.below(60);
        let mut text = String::new();
        if i % 2 == 0 {
            text.push_str("package p;\n");
        }
        for _ in 0..n {
            text.push_str(words[rng.below(words.len())]);
            text.push(' ');
        }
        survive(Path::new("aidl/p/Foo.aidl"), text.as_bytes());
    }
}

#[test]
fn random_bytes() {
    let mut rng = Rng(7);
    for _ in 0..500 {
        let n = rng.below(300);
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        survive(Path::new("aidl/p/Foo.aidl"), &bytes);
    }
}

#[test]
fn pathological_nesting_and_chains() {
    let deep_parens = format!(
        "package p; interface Foo {{ const int X = {}1{}; }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    survive(Path::new("aidl/p/Foo.aidl"), deep_parens.as_bytes());
    let deep_unary = format!(
        "package p; interface Foo {{ const int X = {}1; }}",
        "-".repeat(5000)
    );
    survive(Path::new("aidl/p/Foo.aidl"), deep_unary.as_bytes());
    let deep_types = format!(
        "package p; parcelable Foo {{ {}String{} x; }}",
        "List<".repeat(3000),
        ">".repeat(3000)
    );
    survive(Path::new("aidl/p/Foo.aidl"), deep_types.as_bytes());
    let deep_decls = format!(
        "package p; {} {}",
        "parcelable Foo { ".repeat(3000),
        "}".repeat(3000)
    );
    survive(Path::new("aidl/p/Foo.aidl"), deep_decls.as_bytes());
    let unclosed = "package p; interface Foo { ".to_string() + &"void f(".repeat(2000);
    survive(Path::new("aidl/p/Foo.aidl"), unclosed.as_bytes());

    // a long chain of constants, each referring to the next
    let mut chain = String::from("package p; interface Foo {\n");
    for i in 0..3000 {
        chain.push_str(&format!("const int C{i} = C{} + 1;\n", i + 1));
    }
    chain.push_str("const int C3000 = 0;\n}\n");
    survive(Path::new("aidl/p/Foo.aidl"), chain.as_bytes());

    // a long enum of implicit values, referenced from its end first
    let mut e = String::from("package p; @Backing(type=\"long\") enum Foo {\n");
    e.push_str("FIRST = LAST,\n");
    for i in 0..20000 {
        e.push_str(&format!("E{i},\n"));
    }
    e.push_str("LAST }\n");
    survive(Path::new("aidl/p/Foo.aidl"), e.as_bytes());
    let mut e = String::from("package p; @Backing(type=\"long\") enum Foo {\n");
    for i in 0..20000 {
        e.push_str(&format!("E{i},\n"));
    }
    e.push_str("}\n");
    let mut s = Session::new();
    s.add_source("aidl/p/Foo.aidl", e);
    s.add_source(
        "aidl/p/Bar.aidl",
        "package p; import p.Foo; interface Bar { const long X = Foo.E19999; }",
    );
    let m = s.check().unwrap_or_else(|d| panic!("{d}"));
    let bar = m.lookup("p.Bar").unwrap();
    assert_eq!(
        bar.constants()[0].value,
        capbinder_idl::model::ConstValue::Long(19999)
    );
}

#[test]
fn cyclic_everything() {
    // imports that import each other, parcelables that contain each other,
    // constants that refer to each other across files
    let mut s = Session::new();
    s.add_include_dir("aidl");
    s.add_source(
        "aidl/p/A.aidl",
        "package p; import p.B; parcelable A { B b; const int X = B.Y; }",
    );
    s.add_virtual_file(
        "aidl/p/B.aidl",
        "package p; import p.A; parcelable B { @nullable A a; const int Y = A.X; }",
    );
    let d = s.check().unwrap_err();
    let summary = d.summary().join("\n");
    assert!(summary.contains("circular reference"), "{summary}");
    assert!(summary.contains("recursive parcelable"), "{summary}");
}
