//! The record of the kernel objects a run installed, kept in a file so that after a crash the
//! next run removes exactly those objects and nothing it cannot prove is its own.
//!
//! The record maps an object's key (e.g. `sa 192.0.2.1 spi 0x0000a001`) to its proof of
//! ownership (e.g. `reqid 0x40000001`); what keys and proofs mean is the dataplane's business
//! (`xfrm::owned`, and `link::owned` for hub mode's record), this module only keeps them. It is written *ahead*: an object is recorded
//! before its request goes to the kernel, and forgotten only once the kernel said it is gone.
//! A crash between the two leaves an entry whose object may not exist, which the next run's
//! cleanup skips; it never leaves an object of ours unrecorded.
//!
//! The file is a journal, one change per line after a header:
//!
//! ```text
//! ikehub-record 1
//! +<TAB>sa 192.0.2.1 spi 0x0000a001<TAB>reqid 0x40000001
//! -<TAB>sa 192.0.2.1 spi 0x0000a001
//! ```
//!
//! Why a journal and not the whole set rewritten each time: a hub with 10,000 CHILD_SAs has
//! about 50,000 objects (2 SAs and 3 policies each), some 3.5 MB of record. A round of kernel
//! intents appends only its own changes (about 70 bytes an object, one `write` per round), so
//! the cost follows the changes, not the table: 10,000 tunnels rekeyed hourly append about
//! 1 KB/s. The file is rewritten whole (a temporary file, then `rename`, so a reader sees the
//! old or the new file, never a mix) only when the journal has grown to more than twice the
//! live set, which amortizes the rewrite over at least as many appended lines as it writes.
//!
//! A journal line is appended with one `write` before the request it announces is sent, so a
//! process killed mid-write leaves at most a last line without its newline, announcing a
//! request that was never sent: such a line is ignored. Any other line that does not parse
//! makes the whole record refused ([`RecordError::Corrupt`]), and nothing is removed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The first line of a record file; the number changes with the format.
const HEADER: &str = "ikehub-record 1";

/// Journal lines tolerated beyond twice the live entries before the file is rewritten.
const COMPACT_SLACK: usize = 1024;

/// Why a record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot {operation} the record {}: {error}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error(
        "the record {} is corrupt at line {line}: {reason}; nothing was removed. It lists the \
         kernel objects an earlier run installed: remove those that are left by hand (ip xfrm \
         state, ip xfrm policy; for a hub ip link, ip route, ip rule) and delete the file",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// Checks one entry of a record being read: `Err` with the reason when it is not one the
/// dataplane writes.
pub type EntryCheck = fn(key: &str, proof: &str) -> Result<(), String>;

/// The objects a run owns, key to proof, and the file they are kept in (none for a
/// dataplane that only keeps them in memory, as tests do).
#[derive(Debug, Default)]
pub struct Record {
    path: Option<PathBuf>,
    entries: HashMap<String, String>,
    /// Journal lines not yet written.
    pending: String,
    /// Lines after the header in the file as last written.
    journal_lines: usize,
    /// The next flush rewrites the file: it does not exist yet, or a write failed and its
    /// journal may lack lines.
    rewrite: bool,
    /// The file, opened for appending, between rewrites.
    append: Option<File>,
}

impl Record {
    /// A record kept in memory only.
    pub fn in_memory() -> Record {
        Record::default()
    }

