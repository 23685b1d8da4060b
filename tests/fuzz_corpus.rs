//! Every fuzz target's checked-in corpus (`fuzz/corpus/<target>/`) as a regression test on
//! stable: each file goes through the same function libFuzzer drives, and any panic fails.
//! A crash input copied into the corpus thus stays tested after the fix.
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus` writes the recorded seeds
//! (`ikehub::fuzz::seeds`) into the corpus directories again.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ikehub::fuzz::{seeds, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of a target's corpus, sorted.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path());
    let mut files: Vec<PathBuf> = entries.filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Runs `inputs` through `run`, naming each input that panicked.
fn failures<'a>(run: fn(&[u8]), inputs: impl Iterator<Item = (String, &'a [u8])>) -> Vec<String> {
    inputs
        .filter(|(_, data)| catch_unwind(AssertUnwindSafe(|| run(data))).is_err())
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn every_corpus_file_runs_without_a_panic() {
    let mut failed = Vec::new();
    for (target, run) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
        let contents: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read(p).expect("corpus file"),
                )
            })
            .collect();
        failed.extend(failures(
            run,
            contents.iter().map(|(n, d)| (n.clone(), d.as_slice())),
        ));
    }
    assert!(failed.is_empty(), "inputs that panicked: {failed:#?}");
}

#[test]
fn every_libfuzzer_binary_has_a_target() {
    let dir = fuzz_dir().join("fuzz_targets");
    for entry in std::fs::read_dir(&dir).expect("fuzz/fuzz_targets") {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("file name");
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/fuzz_targets/{name}.rs has no entry in ikehub::fuzz::TARGETS"
        );
    }
}

/// The recorded seeds themselves, so that a change in the engine that breaks recording shows
/// here and not only when the corpus is written again.
#[test]
fn recorded_seeds_cover_every_target_and_run() {
    let seeds = seeds::all();
    for (target, run) in TARGETS {
        let mine: Vec<&seeds::Seed> = seeds.iter().filter(|s| s.target == target).collect();
        assert!(mine.len() >= 5, "{target}: only {} seeds", mine.len());
        let failed = failures(
            run,
            mine.iter().map(|s| (s.name.clone(), s.data.as_slice())),
        );
        assert!(
            failed.is_empty(),
            "{target}: seeds that panicked: {failed:#?}"
        );
    }
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand after a change to the seeds"]
fn write_seed_corpus() {
    for seed in seeds::all() {
        let dir = fuzz_dir().join("corpus").join(seed.target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(format!("seed-{}", seed.name)), &seed.data).expect("seed file");
    }
}
