//! The log filter: the global directives (`IKEHUB_LOG`, or a level set with `ikehub log`),
//! and a level per connection that overrides them for the connection's work.
//!
//! The daemon runs each piece of a connection's work inside a span named
//! [`CONNECTION_SPAN`] whose `conn` field is the connection's name (see `scope.rs`). An
//! event inside such a span is enabled at that connection's level when it has one, at the
//! global directives' otherwise. Events outside any connection span always follow the
//! global directives.
//!
//! Without overrides the filter answers as the global [`EnvFilter`] alone, from the same
//! per-callsite interest cache: a disabled event costs what it did before, and no string is
//! formatted for it; the connection spans, at debug level, are off unless the global
//! directives turn debug on. With overrides the connection spans are always on, and events
//! whose level the global directives and an override judge differently are checked per
//! event, by walking the current span's scope (tens of nanoseconds).

use std::collections::BTreeMap;
use std::fmt;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The name of the span the daemon enters around a connection's work.
pub const CONNECTION_SPAN: &str = "connection";
/// The field of [`CONNECTION_SPAN`] holding the connection's name.
pub const CONNECTION_FIELD: &str = "conn";
/// The level of [`CONNECTION_SPAN`]: off at the default `info` unless a connection has a
/// level of its own.
pub const CONNECTION_SPAN_LEVEL: tracing::Level = tracing::Level::DEBUG;

pub struct ConnectionFilter {
    global: EnvFilter,
    /// The directives the daemon started with, which a global `reset` returns to.
    startup: String,
    overrides: BTreeMap<String, LevelFilter>,
    /// The connection spans are on whatever the levels: the journal takes each line's
    /// connection from them (`journal.rs`).
    spans_always: bool,
}

/// The override a connection span was opened under (`None`: the connection has none), kept
/// in the span's extensions so events inside it need no name lookup.
struct SpanLevel(Option<LevelFilter>);

impl ConnectionFilter {
    /// A filter from `IKEHUB_LOG`-style directives; an error names what is wrong with them.
    pub fn new(directives: &str) -> Result<ConnectionFilter, String> {
        let global = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        Ok(ConnectionFilter {
            global,
            startup: directives.to_owned(),
            overrides: BTreeMap::new(),
            spans_always: false,
        })
    }

    /// A filter at one level for everything.
    pub fn at(level: LevelFilter) -> ConnectionFilter {
        let startup = level.to_string();
        ConnectionFilter {
            global: EnvFilter::new(&startup),
            startup,
            overrides: BTreeMap::new(),
            spans_always: false,
        }
    }

    /// Keep the connection spans on at every level, so that every line of a connection's
    /// work can name it (about a microsecond per span, a few spans per handshake).
    pub fn with_connection_spans(mut self) -> ConnectionFilter {
        self.spans_always = true;
        self
    }

    /// Replace the global directives; the overrides stay.
    pub fn set_global(&mut self, level: LevelFilter) {
        self.global = EnvFilter::new(level.to_string());
    }

    /// Back to the directives the daemon started with.
    pub fn reset_global(&mut self) {
        self.global = EnvFilter::new(&self.startup);
    }

    pub fn set_connection(&mut self, name: &str, level: LevelFilter) {
        self.overrides.insert(name.to_owned(), level);
    }

    /// Drop a connection's override; whether it had one.
    pub fn reset_connection(&mut self, name: &str) -> bool {
        self.overrides.remove(name).is_some()
    }

    /// Drop the overrides of connections that `keep` refuses (removed by a reload).
    pub fn retain_connections(&mut self, keep: impl Fn(&str) -> bool) {
        self.overrides.retain(|name, _| keep(name));
    }

    /// The global directives as `IKEHUB_LOG` would spell them.
    pub fn global(&self) -> String {
        self.global.to_string()
    }

    pub fn overrides(&self) -> &BTreeMap<String, LevelFilter> {
        &self.overrides
    }

    fn most_verbose_override(&self) -> Option<LevelFilter> {
        self.overrides.values().copied().max()
    }

    fn override_enables(&self, level: &tracing::Level) -> bool {
        self.most_verbose_override()
            .is_some_and(|most| most >= *level)
    }
}

fn is_connection_span(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && meta.name() == CONNECTION_SPAN
        && meta.fields().field(CONNECTION_FIELD).is_some()
}