    /// Opens the record at `path`: the entries an earlier run left (none when there is no
    /// file), which are this run's until they are removed. The file is not written until
    /// the first [`Record::flush`].
    pub fn open(path: &Path, check: EntryCheck) -> Result<Record, RecordError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                return Err(RecordError::Corrupt {
                    path: path.to_owned(),
                    line: 0,
                    reason: "not UTF-8 text".to_owned(),
                })
            }
            Err(error) => {
                return Err(RecordError::Io {
                    operation: "read",
                    path: path.to_owned(),
                    error,
                })
            }
        };
        let mut record = Record {
            path: Some(path.to_owned()),
            rewrite: text.is_none(),
            ..Record::default()
        };
        if let Some(text) = text {
            let (entries, journal_lines) =
                parse(&text, check).map_err(|(line, reason)| RecordError::Corrupt {
                    path: path.to_owned(),
                    line,
                    reason,
                })?;
            record.entries = entries;
            record.journal_lines = journal_lines;
        }
        Ok(record)
    }

    /// The file, if the record is kept in one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The proof recorded for `key`.
    pub fn proof(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Every entry, key and proof, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, p)| (k.as_str(), p.as_str()))
    }

    /// Records `key` as ours with `proof`; returns the proof it had before, to give to
    /// [`Record::restore`] if the object is not created after all.
    pub fn claim(&mut self, key: String, proof: String) -> Option<String> {
        if self.entries.get(&key) == Some(&proof) {
            return Some(proof);
        }
        // Keys and proofs are the dataplane's own text, without tabs or newlines.
        let _ = writeln!(self.pending, "+\t{key}\t{proof}");
        self.entries.insert(key, proof)
    }

    /// Puts `key` back as it was before a [`Record::claim`] that did not take effect.
    pub fn restore(&mut self, key: String, previous: Option<String>) {
        match previous {
            Some(proof) => {
                self.claim(key, proof);
            }
            None => self.forget(&key),
        }
    }

    /// The object of `key` is gone.
    pub fn forget(&mut self, key: &str) {
        if self.entries.remove(key).is_some() {
            let _ = writeln!(self.pending, "-\t{key}");
        }
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|key| !keep(key))
            .cloned()
            .collect();
        for key in gone {
            self.forget(&key);
        }
    }

    /// Writes the changes since the last flush: appended to the journal, or the whole record
    /// rewritten atomically when the journal has grown long, is empty of live entries, or an
    /// earlier write failed. After a failure the next flush rewrites the file.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        let Some(path) = self.path.clone() else {
            self.pending.clear();
            return Ok(());
        };
        let live = self.entries.len();
        let compact = self.rewrite
            || self.journal_lines > 2 * live + COMPACT_SLACK
            || (live == 0 && self.journal_lines > 0);
        let outcome = if compact {
            self.rewrite_file(&path)
        } else if self.pending.is_empty() {
            return Ok(());
        } else {
            self.append_pending(&path)
        };
        self.pending.clear();
        if outcome.is_err() {
            self.rewrite = true;
            self.append = None;
        }
        outcome
    }

    fn append_pending(&mut self, path: &Path) -> Result<(), RecordError> {
        let io_error = |operation, error| RecordError::Io {
            operation,
            path: path.to_owned(),
            error,
        };
        if self.append.is_none() {
            let file = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| io_error("open", e))?;
            self.append = Some(file);
        }
        if let Some(file) = &mut self.append {
            // One write: a process killed during it leaves at most a torn last line.
            file.write_all(self.pending.as_bytes())
                .map_err(|e| io_error("append to", e))?;
        }
        self.journal_lines += self.pending.lines().count();
        Ok(())
    }

    fn rewrite_file(&mut self, path: &Path) -> Result<(), RecordError> {
        let mut text = String::with_capacity(HEADER.len() + 1 + self.entries.len() * 72);
        text.push_str(HEADER);
        text.push('\n');
        for (key, proof) in &self.entries {
            let _ = writeln!(text, "+\t{key}\t{proof}");
        }
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let io_error = |operation, path: &Path, error| RecordError::Io {
            operation,
            path: path.to_owned(),
            error,
        };
        {
            let mut file =
                File::create(&temporary).map_err(|e| io_error("create", &temporary, e))?;
            file.write_all(text.as_bytes())
                .map_err(|e| io_error("write", &temporary, e))?;
            // On a disk (not /run's tmpfs) the rename must not reach it before the data.
            file.sync_all()
                .map_err(|e| io_error("sync", &temporary, e))?;
        }
        std::fs::rename(&temporary, path).map_err(|e| io_error("replace", path, e))?;
        self.append = None;
        self.journal_lines = self.entries.len();
        self.rewrite = false;
        Ok(())
    }
}

