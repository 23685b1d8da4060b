//! What `ikehub routes` shows: each configured route entry with its connection's interface and
//! its state, as a table and as JSON (`ikehub routes --json`), pretty-printed as `status --json`
//! is:
//!
//! ```text
//! {
//!   "schema": 1,
//!   "routes": [
//!     {
//!       "destination": "10.10.10.0/24",
//!       "connection": "shanghai",
//!       "interface": "ikh-shanghai",
//!       "weight": 100,
//!       "state": "active",
//!       "published": true
//!     }
//!   ]
//! }
//! ```
//!
//! `schema` is [`ROUTES_SCHEMA`]: it changes only when a field is renamed, removed or changes
//! its meaning or type.
//!
//! `state`: "active" (installed and preferred), "standby" (connection up, another entry
//! preferred) or "down" (the connection has no CHILD_SA). `published`: the entry is
//! configured with `publish = true`; it is in the main table while it is also "active".

use std::fmt::Write as _;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::table::EntryState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStatus {
    pub destination: IpNet,
    pub connection: String,
    pub interface: String,
    pub weight: u8,
    pub state: EntryState,
    pub published: bool,
}

/// The version of the JSON layout of `ikehub routes --json`.
pub const ROUTES_SCHEMA: u32 = 1;

/// The `{"schema": 1, "routes": [...]}` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutesSnapshot {
    pub schema: u32,
    pub routes: Vec<RouteStatus>,
}

impl RoutesSnapshot {
    pub fn new(routes: Vec<RouteStatus>) -> RoutesSnapshot {
        RoutesSnapshot {
            schema: ROUTES_SCHEMA,
            routes,
        }
    }

    /// The JSON form `ikehub routes --json` prints: in the layout of `ikehub status --json`
    /// (pretty-printed, one field per line), without a final newline.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::new();
        crate::daemon::status::pretty::to_writer(&mut out, self)?;
        Ok(out)
    }
}

const HEADINGS: [&str; 6] = [
    "DESTINATION",
    "CONNECTION",
    "INTERFACE",
    "WEIGHT",
    "STATE",
    "PUBLISHED",
];

/// The human table, columns aligned; a single line saying so when there are no routes.
pub fn render(routes: &[RouteStatus]) -> String {
    if routes.is_empty() {
        return "no routes (hub mode is off or no [[route]] is configured)\n".to_owned();
    }
    let rows: Vec<[String; 6]> = routes
        .iter()
        .map(|r| {
            [
                r.destination.to_string(),
                r.connection.clone(),
                r.interface.clone(),
                r.weight.to_string(),
                r.state.name().to_owned(),
                if r.published { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = HEADINGS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            let _ = write!(text, "{cell:<width$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&HEADINGS);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<RouteStatus> {
        vec![
            RouteStatus {
                destination: "10.10.10.0/24".parse().expect("net"),
                connection: "shanghai".into(),
                interface: "ikh-shanghai".into(),
                weight: 100,
                state: EntryState::Active,
                published: true,
            },
            RouteStatus {
                destination: "10.10.10.0/24".parse().expect("net"),
                connection: "beijing".into(),
                interface: "ikh-beijing".into(),
                weight: 0,
                state: EntryState::Down,
                published: false,
            },
        ]
    }

    fn json_text(snapshot: &RoutesSnapshot) -> String {
        String::from_utf8(snapshot.to_json().expect("json")).expect("utf-8")
    }

    #[test]
    fn json_has_the_documented_shape() {
        let json = json_text(&RoutesSnapshot::new(sample()[..1].to_vec()));
        let documented = "{
  \"schema\": 1,
  \"routes\": [
    {
      \"destination\": \"10.10.10.0/24\",
      \"connection\": \"shanghai\",
      \"interface\": \"ikh-shanghai\",
      \"weight\": 100,
      \"state\": \"active\",
      \"published\": true
    }
  ]
}";
        assert_eq!(json, documented);
        let empty = json_text(&RoutesSnapshot::new(vec![]));
        assert_eq!(empty, "{\n  \"schema\": 1,\n  \"routes\": []\n}");
    }

    #[test]
    fn table_is_aligned() {
        let text = render(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "DESTINATION    CONNECTION  INTERFACE     WEIGHT  STATE   PUBLISHED",
                "10.10.10.0/24  shanghai    ikh-shanghai  100     active  yes",
                "10.10.10.0/24  beijing     ikh-beijing   0       down    no",
            ]
        );
        assert!(render(&[]).starts_with("no routes"));
    }
}
