//! Parses, checks and generates Rust for a few hundred files, and prints
//! how long it took. Run in release to see the real figure:
//!
//! ```text
//! cargo test --release -p capbinder-codegen --test perf -- --nocapture
//! ```

use std::time::{Duration, Instant};

use capbinder_idl::Session;

const PACKAGES: usize = 100;

/// Three files per package (an enum, a parcelable with a nested union,
/// and an interface with `methods` methods of six parameters), each
/// package importing the previous one.
fn files(methods: usize) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for i in 0..PACKAGES {
        let pkg = format!("perf.p{i}");
        let dir = format!("perf/p{i}");
        let mut e =
            format!("package {pkg};\n\n/** Modes. */\n@Backing(type=\"int\")\nenum Mode{i} {{\n");
        for k in 0..20 {
            e.push_str(&format!("    /** mode {k} */\n    M{k} = {k} << 4,\n"));
        }
        e.push_str("}\n");
        files.push((format!("{dir}/Mode{i}.aidl"), e));

        let mut p = format!("package {pkg};\n\nimport {pkg}.Mode{i};\n");
        if i > 0 {
            p.push_str(&format!("import perf.p{}.Data{};\n", i - 1, i - 1));
        }
        p.push_str(&format!(
            "\n/** Data. */\nparcelable Data{i} {{\n    const int BASE = 0x100;\n"
        ));
        for k in 0..20 {
            p.push_str(&format!(
                "    /** field {k} */\n    int f{k} = BASE + {k};\n"
            ));
        }
        p.push_str(&format!(
            "    String name = \"data\";\n    Mode{i} mode = Mode{i}.M5;\n    @nullable List<String> tags;\n    long[4] quad = {{1, 2, 3, 4}};\n    IBinder[] binders;\n"
        ));
        if i > 0 {
            p.push_str(&format!("    @nullable Data{} previous;\n", i - 1));
        }
        p.push_str("    union Choice { int a = 0; String b; @nullable IBinder c; }\n}\n");
        files.push((format!("{dir}/Data{i}.aidl"), p));

        let mut s = format!(
            "package {pkg};\n\nimport {pkg}.Data{i};\nimport {pkg}.Mode{i};\n\n/** A service. */\ninterface IService{i} {{\n    const int VERSION = 3;\n"
        );
        for k in 0..methods {
            s.push_str(&format!(
                "    /** Method {k}. */\n    Data{i} call{k}(in Data{i} input, out Data{i}[] outs, Mode{i} mode, @nullable String tag, in List<String> names, IService{i} cb);\n"
            ));
        }
        s.push_str(&format!("    oneway void notify(in Data{i} d);\n}}\n"));
        files.push((format!("{dir}/IService{i}.aidl"), s));
    }
    files
}

/// CPU time of the whole process (every thread).
fn cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn measure(methods: usize) -> Duration {
    let files = files(methods);
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();

    // in memory: parse, check, generate and format
    let (start, cpu0) = (Instant::now(), cpu());
    let mut s = Session::new();
    s.add_include_dir("gen");
    for (path, text) in &files {
        s.add_source(format!("gen/{path}"), text.clone());
    }
    let model = s.check().unwrap_or_else(|d| panic!("{d}"));
    let checked = start.elapsed();
    let out = capbinder_codegen::configure()
        .emit_rerun_if_changed(false)
        .generate_model(&model)
        .unwrap_or_else(|e| panic!("{e}"));
    let (total, total_cpu) = (start.elapsed(), cpu() - cpu0);
    let start = Instant::now();
    let unformatted = capbinder_codegen::configure()
        .emit_rerun_if_changed(false)
        .format(false)
        .generate_model(&model)
        .unwrap_or_else(|e| panic!("{e}"));
    let raw = start.elapsed();
    assert_eq!(unformatted.len(), out.len());
    let out_bytes: usize = out.iter().map(|f| f.contents.len()).sum();
    assert_eq!(out.len(), PACKAGES + 1);

    // from disk to disk, as a build script does
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (path, text) in &files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    let start = Instant::now();
    let g = capbinder_codegen::configure()
        .include(dir.path())
        .emit_rerun_if_changed(false)
        .out_dir(dir.path().join("out"))
        .compile(&paths)
        .unwrap_or_else(|e| panic!("{e}"));
    let from_disk = start.elapsed();
    assert_eq!(g.sources.len(), files.len());

    println!(
        "{} files, {methods} methods per interface ({} KiB of AIDL) -> {} files ({} KiB of Rust): \
         parse+check {:.0} ms, generate+format {:.0} ms (unformatted {:.0} ms), total {:.0} ms wall / {:.0} ms CPU in memory; \
         {:.0} ms from disk to disk ({}, {} threads available)",
        files.len(),
        bytes / 1024,
        out.len(),
        out_bytes / 1024,
        ms(checked),
        ms(total - checked),
        ms(raw),
        ms(total),
        ms(total_cpu),
        ms(from_disk),
        if cfg!(debug_assertions) { "debug build" } else { "release build" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    );
    total
}

#[test]
fn parse_check_and_generate_a_few_hundred_files() {
    // typical interfaces, then heavy ones (the front end's perf shape)
    let typical = measure(4);
    let heavy = measure(20);
    // generous: debug builds on a loaded CI machine
    assert!(typical < Duration::from_secs(30), "took {typical:?}");
    assert!(heavy < Duration::from_secs(60), "took {heavy:?}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
