//! Log lines straight to the systemd journal, in its native protocol, with their priority and
//! the connection and peer they concern as fields of their own: `journalctl -u ikehub -p
//! warning`, `journalctl IKEHUB_CONNECTION=office`.
//!
//! Used when the daemon's stderr is the journal (systemd sets `JOURNAL_STREAM` to the
//! device and inode of that stream, and a child that inherits something else does not match
//! it). The protocol: one datagram per entry to `/run/systemd/journal/socket`, each field
//! `NAME=value\n`, or, for a value with a newline, `NAME\n`, its length as 64-bit
//! little-endian, the value and `\n` (systemd.io/JOURNAL_NATIVE_PROTOCOL).
//!
//! tracing-journald speaks the same protocol, but names fields after the tracing ones with a
//! prefix (`F_PEER`, the span's `CONN`) and maps info to notice (5); the daemon's fields
//! and levels (error 3, warn 4, info 6, debug and trace 7) are set here instead.
//!
//! A line the journal does not take (its socket gone, an entry too big) is written to stderr,
//! which is the journal's stream: it is kept, as plain text.

use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use tracing::field::{Field, Visit};
use tracing::{span, Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::filter::CONNECTION_FIELD;

/// Where journald takes native entries.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// The field of events and spans holding the peer's address.
const PEER_FIELD: &str = "peer";

/// Entries are bounded: a message longer than this is cut (log lines are far shorter).
const MAX_MESSAGE: usize = 48 << 10;

/// Whether stderr is the journal's stream: `JOURNAL_STREAM` ("DEVICE:INODE") names the
/// stream systemd connected, and stderr must still be that one.
pub fn stderr_is_journal() -> bool {
    let Ok(expected) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    match nix::sys::stat::fstat(io::stderr()) {
        Ok(stat) => stream_matches(&expected, stat.st_dev, stat.st_ino),
        Err(_) => false,
    }
}

fn stream_matches(journal_stream: &str, device: u64, inode: u64) -> bool {
    let Some((dev, ino)) = journal_stream.split_once(':') else {
        return false;
    };
    dev.parse() == Ok(device) && ino.parse() == Ok(inode)
}

/// The journal's priority of a level (syslog's numbers).
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Sends every event that passes the filter to the journal.
pub struct JournalLayer {
    socket: UnixDatagram,
}

impl JournalLayer {
    /// A layer sending to the journal's socket at `path` ([`JOURNAL_SOCKET`]).
    pub fn connect(path: &Path) -> io::Result<JournalLayer> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(JournalLayer { socket })
    }

    /// Send an entry; one the journal does not take goes to stderr as `message`.
    fn send(&self, entry: &[u8], level: &Level, message: &str, connection: Option<&str>) {
        if self.socket.send(entry).is_err() {
            let mut line = format!("{level} {message}");
            if let Some(connection) = connection {
                let _ = write!(line, " connection={connection}");
            }
            line.push('\n');
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }
}

/// The connection and peer a span names, kept in its extensions for the events inside it.
#[derive(Debug, Default, Clone)]
struct SpanFields {
    connection: Option<String>,
    peer: Option<String>,
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            CONNECTION_FIELD => self.connection = Some(value.to_owned()),
            PEER_FIELD => self.peer = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `conn` as text only: the engine's events carry a connection's number there.
        if field.name() == PEER_FIELD {
            self.peer = Some(format!("{value:?}"));
        }
    }
}

/// An event's message with its other fields after it (`key=value`, as on stderr), and its
/// connection and peer.
#[derive(Default)]
struct Fields {
    message: String,
    others: String,
    connection: Option<String>,
    peer: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            CONNECTION_FIELD => self.connection = Some(value.to_owned()),
            PEER_FIELD => self.peer = Some(value.to_owned()),
            "message" => self.message.push_str(value),
            name => {
                let _ = write!(self.others, " {name}={value:?}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            PEER_FIELD => self.peer = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.others, " {name}={value:?}");
            }
        }
    }
}

/// Append one field in the native protocol.
fn put_field(entry: &mut Vec<u8>, name: &str, value: &str) {
    entry.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        entry.push(b'\n');
        entry.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        entry.push(b'=');
    }
    entry.extend_from_slice(value.as_bytes());
    entry.push(b'\n');
}

