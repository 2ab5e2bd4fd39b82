//! The benchmarks' package: nothing here. The benchmarks are `all.rs`
//! (`cargo bench --bench all`); BENCHMARKS.md has their method and latest figures.
