//! Parses and checks a few hundred generated files and prints how long it
//! took. Run in release to see the real figure:
//!
//! ```text
//! cargo test --release -p capbinder-idl --test perf -- --nocapture
//! ```

use std::time::Instant;

use capbinder_idl::Session;

const PACKAGES: usize = 100;

/// Three files per package: an enum, a parcelable and an interface, each
/// package importing the previous one.
fn generate() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for i in 0..PACKAGES {
        let pkg = format!("perf.p{i}");
        let dir = format!("gen/perf/p{i}");
        let mut e =
            format!("package {pkg};\n\n/** Modes. */\n@Backing(type=\"int\")\nenum Mode{i} {{\n");
        for k in 0..20 {
            if k % 5 == 0 {
                e.push_str(&format!("    /** mode {k} */\n    M{k} = {k} << 4,\n"));
            } else {
                e.push_str(&format!("    M{k},\n"));
            }
        }
        e.push_str("}\n");
        files.push((format!("{dir}/Mode{i}.aidl"), e));

        let mut p = format!("package {pkg};\n\nimport {pkg}.Mode{i};\n");
        if i > 0 {
            p.push_str(&format!("import perf.p{}.Data{};\n", i - 1, i - 1));
        }
        p.push_str(&format!(
            "\n@JavaDerive(toString=true, equals=true)\nparcelable Data{i} {{\n"
        ));
        p.push_str("    const int BASE = 0x100;\n    const long BIG = 1L << 40;\n    const String NAME = \"data\" + \"-\" + \"x\";\n");
        for k in 0..20 {
            p.push_str(&format!(
                "    /** field {k} */\n    int f{k} = BASE + {k} * 3 - (1 << 2);\n"
            ));
        }
        p.push_str(&format!("    @utf8InCpp String name = NAME;\n    Mode{i} mode = Mode{i}.M5;\n    @nullable List<String> tags;\n    long[4] quad = {{1, 2, 3, 4}};\n"));
        if i > 0 {
            p.push_str(&format!("    @nullable Data{} previous;\n", i - 1));
        }
        p.push_str("    union Choice { int a = 0; String b; IBinder c; }\n}\n");
        files.push((format!("{dir}/Data{i}.aidl"), p));

        let mut s = format!("package {pkg};\n\nimport {pkg}.Data{i};\nimport {pkg}.Mode{i};\n\n/** A service. */\ninterface IService{i} {{\n");
        s.push_str("    const int VERSION = 3;\n");
        for k in 0..20 {
            s.push_str(&format!(
                "    /** Method {k}. */\n    Data{i} call{k}(in Data{i} input, out Data{i}[] outs, Mode{i} mode, @nullable String tag, in List<String> names);\n"
            ));
        }
        s.push_str(&format!("    oneway void notify(in Data{i} d);\n}}\n"));
        files.push((format!("{dir}/IService{i}.aidl"), s));
    }
    files
}

#[test]
fn parse_and_check_a_few_hundred_files() {
    let files = generate();
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();

    // in memory: parsing and checking only
    let start = Instant::now();
    let mut s = Session::new();
    s.add_include_dir("gen");
    for (path, text) in &files {
        s.add_source(path, text.clone());
    }
    let model = s.check().unwrap_or_else(|d| panic!("{d}"));
    let in_memory = start.elapsed();
    assert_eq!(model.input_roots().count(), files.len());

    // on disk: reading, finding imports through the include root, checking
    let root = std::env::temp_dir().join(format!("capbinder-idl-perf-{}", std::process::id()));
    for (path, text) in &files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    let start = Instant::now();
    let mut s = Session::new();
    s.add_include_dir(root.join("gen"));
    for (path, _) in files.iter().filter(|(p, _)| p.contains("IService")) {
        s.add_input(root.join(path));
    }
    let model = s.check().unwrap_or_else(|d| panic!("{d}"));
    let on_disk = start.elapsed();
    std::fs::remove_dir_all(&root).ok();
    let types = model.types().count();

    println!(
        "capbinder-idl perf: {} files ({} KiB): in memory {:.1} ms; from disk through imports {:.1} ms ({types} types)",
        files.len(),
        bytes / 1024,
        in_memory.as_secs_f64() * 1e3,
        on_disk.as_secs_f64() * 1e3,
    );
    // generous bound so that unoptimized builds on slow machines pass too
    assert!(in_memory.as_secs() < 30);
}

#[test]
fn parse_only_timing() {
    let files = generate();
    let start = Instant::now();
    for (path, text) in &files {
        capbinder_idl::parse_file(path, text).unwrap();
    }
    println!(
        "capbinder-idl perf: parse only {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
}
