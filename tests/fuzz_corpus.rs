//! Replays the fuzz corpus kept in `fuzz/corpus/` through the fuzz targets' checks, so every
//! test run keeps what the fuzzers found (see `fuzz/README.md` to run the fuzzers).

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails its check",
            path.display()
        );
        n += 1;
    }
    assert!(n > 10, "{target}: the corpus has only {n} inputs");
}

#[test]
fn tcp_message_corpus() {
    replay("tcp_message", checks::tcp_message);
}

#[test]
fn panda3d_corpus() {
    replay("panda3d", checks::panda3d);
}

#[test]
fn derived_corpus() {
    replay("derived", checks::derived);
}