/// The longest prefix of `text` within `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl<S> Layer<S> for JournalLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        if fields.connection.is_none() && fields.peer.is_none() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        // The innermost span that names them, for what the event does not say itself.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if fields.connection.is_some() && fields.peer.is_some() {
                    break;
                }
                if let Some(named) = span.extensions().get::<SpanFields>() {
                    if fields.connection.is_none() {
                        fields.connection.clone_from(&named.connection);
                    }
                    if fields.peer.is_none() {
                        fields.peer.clone_from(&named.peer);
                    }
                }
            }
        }
        let meta = event.metadata();
        let mut message = std::mem::take(&mut fields.message);
        message.push_str(&fields.others);
        let message = cut(&message, MAX_MESSAGE);
        let mut entry = Vec::with_capacity(message.len() + 160);
        put_field(&mut entry, "PRIORITY", &priority(meta.level()).to_string());
        put_field(&mut entry, "SYSLOG_IDENTIFIER", "ikehub");
        put_field(&mut entry, "MESSAGE", message);
        if let Some(connection) = &fields.connection {
            put_field(&mut entry, "IKEHUB_CONNECTION", connection);
        }
        if let Some(peer) = &fields.peer {
            put_field(&mut entry, "IKEHUB_PEER", peer);
        }
        put_field(&mut entry, "TARGET", meta.target());
        if let Some(file) = meta.file() {
            put_field(&mut entry, "CODE_FILE", file);
        }
        if let Some(line) = meta.line() {
            put_field(&mut entry, "CODE_LINE", &line.to_string());
        }
        self.send(&entry, meta.level(), message, fields.connection.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tracing::level_filters::LevelFilter;
    use tracing::{debug, error, info, trace, warn};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::reload;

    use super::super::filter::{ConnectionFilter, CONNECTION_SPAN, CONNECTION_SPAN_LEVEL};
    use super::*;

    /// A socket standing in for journald's, in a directory removed at the end.
    struct FakeJournal {
        dir: std::path::PathBuf,
        socket: UnixDatagram,
    }

    impl FakeJournal {
        fn new(tag: &str) -> FakeJournal {
            let dir =
                std::env::temp_dir().join(format!("ikehub-journal-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let socket = UnixDatagram::bind(dir.join("socket")).expect("bind");
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            FakeJournal { dir, socket }
        }

        fn path(&self) -> std::path::PathBuf {
            self.dir.join("socket")
        }

        /// Every entry waiting, decoded.
        fn entries(&self) -> Vec<BTreeMap<String, String>> {
            self.socket.set_nonblocking(true).expect("nonblocking");
            let mut entries = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = self.socket.recv(&mut buf) {
                entries.push(decode(&buf[..n]));
            }
            entries
        }
    }

    impl Drop for FakeJournal {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The native protocol's fields, as journald reads them.
    fn decode(mut bytes: &[u8]) -> BTreeMap<String, String> {
        let mut fields = BTreeMap::new();
        while !bytes.is_empty() {
            let end = bytes
                .iter()
                .position(|&b| b == b'\n' || b == b'=')
                .expect("field name ends");
            let name = String::from_utf8(bytes[..end].to_vec()).expect("name");
            let value;
            if bytes[end] == b'=' {
                let rest = &bytes[end + 1..];
                let newline = rest.iter().position(|&b| b == b'\n').expect("newline");
                value = rest[..newline].to_vec();
                bytes = &rest[newline + 1..];
            } else {
                let rest = &bytes[end + 1..];
                let length = u64::from_le_bytes(rest[..8].try_into().expect("length"));
                let length = usize::try_from(length).expect("length");
                value = rest[8..8 + length].to_vec();
                assert_eq!(rest[8 + length], b'\n');
                bytes = &rest[9 + length..];
            }
            fields.insert(name, String::from_utf8(value).expect("value"));
        }
        fields
    }

    fn with_journal(
        journal: &FakeJournal,
        directives: &str,
        body: impl FnOnce(&reload::Handle<ConnectionFilter, tracing_subscriber::Registry>),
    ) {
        let filter = ConnectionFilter::new(directives)
            .expect("directives")
            .with_connection_spans();
        let (filter, handle) = reload::Layer::new(filter);
        let layer = JournalLayer::connect(&journal.path()).expect("connect");
        let subscriber = tracing_subscriber::registry().with(filter).with(layer);
        tracing::subscriber::with_default(subscriber, || body(&handle));
    }

    /// Events of every level in connection `name`'s SA span (at debug, as the daemon's).
    fn log_in(name: &str) {
        tracing::span!(
            CONNECTION_SPAN_LEVEL,
            CONNECTION_SPAN,
            conn = name,
            spi_i = "0102030405060708",
            peer = %"198.51.100.20:500".parse::<std::net::SocketAddr>().expect("address"),
        )
        .in_scope(|| {
            tracing::info_span!("exchange").in_scope(|| {
                trace!("trace of {name}");
                debug!("debug of {name}");
                info!(spi = 7, "info of {name}");
                warn!("warn of {name}");
                error!("error of {name}\nsecond line");
            });
        });
    }

    fn find<'a>(
        entries: &'a [BTreeMap<String, String>],
        start: &str,
    ) -> &'a BTreeMap<String, String> {
        entries
            .iter()
            .find(|e| e.get("MESSAGE").is_some_and(|m| m.starts_with(start)))
            .unwrap_or_else(|| panic!("no entry {start:?} in {entries:#?}"))
    }

    #[test]
    fn entries_carry_priority_message_connection_and_peer() {
        let journal = FakeJournal::new("fields");
        with_journal(&journal, "info", |_| {
            log_in("office");
            info!(peer = %"192.0.2.9:4500", "a line outside any connection");
            info!("a plain line");
        });
        let entries = journal.entries();
        // Info is the default level: the connection's debug and trace lines are not sent, and
        // its span is on all the same, so its lines name it.
        assert_eq!(entries.len(), 5, "{entries:#?}");
        let info = find(&entries, "info of office");
        assert_eq!(info["PRIORITY"], "6");
        assert_eq!(info["MESSAGE"], "info of office spi=7");
        assert_eq!(info["IKEHUB_CONNECTION"], "office");
        assert_eq!(info["IKEHUB_PEER"], "198.51.100.20:500");
        assert_eq!(info["SYSLOG_IDENTIFIER"], "ikehub");
        assert_eq!(find(&entries, "warn of office")["PRIORITY"], "4");
        let error = find(&entries, "error of office");
        assert_eq!(error["PRIORITY"], "3");
        assert_eq!(error["MESSAGE"], "error of office\nsecond line");
        assert_eq!(error["IKEHUB_CONNECTION"], "office");
        let outside = find(&entries, "a line outside");
        assert_eq!(outside["IKEHUB_PEER"], "192.0.2.9:4500");
        assert!(!outside.contains_key("IKEHUB_CONNECTION"), "{outside:?}");
        let plain = find(&entries, "a plain line");
        assert!(!plain.contains_key("IKEHUB_PEER"), "{plain:?}");
    }

    #[test]
    fn the_live_filter_applies_to_the_journal() {
        let journal = FakeJournal::new("filter");
        with_journal(&journal, "info", |handle| {
            handle
                .modify(|f| f.set_connection("office", LevelFilter::TRACE))
                .expect("modify");
            handle
                .modify(|f| f.set_connection("branch", LevelFilter::ERROR))
                .expect("modify");
            log_in("office");
            log_in("branch");
        });
        let entries = journal.entries();
        let trace = find(&entries, "trace of office");
        assert_eq!(trace["PRIORITY"], "7");
        assert_eq!(trace["IKEHUB_CONNECTION"], "office");
        assert_eq!(find(&entries, "debug of office")["PRIORITY"], "7");
        let branch: Vec<_> = entries
            .iter()
            .filter(|e| e.get("IKEHUB_CONNECTION").map(String::as_str) == Some("branch"))
            .map(|e| e["MESSAGE"].as_str())
            .collect();
        assert_eq!(branch, ["error of branch\nsecond line"]);
    }

    #[test]
    fn the_journal_stream_must_be_stderr() {
        assert!(stream_matches("8:1234", 8, 1234));
        assert!(!stream_matches("8:1234", 8, 1235));
        assert!(!stream_matches("9:1234", 8, 1234));
        assert!(!stream_matches("garbage", 8, 1234));
        assert!(!stream_matches("", 0, 0));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let text = "é".repeat(10);
        assert_eq!(cut(&text, 5), "éé");
        assert_eq!(cut(&text, 100), text);
    }
}