/// The level of the innermost connection span around the current one, if it has an
/// override: `None` when there is no connection span or its connection has no override.
fn scope_level<S>(ctx: &Context<'_, S>) -> Option<LevelFilter>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let current = ctx.lookup_current()?;
    for span in current.scope() {
        if let Some(SpanLevel(level)) = span.extensions().get::<SpanLevel>() {
            return *level;
        }
    }
    None
}

/// Reads the connection name off a connection span's fields.
#[derive(Default)]
struct NameVisitor {
    name: Option<String>,
}

impl Visit for NameVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == CONNECTION_FIELD {
            self.name = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == CONNECTION_FIELD && self.name.is_none() {
            self.name = Some(format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for ConnectionFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        let global = <EnvFilter as Layer<S>>::register_callsite(&self.global, meta);
        if (self.spans_always || !self.overrides.is_empty()) && is_connection_span(meta) {
            // Needed to know which connection an event belongs to.
            return Interest::always();
        }
        if self.overrides.is_empty() {
            return global;
        }
        if meta.is_span() || (global.is_never() && !self.override_enables(meta.level())) {
            return global;
        }
        // Enabled or not depending on the connection it happens in: decided per event.
        Interest::sometimes()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let global = <EnvFilter as Layer<S>>::max_level_hint(&self.global)?;
        let spans = LevelFilter::from_level(CONNECTION_SPAN_LEVEL);
        Some(match self.most_verbose_override() {
            // The connection spans must pass the level check that comes before the filter.
            Some(most) => global.max(most).max(spans),
            None if self.spans_always => global.max(spans),
            None => global,
        })
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        if self.spans_always && is_connection_span(meta) {
            return true;
        }
        if !self.overrides.is_empty() {
            if is_connection_span(meta) {
                return true;
            }
            if meta.is_event() {
                if let Some(level) = scope_level(&ctx) {
                    return level >= *meta.level();
                }
            }
        }
        <EnvFilter as Layer<S>>::enabled(&self.global, meta, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if !self.overrides.is_empty() && is_connection_span(attrs.metadata()) {
            let mut visitor = NameVisitor::default();
            attrs.record(&mut visitor);
            let level = visitor
                .name
                .and_then(|name| self.overrides.get(&name).copied());
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(SpanLevel(level));
            }
        }
        <EnvFilter as Layer<S>>::on_new_span(&self.global, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        <EnvFilter as Layer<S>>::on_record(&self.global, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        <EnvFilter as Layer<S>>::on_enter(&self.global, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        <EnvFilter as Layer<S>>::on_exit(&self.global, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        <EnvFilter as Layer<S>>::on_close(&self.global, id, ctx);
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing::{debug, info, info_span, warn};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{reload, Registry};

    use super::*;

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Lines {
        fn take(&self) -> String {
            let mut bytes = self.0.lock().expect("lock");
            String::from_utf8(std::mem::take(&mut *bytes)).expect("utf-8")
        }
    }

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Run `body` under a subscriber with the filter, handing it the filter's handle and
    /// the lines written so far.
    fn with_filter(
        directives: &str,
        body: impl FnOnce(&reload::Handle<ConnectionFilter, Registry>, &Lines),
    ) {
        let filter = ConnectionFilter::new(directives).expect("directives");
        let (filter, handle) = reload::Layer::new(filter);
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry().with(filter).with(
            tracing_subscriber::fmt::layer()
                .without_time()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || body(&handle, &lines));
    }

    /// One event of each level inside connection `name`'s span (with an inner span, as the
    /// engine's), and one debug event outside. The span is at debug, as the daemon's.
    fn log_in(name: &str) {
        tracing::span!(
            CONNECTION_SPAN_LEVEL,
            CONNECTION_SPAN,
            conn = name,
            spi_i = "0102030405060708"
        )
        .in_scope(|| {
            info_span!("exchange").in_scope(|| {
                debug!("debug of {name}");
                info!("info of {name}");
                warn!("warn of {name}");
            });
        });
        debug!("debug outside");
        info!("info outside");
    }

    #[test]
    fn without_overrides_the_global_directives_decide_and_connection_spans_are_off() {
        with_filter("info", |_, lines| {
            log_in("office");
            let text = lines.take();
            assert!(!text.contains("debug of office"), "{text}");
            assert!(!text.contains("debug outside"), "{text}");
            assert!(text.contains("info outside"), "{text}");
            let info = text
                .lines()
                .find(|l| l.contains("info of office"))
                .expect("info line");
            assert!(!info.contains("connection{"), "{info}");
        });
        with_filter("debug", |_, lines| {
            log_in("office");
            let text = lines.take();
            let debug = text
                .lines()
                .find(|l| l.contains("debug of office"))
                .expect("debug line");
            assert!(debug.contains("connection{conn=\"office\""), "{debug}");
            assert!(debug.contains("spi_i=\"0102030405060708\""), "{debug}");
        });
    }

    #[test]
    fn a_connection_level_applies_inside_its_spans_only() {
        with_filter("info", |handle, lines| {
            handle
                .modify(|f| f.set_connection("office", LevelFilter::DEBUG))
                .expect("modify");
            log_in("office");
            log_in("branch");
            let text = lines.take();
            assert!(text.contains("DEBUG"), "{text}");
            assert!(text.contains("debug of office"), "{text}");
            assert!(!text.contains("debug of branch"), "{text}");
            assert!(!text.contains("debug outside"), "{text}");
            // With a connection level set, every connection's lines name it.
            let branch = text
                .lines()
                .find(|l| l.contains("info of branch"))
                .expect("info line");
            assert!(branch.contains("connection{conn=\"branch\""), "{branch}");

            // Quieter than the global level: the connection's info goes, others' stays.
            handle
                .modify(|f| f.set_connection("office", LevelFilter::WARN))
                .expect("modify");
            log_in("office");
            log_in("branch");
            let text = lines.take();
            assert!(!text.contains("info of office"), "{text}");
            assert!(text.contains("warn of office"), "{text}");
            assert!(text.contains("info of branch"), "{text}");

            // Reset: the global directives again.
            handle
                .modify(|f| {
                    assert!(f.reset_connection("office"));
                })
                .expect("modify");
            log_in("office");
            let text = lines.take();
            assert!(!text.contains("debug of office"), "{text}");
            assert!(text.contains("info of office"), "{text}");
        });
    }

    #[test]
    fn the_global_level_changes_and_resets_to_the_startup_directives() {
        with_filter("warn", |handle, lines| {
            log_in("office");
            let text = lines.take();
            assert!(!text.contains("info of office"), "{text}");
            assert!(text.contains("warn of office"), "{text}");

            handle
                .modify(|f| f.set_global(LevelFilter::DEBUG))
                .expect("modify");
            log_in("office");
            let text = lines.take();
            assert!(text.contains("debug of office"), "{text}");
            assert!(text.contains("debug outside"), "{text}");
            assert_eq!(
                handle.with_current(ConnectionFilter::global).expect("read"),
                "debug"
            );

            handle
                .modify(ConnectionFilter::reset_global)
                .expect("modify");
            log_in("office");
            let text = lines.take();
            assert!(!text.contains("info of office"), "{text}");
            assert_eq!(
                handle.with_current(ConnectionFilter::global).expect("read"),
                "warn"
            );
        });
    }

    #[test]
    fn the_level_hint_covers_the_most_verbose_override() {
        let mut filter = ConnectionFilter::new("warn").expect("directives");
        let hint = |f: &ConnectionFilter| <ConnectionFilter as Layer<Registry>>::max_level_hint(f);
        assert_eq!(hint(&filter), Some(LevelFilter::WARN));
        filter.set_connection("office", LevelFilter::TRACE);
        filter.set_connection("branch", LevelFilter::ERROR);
        assert_eq!(hint(&filter), Some(LevelFilter::TRACE));
        // A quiet override still lets the connection spans through.
        filter.retain_connections(|name| name != "office");
        assert_eq!(hint(&filter), Some(LevelFilter::DEBUG));
        assert!(filter.reset_connection("branch"));
        assert_eq!(hint(&filter), Some(LevelFilter::WARN));
        assert!(filter.overrides().is_empty());
        assert!(!filter.reset_connection("office"));
    }

    #[test]
    fn bad_directives_are_refused_with_the_reason() {
        let error = ConnectionFilter::new("info,[").err().expect("refused");
        assert!(!error.is_empty());
        assert_eq!(ConnectionFilter::at(LevelFilter::INFO).global(), "info");
    }
}