/// The entries of a record file and its number of journal lines, or the line (1-based) and
/// reason it is refused for.
fn parse(
    text: &str,
    check: EntryCheck,
) -> Result<(HashMap<String, String>, usize), (usize, String)> {
    let mut lines = text.split_inclusive('\n').enumerate();
    match lines.next() {
        Some((_, header)) if header.trim_end_matches('\n') == HEADER => {}
        Some((_, header)) => {
            return Err((
                1,
                format!(
                    "the header is {:?}, not {HEADER:?}",
                    header.trim_end_matches('\n')
                ),
            ))
        }
        None => return Err((1, "the file is empty, without a header".to_owned())),
    }
    let mut entries = HashMap::new();
    let mut journal_lines = 0;
    for (index, line) in lines {
        let number = index + 1;
        let Some(line) = line.strip_suffix('\n') else {
            // A torn append: the request it announced was never sent (see the module
            // documentation).
            tracing::warn!(
                line = number,
                "ignoring an unfinished last line of the record"
            );
            break;
        };
        journal_lines += 1;
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["+", key, proof] => {
                check(key, proof).map_err(|reason| (number, reason))?;
                entries.insert((*key).to_owned(), (*proof).to_owned());
            }
            ["-", key] => {
                entries.remove(*key);
            }
            _ => {
                return Err((
                    number,
                    format!("{line:?} is neither \"+<TAB>KEY<TAB>PROOF\" nor \"-<TAB>KEY\""),
                ))
            }
        }
    }
    Ok((entries, journal_lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, proof: &str) -> Result<(), String> {
        if key.starts_with("obj ") && proof.starts_with("proof ") {
            Ok(())
        } else {
            Err(format!("unknown entry {key:?} {proof:?}"))
        }
    }

    fn scratch() -> (PathBuf, impl Drop) {
        struct Remove(PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(format!(
            "ikehub-record-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        (dir.join("test.state"), Remove(dir))
    }

    fn sorted(record: &Record) -> Vec<(String, String)> {
        let mut entries: Vec<(String, String)> = record
            .entries()
            .map(|(k, p)| (k.to_owned(), p.to_owned()))
            .collect();
        entries.sort();
        entries
    }

    #[test]
    fn entries_survive_a_restart() {
        let (path, _dir) = scratch();
        let mut record = Record::open(&path, check).expect("no file yet");
        assert!(record.is_empty());
        record.claim("obj a".into(), "proof 1".into());
        record.claim("obj b".into(), "proof 2".into());
        record.flush().expect("first write");
        record.claim("obj c".into(), "proof 3".into());
        record.forget("obj a");
        let previous = record.claim("obj b".into(), "proof 9".into());
        assert_eq!(previous.as_deref(), Some("proof 2"));
        record.flush().expect("append");
        // A process that dies here: the next one reads what it recorded.
        let again = Record::open(&path, check).expect("read back");
        assert_eq!(
            sorted(&again),
            vec![
                ("obj b".to_owned(), "proof 9".to_owned()),
                ("obj c".to_owned(), "proof 3".to_owned())
            ]
        );
    }

    #[test]
    fn a_failed_claim_is_restored() {
        let mut record = Record::in_memory();
        record.claim("obj a".into(), "proof 1".into());
        let previous = record.claim("obj a".into(), "proof 2".into());
        record.restore("obj a".into(), previous);
        let previous = record.claim("obj b".into(), "proof 1".into());
        record.restore("obj b".into(), previous);
        assert_eq!(record.proof("obj a"), Some("proof 1"));
        assert_eq!(record.proof("obj b"), None);
        record.flush().expect("nothing to write");
    }

    #[test]
    fn an_emptied_record_is_rewritten_to_its_header() {
        let (path, _dir) = scratch();
        let mut record = Record::open(&path, check).expect("no file yet");
        record.claim("obj a".into(), "proof 1".into());
        record.flush().expect("write");
        record.retain(|_| false);
        record.flush().expect("rewrite");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            format!("{HEADER}\n")
        );
        assert!(!path.with_extension("state.tmp").exists());
    }

    #[test]
    fn a_long_journal_is_compacted_atomically() {
        let (path, _dir) = scratch();
        let mut record = Record::open(&path, check).expect("no file yet");
        record.claim("obj keep".into(), "proof 0".into());
        record.flush().expect("write");
        for round in 0..(COMPACT_SLACK + 10) {
            record.claim("obj churn".into(), format!("proof {round}"));
            record.flush().expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.lines().count() <= 2 * 2 + COMPACT_SLACK + 2,
            "{} lines",
            text.lines().count()
        );
        let again = Record::open(&path, check).expect("read back");
        assert_eq!(sorted(&again), sorted(&record));
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        let (path, _dir) = scratch();
        std::fs::write(&path, format!("{HEADER}\n+\tobj a\tproof 1\n+\tobj b\tpro")).unwrap();
        let record = Record::open(&path, check).expect("torn last line");
        assert_eq!(
            sorted(&record),
            vec![("obj a".to_owned(), "proof 1".to_owned())]
        );
    }

    #[test]
    fn a_corrupt_record_is_refused_with_its_path_and_line() {
        let (path, _dir) = scratch();
        for (text, line, reason) in [
            ("", 1, "without a header"),
            ("something else\n", 1, "the header is"),
            (
                "ikehub-record 1\n+\tobj a\tproof 1\ngarbage\n",
                3,
                "is neither",
            ),
            (
                "ikehub-record 1\n+\tpolicy x\tproof 1\n",
                2,
                "unknown entry",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = Record::open(&path, check).expect_err(text);
            let message = error.to_string();
            assert!(
                matches!(&error, RecordError::Corrupt { line: l, .. } if *l == line),
                "{message}"
            );
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(reason), "{message}");
            assert!(message.contains("nothing was removed"), "{message}");
        }
    }

    #[test]
    fn write_errors_name_the_path_and_the_os_error() {
        let (path, _dir) = scratch();
        let missing = path.join("no-such-dir").join("x.state");
        let mut record = Record::open(&missing, check).expect("no file yet");
        record.claim("obj a".into(), "proof 1".into());
        let message = record.flush().expect_err("no directory").to_string();
        assert!(message.contains("no-such-dir"), "{message}");
        assert!(message.contains("No such file or directory"), "{message}");
    }
}
