//! Whole-file tests: defaults, every validation rule, positions, and many errors at once.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::algorithm::{DhGroup, Encryption};

const ORIGIN: &str = "/etc/ikehub/ikehub.toml";

const GATEWAY: &str = r#"
[gateway]
name = "hub"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.0.0.0/16"]
"#;

fn origin() -> PathBuf {
    PathBuf::from(ORIGIN)
}

fn ok(text: &str) -> Config {
    parse(text, &origin()).unwrap_or_else(|e| panic!("expected a valid config, got:\n{e}"))
}

fn errors(text: &str) -> ConfigErrors {
    match parse(text, &origin()) {
        Ok(config) => panic!("expected errors, got a valid config:\n{}", config.summary()),
        Err(errors) => errors,
    }
}

/// Asserts that some error's field and message contain all the given fragments.
fn assert_error(errors: &ConfigErrors, field: &str, fragments: &[&str]) {
    let found = errors
        .0
        .iter()
        .any(|e| e.field == field && fragments.iter().all(|f| e.message.contains(f)));
    assert!(
        found,
        "no error on {field:?} containing {fragments:?} in:\n{errors}"
    );
}

fn peer(name: &str, address: &str) -> String {
    format!("[[peer]]\nname = \"{name}\"\naddress = \"{address}\"\n")
}

fn connection(name: &str, peer: &str, remote: &str, extra: &str) -> String {
    format!(
        "[[connection]]\nname = \"{name}\"\npeer = \"{peer}\"\npsk = \"s3cret-{name}\"\nremote_subnets = [\"{remote}\"]\n{extra}\n"
    )
}

fn route(destination: &str, connection: &str, weight: u8) -> String {
    format!("[[route]]\ndestination = \"{destination}\"\nconnection = \"{connection}\"\nweight = {weight}\n")
}

fn basic() -> String {
    format!(
        "{GATEWAY}{}{}",
        peer("shanghai", "198.51.100.10"),
        connection("shanghai", "shanghai", "10.10.10.0/24", "")
    )
}

#[test]
fn defaults_are_filled_in() {
    let config = ok(&(basic() + &route("10.10.10.0/24", "shanghai", 100)));
    assert!(!config.gateway.hub);
    let peer = &config.peers[0];
    assert_eq!(
        peer.identity,
        Identity::Ipv4("198.51.100.10".parse().expect("v4"))
    );
    let c = &config.connections[0];
    assert_eq!(c.version, IkeVersion::V2);
    assert_eq!(
        c.local_subnets,
        vec!["10.0.0.0/16".parse::<ipnet::IpNet>().expect("net")]
    );
    assert_eq!(
        c.local_identity,
        Identity::Ipv4("192.0.2.1".parse().expect("v4"))
    );
    let ike: Vec<String> = c.ike_proposals.iter().map(ToString::to_string).collect();
    assert_eq!(
        ike,
        [
            "aes128gcm16-prfsha256-ecp256",
            "aes128-sha256-prfsha256-ecp256-modp2048"
        ]
    );
    let esp: Vec<String> = c.esp_proposals.iter().map(ToString::to_string).collect();
    assert_eq!(esp, DEFAULT_ESP_PROPOSALS);
    assert!(c
        .esp_proposals
        .iter()
        .all(|p| p.dh == [DhGroup::Ecp256, DhGroup::Modp2048] && !p.esn));
    assert_eq!(c.pfs, Pfs::Optional);
    assert_eq!(c.ike_lifetime, Duration::from_secs(4 * 3600));
    assert_eq!(c.child_lifetime, Duration::from_secs(3600));
    assert_eq!(c.dpd_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.dpd_timeout, None);
    assert_eq!(c.local_address, "192.0.2.1".parse::<IpAddr>().expect("ip"));
    assert_eq!(c.start_action, StartAction::Listen);
    assert_eq!(config.gateway.offload, Offload::None);
    assert_eq!(c.offload, Offload::None);
    assert_eq!(c.psk().map(|p| p.secret()), Some(&b"s3cret-shanghai"[..]));
    assert_eq!(config.routes[0].weight, WEIGHT_ACTIVE);
    assert!(!config.routes[0].publish);
}

/// A gateway, one peer and two connections to it with extra settings each.
fn two_connections(gateway: &str, first: (&str, &str), second: (&str, &str)) -> String {
    format!(
        "{gateway}{}{}{}",
        peer("p", "198.51.100.10"),
        connection(first.0, "p", "10.10.10.0/24", first.1),
        connection(second.0, "p", "10.10.20.0/24", second.1),
    )
}

#[test]
fn offload_defaults_to_the_gateways_and_connections_may_override_it() {
    let gateway = GATEWAY.to_owned() + "offload = \"auto\"\n";
    let text = two_connections(
        &gateway,
        ("inherits", ""),
        ("strict", "offload = \"crypto\""),
    );
    let config = ok(&text);
    assert_eq!(config.gateway.offload, Offload::Auto);
    assert_eq!(config.connections[0].offload, Offload::Auto);
    assert_eq!(config.connections[1].offload, Offload::Crypto);
    assert!(config.summary().contains(", offload crypto"));
}

#[test]
fn the_metrics_endpoint_is_off_by_default_and_takes_an_address_and_port() {
    assert_eq!(ok(&basic()).gateway.metrics_listen, None);
    for (given, address) in [
        ("127.0.0.1:9669", "127.0.0.1:9669"),
        ("[::1]:9100", "[::1]:9100"),
    ] {
        let text = basic().replacen(
            "[gateway]\n",
            &format!("[gateway]\nmetrics_listen = \"{given}\"\n"),
            1,
        );
        let expected: std::net::SocketAddr = address.parse().expect("address");
        assert_eq!(ok(&text).gateway.metrics_listen, Some(expected));
    }
    for (given, fragment) in [
        ("127.0.0.1", "not an address and port"),
        ("localhost:9669", "not an address and port"),
        ("127.0.0.1:0", "port 0"),
    ] {
        let text = basic().replacen(
            "[gateway]\n",
            &format!("[gateway]\nmetrics_listen = \"{given}\"\n"),
            1,
        );
        assert_error(&errors(&text), "gateway.metrics_listen", &[fragment]);
    }
}

#[test]
fn the_control_group_is_root_only_by_default_and_names_an_existing_group() {
    assert_eq!(ok(&basic()).gateway.control_group, None);
    let with = |name: &str| {
        basic().replacen(
            "[gateway]\n",
            &format!("[gateway]\ncontrol_group = \"{name}\"\n"),
            1,
        )
    };
    // Group 0 is "root" on every Linux system.
    let root = ok(&with("root")).gateway.control_group;
    assert_eq!(
        root,
        Some(ControlGroup {
            name: "root".into(),
            gid: 0
        })
    );
    assert_error(
        &errors(&with("no-such-group-ikehub")),
        "gateway.control_group",
        &["no group \"no-such-group-ikehub\" on this system"],
    );
    assert_error(
        &errors(&with("")),
        "gateway.control_group",
        &["empty group name"],
    );
}

#[test]
fn pfs_is_optional_by_default_and_may_be_required() {
    let text = two_connections(GATEWAY, ("optional", ""), ("strict", "pfs = \"required\""));
    let config = ok(&text);
    assert_eq!(config.connections[0].pfs, Pfs::Optional);
    assert_eq!(config.connections[1].pfs, Pfs::Required);
    let summary = config.summary();
    assert!(summary.contains("pfs optional"), "{summary}");
    assert!(summary.contains("pfs required"), "{summary}");
}

#[test]
fn unknown_pfs_values_and_required_pfs_without_a_group_are_refused() {
    let text = two_connections(
        GATEWAY,
        ("yes", "pfs = \"yes\""),
        (
            "nogroup",
            "pfs = \"required\"\nesp_proposals = [\"aes128gcm16-ecp256\", \"aes128gcm16\"]",
        ),
    );
    let e = errors(&text);
    assert_error(
        &e,
        "connection \"yes\".pfs",
        &[
            "unknown PFS setting \"yes\"",
            "\"optional\" or \"required\"",
        ],
    );
    assert_error(
        &e,
        "connection \"nogroup\".pfs",
        &["esp_proposals[1] names no key exchange group"],
    );
    assert_eq!(e.0.len(), 2, "{e}");
}

#[test]
fn unknown_offload_modes_are_reported_together_with_their_position() {
    let gateway = GATEWAY.to_owned() + "offload = \"full\"\n";
    let text = format!(
        "{gateway}{}{}{}",
        peer("p", "198.51.100.10"),
        connection("a", "p", "10.10.10.0/24", "offload = \"hardware\""),
        connection("b", "p", "10.10.20.0/24", "offload = true"),
    );
    let e = errors(&text);
    assert_error(
        &e,
        "gateway.offload",
        &["\"full\"", "\"packet\"", "\"auto\""],
    );
    assert_error(
        &e,
        "connection \"a\".offload",
        &["\"hardware\"", "\"crypto\""],
    );
    assert_error(&e, "connection \"b\".offload", &["expected a string"]);
    let located =
        e.0.iter()
            .find(|e| e.field == "connection \"a\".offload")
            .and_then(|e| e.line_col);
    let line = text
        .lines()
        .position(|l| l.contains("\"hardware\""))
        .map(|i| i + 1);
    assert_eq!(located.map(|(line, _)| line), line);
}

#[test]
fn explicit_settings_are_used() {
    let extra = r#"
version = "ikev1"
local_subnets = ["10.0.1.0/24"]
local_identity = "vpn.example.com"
ike_proposals = ["aes256-sha256-modp2048", "aes128-sha1-modp1024"]
esp_proposals = ["aes128-sha1-modp1024"]
ike_lifetime = "1d"
child_lifetime = 20
dpd_interval = "off"
dpd_timeout = "10s"
start_action = "initiate"
"#;
    let text = format!(
        "{GATEWAY}{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.10.10.0/24", extra)
    );
    let config = ok(&text);
    let c = &config.connections[0];
    assert_eq!(c.version, IkeVersion::V1);
    assert_eq!(c.local_identity, Identity::Fqdn("vpn.example.com".into()));
    assert_eq!(
        c.ike_proposals[1].encryption,
        vec![Encryption::AesCbc { key_bits: 128 }]
    );
    assert_eq!(c.esp_proposals[0].dh, vec![DhGroup::Modp1024]);
    assert_eq!(c.ike_lifetime, Duration::from_secs(86_400));
    assert_eq!(c.child_lifetime, Duration::from_secs(20));
    assert_eq!(c.dpd_interval, None);
    assert_eq!(c.dpd_timeout, Some(Duration::from_secs(10)));
    assert_eq!(c.start_action, StartAction::Initiate);
}

#[test]
fn a_second_uplink_names_its_local_address() {
    let gateway = "[gateway]\nname = \"office\"\nlocal_addresses = [\"198.51.100.40\", \"198.51.100.41\", \"2001:db8::40\"]\nlocal_subnets = [\"10.10.40.0/24\"]\n";
    let text = format!(
        "{gateway}{}{}{}{}{}",
        peer("hub", "192.0.2.1"),
        connection("uplink-1", "hub", "10.0.0.0/16", ""),
        connection(
            "uplink-2",
            "hub",
            "10.0.0.0/16",
            "local_address = \"198.51.100.41\"\n"
        ),
        route("10.0.0.0/16", "uplink-1", 100),
        route("10.0.0.0/16", "uplink-2", 0),
    );
    let config = ok(&text);
    let address = |name: &str| {
        config
            .connection(name)
            .map(|c| (c.local_address, c.local_identity.clone()))
    };
    let first: IpAddr = "198.51.100.40".parse().expect("ip");
    let second: IpAddr = "198.51.100.41".parse().expect("ip");
    // The identity follows the address IKE runs on, as strongSwan's default does.
    assert_eq!(address("uplink-1"), Some((first, Identity::from_ip(first))));
    assert_eq!(
        address("uplink-2"),
        Some((second, Identity::from_ip(second)))
    );

    let e = errors(&text.replace(
        "local_address = \"198.51.100.41\"",
        "local_address = \"198.51.100.99\"",
    ));
    assert_error(
        &e,
        "connection \"uplink-2\".local_address",
        &[
            "198.51.100.99",
            "not one of gateway.local_addresses",
            "198.51.100.41",
        ],
    );
    let e = errors(&text.replace(
        "local_address = \"198.51.100.41\"",
        "local_address = \"2001:db8::40\"",
    ));
    assert_error(
        &e,
        "connection \"uplink-2\".local_address",
        &["different families", "192.0.2.1"],
    );
    let e = errors(&text.replace(
        "local_address = \"198.51.100.41\"",
        "local_address = \"uplink\"\ndpd_timeout = \"1s\"",
    ));
    assert_error(
        &e,
        "connection \"uplink-2\".local_address",
        &["not an IP address"],
    );
    assert_error(
        &e,
        "connection \"uplink-2\".dpd_timeout",
        &["too short", "2s"],
    );
}

#[test]
fn ikev1_defaults_have_no_aead_ike_proposal() {
    let text = format!(
        "{GATEWAY}{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.10.10.0/24", "version = \"ikev1\"")
    );
    let config = ok(&text);
    assert!(config.connections[0]
        .ike_proposals
        .iter()
        .all(|p| p.is_single_choice() && p.integrity.len() == 1));
}

#[test]
fn local_identity_follows_the_peer_address_family() {
    let text = format!(
        "[gateway]\nname = \"gw\"\nlocal_addresses = [\"192.0.2.1\", \"2001:db8::1\"]\nlocal_subnets = [\"10.0.0.0/16\"]\n{}{}",
        peer("v6", "2001:db8:1::1"),
        connection("c", "v6", "10.10.10.0/24", "")
    );
    let config = ok(&text);
    let local: IpAddr = "2001:db8::1".parse().expect("v6");
    assert_eq!(
        config.connections[0].local_identity,
        Identity::from_ip(local)
    );
}

#[test]
fn hub_connections_default_to_any_local_side() {
    let text = format!(
        "[gateway]\nname = \"hub\"\nlocal_addresses = [\"192.0.2.1\"]\nlocal_subnets = [\"10.0.0.0/16\"]\nhub = true\n{}{}{}{}{}{}{}",
        peer("a", "198.51.100.10"),
        peer("b", "198.51.100.20"),
        connection("a", "a", "10.10.10.0/24", ""),
        connection("b", "b", "10.10.20.0/24\", \"2001:db8:20::/48", ""),
        connection("a-backup", "b", "10.10.10.0/24", ""),
        connection("narrow", "b", "10.10.40.0/24", "local_subnets = [\"10.0.0.0/16\"]\n"),
        route("10.10.10.0/24", "a", 100) + &route("10.10.10.0/24", "a-backup", 0),
    );
    let config = ok(&text);
    let locals = |name: &str| -> Vec<String> {
        let c = config
            .connections
            .iter()
            .find(|c| c.name == name)
            .expect("connection");
        c.local_subnets.iter().map(ToString::to_string).collect()
    };
    // Routes decide where traffic goes, so the selectors cover everything of each family the
    // connection's remote side uses; an explicit local side stays as written.
    assert_eq!(locals("a"), ["0.0.0.0/0"]);
    assert_eq!(locals("b"), ["0.0.0.0/0", "::/0"]);
    assert_eq!(locals("a-backup"), ["0.0.0.0/0"]);
    assert_eq!(locals("narrow"), ["10.0.0.0/16"]);
    // An explicit local side that overlaps the remote side is still an error in hub mode.
    let bad = text.replace(
        "remote_subnets = [\"10.10.40.0/24\"]\nlocal_subnets = [\"10.0.0.0/16\"]",
        "remote_subnets = [\"10.10.40.0/24\"]\nlocal_subnets = [\"10.0.0.0/8\"]",
    );
    assert_ne!(bad, text, "the test edits the narrow connection");
    let e = errors(&bad);
    assert_error(
        &e,
        "connection \"narrow\".remote_subnets[0]",
        &["10.0.0.0/8", "10.10.40.0/24"],
    );
}

#[test]
fn a_route_over_a_peers_address_is_refused() {
    let text = format!(
        "{GATEWAY}{}{}{}",
        peer("shanghai", "198.51.100.10"),
        connection("shanghai", "shanghai", "198.51.0.0/16", ""),
        route("198.51.100.0/24", "shanghai", 100),
    );
    let e = errors(&text);
    assert_error(
        &e,
        "route \"198.51.100.0/24\".destination",
        &["198.51.100.10", "peer \"shanghai\"", "routed into a tunnel"],
    );
    ok(&text.replace("198.51.100.0/24", "198.51.101.0/24"));
}

#[test]
fn hub_connections_whose_if_ids_collide_are_refused() {
    // Two names with the same 32-bit FNV-1a hash (found by a birthday search).
    let (first, second) = ("glbvs", "yacxa");
    assert_eq!(
        crate::config::hub_if_id(first),
        crate::config::hub_if_id(second)
    );
    let connections = |hub: bool| {
        format!(
            "[gateway]\nname = \"hub\"\nlocal_addresses = [\"192.0.2.1\"]\nhub = {hub}\nlocal_subnets = [\"10.0.0.0/16\"]\n{}{}{}",
            peer("a", "198.51.100.10"),
            connection(first, "a", "10.10.10.0/24", ""),
            connection(second, "a", "10.10.20.0/24", ""),
        )
    };
    let e = errors(&connections(true));
    assert_error(
        &e,
        &format!("connection \"{second}\".name"),
        &["if_id", first, "rename"],
    );
    // Without hub mode there are no interfaces, so no if_ids to clash.
    ok(&connections(false));
}

#[test]
fn syntax_error_has_position() {
    let text = "[gateway]\nname = \"hub\"\nlocal_addresses = [\"192.0.2.1\"\n";
    let e = errors(text);
    assert_eq!(e.0.len(), 1, "{e}");
    let error = &e.0[0];
    assert_eq!(error.file, origin());
    assert!(error.message.starts_with("TOML syntax"), "{error}");
    let (line, _) = error.line_col.expect("position");
    assert!(line >= 3, "{error}");
    // A value without its key's '=': the position is that of the bad line.
    let e = errors("[gateway]\nname \"gw\"\n");
    assert_eq!(e.0[0].line_col.map(|(l, _)| l), Some(2), "{e}");
}

#[test]
fn positions_point_at_the_value() {
    let text = format!(
        "{GATEWAY}{}[[connection]]\nname = \"c\"\npeer = \"p\"\npsk = \"x\"\nremote_subnets = [\"10.10.10.0/24\", \"10.10.999.0/24\"]\n",
        peer("p", "198.51.100.10")
    );
    let e = errors(&text);
    assert_eq!(e.0.len(), 1, "{e}");
    let error = &e.0[0];
    assert_eq!(error.field, "connection \"c\".remote_subnets[1]");
    // GATEWAY starts with a blank line: gateway lines 2-5, peer 6-8, connection from 9.
    let line = text
        .lines()
        .position(|l| l.starts_with("remote_subnets"))
        .expect("line")
        + 1;
    let column = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.find("\"10.10.999"))
        .expect("col")
        + 1;
    assert_eq!(error.line_col, Some((line, column)));
    assert_eq!(
        error.to_string(),
        format!("{ORIGIN}:{line}:{column}: connection \"c\".remote_subnets[1]: \"10.10.999.0/24\" is not a subnet (write it like 10.0.0.0/16)")
    );
}

#[test]
fn reports_every_error_of_a_bad_file_at_once() {
    let text = r#"
[gateway]
name = "gw"
local_addresses = []
colour = "blue"

[[peer]]
name = "a"
address = "not an address"

[[peer]]
name = "a"
address = "198.51.100.10"

[[connection]]
name = "x"
peer = "nobody"
remote_subnets = "10.10.10.0/24"
ike_proposals = ["aes512-sha256-modp2048"]
ike_lifetime = true

[[connection]]
peer = "a"
psk = "k"
remote_subnets = ["10.10.10.0/24"]
start_action = "later"

[[route]]
destination = "10.10.10.0/24"
connection = "y"
weight = 50
"#;
    let e = errors(text);
    assert_error(&e, "gateway.local_addresses", &["no local address"]);
    assert_error(
        &e,
        "gateway.colour",
        &["unknown key \"colour\"", "local_addresses"],
    );
    assert_error(&e, "peer \"a\".address", &["not an address"]);
    assert_error(&e, "peer \"a\".name", &["duplicate peer name \"a\""]);
    assert_error(
        &e,
        "connection \"x\".peer",
        &["unknown peer \"nobody\"", "known peers: a"],
    );
    assert_error(
        &e,
        "connection \"x\".remote_subnets",
        &["expected an array of strings, found a string"],
    );
    assert_error(&e, "connection \"x\".ike_proposals[0]", &["aes512"]);
    assert_error(&e, "connection \"x\".ike_lifetime", &["found a boolean"]);
    assert_error(&e, "connection \"x\".psk", &["no pre-shared key"]);
    assert_error(&e, "connection[1].name", &["missing required key"]);
    assert_error(&e, "connection[1].start_action", &["\"later\""]);
    assert_error(
        &e,
        "route \"10.10.10.0/24\".connection",
        &["unknown connection \"y\"", "known connections: x"],
    );
    assert_error(&e, "route \"10.10.10.0/24\".weight", &["weight 50"]);
    assert!(e.0.len() >= 13, "{e}");
    // One line per error, in file order.
    assert_eq!(e.to_string().lines().count(), e.0.len());
    let lines: Vec<usize> =
        e.0.iter()
            .filter_map(|e| e.line_col.map(|(l, _)| l))
            .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn unknown_keys_point_at_the_key() {
    let text =
        "[gateway]\nname = \"gw\"\nlocal_addresses = [\"192.0.2.1\"]\n   colour = \"blue\"\n";
    let e = errors(text);
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].line_col, Some((4, 4)), "{e}");
    assert_eq!(
        e.to_string(),
        format!("{ORIGIN}:4:4: gateway.colour: unknown key \"colour\"; known keys here: name, local_addresses, local_subnets, hub, offload, metrics_listen, control_group, certificate, private_key, ca_certificates, crl_files, cookie_threshold, half_open_per_address, half_open_limit, half_open_memory_mib")
    );
}

#[test]
fn missing_sections_and_top_level_mistakes() {
    let e = errors("[[peers]]\nname = \"a\"\n[peer]\nname = \"b\"\n");
    assert_error(&e, "gateway", &["missing the [gateway] section"]);
    assert_error(
        &e,
        "peers",
        &["unknown key \"peers\"", "gateway, peer, connection, route"],
    );
    assert_error(&e, "peer", &["[[peer]]"]);
    let e = errors(&(GATEWAY.to_owned() + "[[connection]]\nname = \"c\"\n"));
    assert_error(&e, "connection \"c\".peer", &["missing required key"]);
    assert_error(
        &e,
        "connection \"c\".remote_subnets",
        &["missing required key"],
    );
    assert_error(&e, "connection \"c\".psk", &["no pre-shared key"]);
}

#[test]
fn overlapping_local_and_remote_subnets_name_both_ranges() {
    let text = format!(
        "{GATEWAY}{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.0.1.0/24", "")
    );
    let e = errors(&text);
    assert_error(
        &e,
        "connection \"c\".remote_subnets[0]",
        &[
            "local subnet 10.0.0.0/16",
            "overlaps remote subnet 10.0.1.0/24",
            "gateway.local_subnets",
        ],
    );
    let text = format!(
        "{GATEWAY}{}{}",
        peer("p", "198.51.100.10"),
        connection(
            "c",
            "p",
            "192.168.0.0/16",
            "local_subnets = [\"192.168.10.0/24\"]"
        )
    );
    let e = errors(&text);
    assert_error(
        &e,
        "connection \"c\".remote_subnets[0]",
        &["local subnet 192.168.10.0/24 overlaps remote subnet 192.168.0.0/16"],
    );
}

#[test]
fn cross_checks_still_run_on_entries_with_other_errors() {
    let extra = "local_subnets = [\"10.0.0.0/16\"]\nike_proposals = [\"aes512-sha256-modp2048\"]";
    let text = format!("{GATEWAY}{}", peer("p", "not an address"))
        + &connection("c", "p", "10.0.1.0/24", extra);
    let e = errors(&text);
    assert_error(&e, "peer \"p\".address", &["not an address"]);
    assert_error(&e, "connection \"c\".ike_proposals[0]", &["aes512"]);
    assert_error(
        &e,
        "connection \"c\".remote_subnets[0]",
        &["local subnet 10.0.0.0/16 overlaps remote subnet 10.0.1.0/24"],
    );
    assert_eq!(e.0.len(), 3, "{e}");
}

#[test]
fn remote_subnets_of_two_connections_overlap_only_as_alternatives() {
    let base = format!(
        "{GATEWAY}{}{}{}{}",
        peer("a", "198.51.100.10"),
        peer("b", "198.51.100.20"),
        connection("primary", "a", "10.10.0.0/16", ""),
        connection("backup", "b", "10.10.10.0/24", ""),
    );
    let e = errors(&base);
    assert_error(
        &e,
        "connection \"backup\".remote_subnets[0]",
        &["remote subnet 10.10.10.0/24 overlaps remote subnet 10.10.0.0/16 of connection \"primary\"", "standby"],
    );
    // Same weight on both: still not alternatives.
    let e = errors(
        &(base.clone()
            + &route("10.10.10.0/24", "primary", 100)
            + &route("10.10.10.0/24", "backup", 100)),
    );
    assert_error(&e, "connection \"backup\".remote_subnets[0]", &["overlaps"]);
    assert_error(
        &e,
        "route \"10.10.10.0/24\".weight",
        &["weight 100 on both connection \"primary\" and connection \"backup\""],
    );
    // Active on one, standby on the other: accepted.
    ok(&(base + &route("10.10.10.0/24", "primary", 100) + &route("10.10.10.0/24", "backup", 0)));
}

#[test]
fn routes_are_checked() {
    let base = basic();
    let e = errors(&(base.clone() + &route("10.10.0.0/16", "shanghai", 100)));
    assert_error(
        &e,
        "route \"10.10.0.0/16\".destination",
        &["not entirely inside", "10.10.10.0/24"],
    );
    let e = errors(&(base.clone() + &route("10.20.0.0/24", "shanghai", 100)));
    assert_error(&e, "route \"10.20.0.0/24\".destination", &["outside"]);
    let e = errors(
        &(base.clone()
            + &route("10.10.10.0/24", "shanghai", 100)
            + &route("10.10.10.0/24", "shanghai", 0)),
    );
    assert_error(&e, "route \"10.10.10.0/24\"", &["given twice"]);
    let e = errors(&(base + "[[route]]\ndestination = \"10.10.10.0/24\"\nconnection = \"shanghai\"\nweight = 300\npublish = \"yes\"\n"));
    assert_error(
        &e,
        "route \"10.10.10.0/24\".weight",
        &["weight 300", "100", "0"],
    );
    assert_error(&e, "route \"10.10.10.0/24\".publish", &["true or false"]);
}

#[test]
fn peers_are_checked() {
    let e = errors(&format!("{GATEWAY}{}", peer("v6", "2001:db8::1")));
    assert_error(
        &e,
        "peer \"v6\".address",
        &["IPv6", "no IPv6 local address", "192.0.2.1"],
    );
    let e = errors(&format!("{GATEWAY}{}", peer("roamer", "any")));
    assert_error(&e, "peer \"roamer\".identity", &["needs an identity"]);
    let e = errors(&format!(
        "{GATEWAY}[[peer]]\nname = \"bad name\"\naddress = \"198.51.100.1\"\nidentity = \"%any\"\n"
    ));
    assert_error(&e, "peer \"bad name\".name", &["not a valid name"]);
    assert_error(&e, "peer \"bad name\".identity", &["any identity"]);
    // A roaming peer with an identity is fine as long as nobody initiates to it.
    let roamer = format!(
        "{GATEWAY}[[peer]]\nname = \"r\"\naddress = \"any\"\nidentity = \"user@example.com\"\n"
    );
    ok(&(roamer.clone() + &connection("c", "r", "10.10.10.0/24", "")));
    let e = errors(
        &(roamer.clone() + &connection("c", "r", "10.10.10.0/24", "start_action = \"initiate\"")),
    );
    assert_error(
        &e,
        "connection \"c\".start_action",
        &["cannot initiate", "\"any\""],
    );
    let e =
        errors(&(roamer + &connection("c", "r", "10.10.10.0/24", "close_action = \"restart\"")));
    assert_error(
        &e,
        "connection \"c\".close_action",
        &[
            "close_action = \"restart\" initiates",
            "\"any\"",
            "use \"none\"",
        ],
    );
}

#[test]
fn close_action_follows_the_start_action_unless_given() {
    let text = format!(
        "{GATEWAY}{}{}{}{}",
        peer("p", "198.51.100.10"),
        connection(
            "initiator",
            "p",
            "10.10.10.0/24",
            "start_action = \"initiate\""
        ),
        connection("listener", "p", "10.10.20.0/24", ""),
        connection(
            "quiet",
            "p",
            "10.10.30.0/24",
            "start_action = \"initiate\"\nclose_action = \"none\""
        ),
    );
    let config = ok(&text);
    let actions: Vec<CloseAction> = config.connections.iter().map(|c| c.close_action).collect();
    assert_eq!(
        actions,
        [CloseAction::Restart, CloseAction::None, CloseAction::None]
    );
    assert!(config.summary().contains("initiate, on close restart"));
    let e = errors(&format!(
        "{GATEWAY}{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.10.10.0/24", "close_action = \"start\""),
    ));
    assert_error(
        &e,
        "connection \"c\".close_action",
        &[
            "unknown close action \"start\"",
            "\"restart\", \"trap\" or \"none\"",
        ],
    );
}

#[test]
fn trap_start_action() {
    let text = format!(
        "{GATEWAY}{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.10.10.0/24", "start_action = \"trap\"")
    );
    let config = ok(&text);
    assert_eq!(config.connections[0].start_action, StartAction::Trap);
    assert!(config.summary().contains(", trap"), "{}", config.summary());
    // A trap initiates when traffic asks for it: a peer at "any" leaves nowhere to send to.
    let roamer = format!(
        "{GATEWAY}[[peer]]\nname = \"r\"\naddress = \"any\"\nidentity = \"user@example.com\"\n"
    );
    let e = errors(&(roamer + &connection("c", "r", "10.10.10.0/24", "start_action = \"trap\"")));
    assert_error(
        &e,
        "connection \"c\".start_action",
        &["\"trap\" cannot initiate", "\"any\"", "\"listen\""],
    );
    // The list of values names it.
    let e = errors(&format!(
        "{GATEWAY}{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.10.10.0/24", "start_action = \"on-demand\"")
    ));
    assert_error(&e, "connection \"c\".start_action", &["\"trap\""]);
}

#[test]
fn duplicate_connection_names() {
    let text = basic() + &connection("shanghai", "shanghai", "10.10.20.0/24", "");
    let e = errors(&text);
    assert_error(
        &e,
        "connection \"shanghai\".name",
        &["duplicate connection name \"shanghai\""],
    );
}

#[test]
fn gateway_needs_an_address() {
    let e = errors("[gateway]\nname = \"gw\"\n");
    assert_error(&e, "gateway.local_addresses", &["missing required key"]);
    let e = errors("[gateway]\nname = \"gw\"\nlocal_addresses = [\"192.0.2.1\", \"192.0.2.1\", \"x\"]\nhub = 1\n");
    assert_error(&e, "gateway.local_addresses[1]", &["listed twice"]);
    assert_error(
        &e,
        "gateway.local_addresses[2]",
        &["\"x\" is not an IP address"],
    );
    assert_error(&e, "gateway.hub", &["true or false", "integer"]);
    // Without gateway.local_subnets a connection must name its local side.
    let text = format!(
        "[gateway]\nname = \"gw\"\nlocal_addresses = [\"192.0.2.1\"]\n{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.10.10.0/24", "")
    );
    assert_error(
        &errors(&text),
        "connection \"c\".local_subnets",
        &["no local subnets"],
    );
}

#[test]
fn proposals_are_checked() {
    let extra = r#"ike_proposals = ["aes128gcm16-ecp256", "aes128-sha256-ecp256", "aes128-md4-ecp256"]
esp_proposals = ["aes128gcm16-sha256", "aes128-sha256-prfsha256"]"#;
    let e = errors(
        &(format!("{GATEWAY}{}", peer("p", "198.51.100.10"))
            + &connection("c", "p", "10.10.10.0/24", extra)),
    );
    assert_error(
        &e,
        "connection \"c\".ike_proposals[0]",
        &["\"aes128gcm16-ecp256\"", "needs a PRF"],
    );
    assert_error(
        &e,
        "connection \"c\".ike_proposals[2]",
        &["unknown IKE algorithm \"md4\"", "known: aes128, aes192"],
    );
    assert_error(
        &e,
        "connection \"c\".esp_proposals[0]",
        &["takes no integrity"],
    );
    assert_error(
        &e,
        "connection \"c\".esp_proposals[1]",
        &["unknown ESP algorithm \"prfsha256\""],
    );
    assert_eq!(e.0.len(), 4, "{e}");
    let v1 = r#"version = "ikev1"
ike_proposals = ["aes128gcm16-prfsha256-ecp256", "aes128-aes256-sha256-ecp256"]
esp_proposals = ["aes128-sha256-sha1"]"#;
    let e = errors(
        &(format!("{GATEWAY}{}", peer("p", "198.51.100.10"))
            + &connection("c", "p", "10.10.10.0/24", v1)),
    );
    assert_error(
        &e,
        "connection \"c\".ike_proposals[0]",
        &["IKEv1 has no AEAD"],
    );
    assert_error(
        &e,
        "connection \"c\".ike_proposals[1]",
        &["one algorithm of each kind"],
    );
    assert_error(
        &e,
        "connection \"c\".esp_proposals[0]",
        &["one algorithm of each kind"],
    );
    let e = errors(
        &(format!("{GATEWAY}{}", peer("p", "198.51.100.10"))
            + &connection("c", "p", "10.10.10.0/24", "ike_proposals = []")),
    );
    assert_error(&e, "connection \"c\".ike_proposals", &["empty list"]);
}

#[test]
fn lifetimes_are_checked() {
    let extra = "ike_lifetime = \"5s\"\nchild_lifetime = \"1 hour\"\ndpd_interval = \"0s\"";
    let e = errors(
        &(format!("{GATEWAY}{}", peer("p", "198.51.100.10"))
            + &connection("c", "p", "10.10.10.0/24", extra)),
    );
    assert_error(
        &e,
        "connection \"c\".ike_lifetime",
        &["5s is too short", "10s"],
    );
    assert_error(
        &e,
        "connection \"c\".child_lifetime",
        &["\"1 hour\" is not a duration"],
    );
    assert_error(&e, "connection \"c\".dpd_interval", &["too short", "off"]);
    let extra = "ike_lifetime = \"10s\"\nchild_lifetime = -3";
    let e = errors(
        &(format!("{GATEWAY}{}", peer("p", "198.51.100.10"))
            + &connection("c", "p", "10.10.10.0/24", extra)),
    );
    assert_eq!(e.0.len(), 1, "{e}");
    assert_error(&e, "connection \"c\".child_lifetime", &["negative"]);
}

#[test]
fn psk_inline_rules_and_secrets_stay_out_of_errors() {
    let both = "psk_file = \"office.psk\"";
    let text = format!("{GATEWAY}{}", peer("p", "198.51.100.10"))
        + &connection("c", "p", "10.10.10.0/24", both);
    let e = errors(&text);
    assert_error(&e, "connection \"c\".psk_file", &["either psk or psk_file"]);
    assert!(!e.to_string().contains("s3cret"), "{e}");
    let empty = format!("{GATEWAY}{}[[connection]]\nname = \"c\"\npeer = \"p\"\npsk = \"\"\nremote_subnets = [\"10.10.10.0/24\"]\n", peer("p", "198.51.100.10"));
    assert_error(&errors(&empty), "connection \"c\".psk", &["empty"]);
    // The secret never shows in debug output of the model.
    let config = ok(&basic());
    assert!(!format!("{config:?}").contains("s3cret"));
    assert!(format!("{config:?}").contains("Psk(<redacted>)"));
    assert!(!config.summary().contains("s3cret"));
}

#[cfg(unix)]
#[test]
fn inline_keys_are_refused_in_a_file_others_can_read() {
    use super::secret::tests::TempFile;

    // Two connections with inline keys and an unrelated error: all three are reported.
    let text = format!(
        "{GATEWAY}{}{}{}{}",
        peer("shanghai", "198.51.100.10"),
        peer("beijing", "198.51.100.11"),
        connection("shanghai", "shanghai", "10.10.10.0/24", ""),
        connection(
            "beijing",
            "beijing",
            "10.10.20.0/24",
            "dpd_interval = \"soon\""
        )
    );
    for mode in [0o644, 0o640, 0o604] {
        let file = TempFile::with_mode("inline", text.as_bytes(), mode);
        let e = load(&file.0).expect_err("readable by others");
        let path = file.0.display().to_string();
        let hint =
            format!("has mode {mode:04o}: group or others can access it; run chmod 600 {path}");
        for name in ["shanghai", "beijing"] {
            assert_error(
                &e,
                &format!("connection \"{name}\".psk"),
                &[&hint, "inline"],
            );
        }
        assert_error(&e, "connection \"beijing\".dpd_interval", &["soon"]);
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
    let fixed = text.replace("dpd_interval = \"soon\"", "");
    let private = TempFile::with_mode("inline", fixed.as_bytes(), 0o600);
    let config = load(&private.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.connections[0].psk().map(|p| p.secret()),
        Some(&b"s3cret-shanghai"[..])
    );
    // Text that comes from no file has no mode to check.
    assert!(parse(&fixed, &origin()).is_ok());
}

#[cfg(unix)]
#[test]
fn psk_files_are_read_relative_to_the_config_and_checked() {
    use super::secret::tests::TempFile;

    let good = TempFile::with_mode("good", b"from-a-file\n", 0o600);
    let open = TempFile::with_mode("open", b"TOPSECRET-OPEN\n", 0o644);
    let dir = good.0.parent().expect("temp dir").to_path_buf();
    let name = |f: &TempFile| {
        f.0.file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned()
    };
    let config_path = dir.join("ikehub.toml");
    let with_file = |file: &str| {
        format!(
            "{GATEWAY}{}[[connection]]\nname = \"c\"\npeer = \"p\"\npsk_file = \"{file}\"\nremote_subnets = [\"10.10.10.0/24\"]\n",
            peer("p", "198.51.100.10")
        )
    };

    let config = parse(&with_file(&name(&good)), &config_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.connections[0].psk().map(|p| p.secret()),
        Some(&b"from-a-file"[..])
    );

    let e = parse(&with_file(&name(&open)), &config_path).expect_err("mode 644");
    assert_error(&e, "connection \"c\".psk_file", &["0644", "chmod 600"]);
    assert!(!e.to_string().contains("TOPSECRET"), "{e}");

    let e = parse(&with_file("no-such-ikehub.psk"), &config_path).expect_err("missing");
    assert_error(
        &e,
        "connection \"c\".psk_file",
        &["no-such-ikehub.psk", "No such file"],
    );
}

#[test]
fn load_reports_unreadable_files() {
    let missing = Path::new("/nonexistent/ikehub.toml");
    let e = load(missing).expect_err("missing file");
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].file, missing);
    assert!(e.0[0].message.contains("No such file"), "{e}");
}

#[test]
fn summary_names_the_essentials() {
    let text = basic() + &route("10.10.10.0/24", "shanghai", 100);
    let summary = ok(&text).summary();
    assert!(
        summary.contains("gateway \"hub\": 192.0.2.1; local subnets 10.0.0.0/16"),
        "{summary}"
    );
    assert!(summary.contains("1 peer\n"), "{summary}");
    assert!(summary.contains("1 connection:"), "{summary}");
    assert!(
        summary.contains(
            "shanghai: ikev2 with peer \"shanghai\" (198.51.100.10), 10.0.0.0/16 <-> 10.10.10.0/24"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("aes128gcm16-prfsha256-ecp256"),
        "{summary}"
    );
    assert!(
        summary.contains("1 route:\n  10.10.10.0/24 -> shanghai (active)"),
        "{summary}"
    );
}

#[test]
fn datetimes_and_floats_are_wrong_types() {
    let text = "[gateway]\nname = 1979-05-27\nlocal_addresses = [1.5]\n";
    let e = errors(text);
    assert_error(
        &e,
        "gateway.name",
        &["expected a string, found a date-time"],
    );
    assert_error(&e, "gateway.local_addresses[0]", &["found a float"]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Parsing never panics, whatever the text.
    #[test]
    fn parse_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text, &origin());
    }

    /// Nor on text made of configuration-like pieces.
    #[test]
    fn parse_never_panics_on_near_misses(
        pieces in proptest::collection::vec(
            proptest::sample::select(vec![
                "[gateway]\n", "[[peer]]\n", "[[connection]]\n", "[[route]]\n",
                "name = \"a\"\n", "local_addresses = [\"192.0.2.1\"]\n", "address = \"any\"\n",
                "peer = \"a\"\n", "psk = \"k\"\n", "remote_subnets = [\"10.0.0.0/8\"]\n",
                "destination = \"10.0.0.0/8\"\n", "connection = \"a\"\n", "weight = 0\n",
                "hub = true\n", "local_subnets = [\"10.0.0.0/8\"]\n", "ike_lifetime = 1\n",
                "identity = \"@#\"\n", "x = [\n",
            ]),
            0..30,
        )
    ) {
        let text: String = pieces.concat();
        let _ = parse(&text, &origin());
    }
}

#[test]
fn half_open_limits_default_and_may_be_set_and_are_range_checked() {
    let config = ok(&basic());
    assert_eq!(config.gateway.half_open, HalfOpenLimits::default());
    let set = GATEWAY.to_owned()
        + "cookie_threshold = 0\nhalf_open_per_address = 5\nhalf_open_limit = 200\nhalf_open_memory_mib = 4\n";
    let config = ok(&format!(
        "{set}{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.10.10.0/24", "")
    ));
    assert_eq!(
        config.gateway.half_open,
        HalfOpenLimits {
            cookie_threshold: 0,
            per_address: 5,
            total: 200,
            memory_bytes: 4 << 20,
        }
    );
    let bad = GATEWAY.to_owned() + "half_open_per_address = 0\nhalf_open_limit = -3\n";
    let e = errors(&format!(
        "{bad}{}{}",
        peer("p", "198.51.100.10"),
        connection("c", "p", "10.10.10.0/24", "")
    ));
    assert_error(
        &e,
        "gateway.half_open_per_address",
        &["0 is out of range", "from 1 to 4294967295"],
    );
    assert_error(&e, "gateway.half_open_limit", &["-3 is out of range"]);
}

#[test]
fn a_peer_address_may_be_a_dns_name() {
    let text = format!(
        "{GATEWAY}{}{}",
        peer("office", "Office.Example.COM"),
        connection(
            "office",
            "office",
            "10.10.10.0/24",
            "start_action = \"initiate\""
        )
    );
    let config = ok(&text);
    let peer = &config.peers[0];
    assert_eq!(peer.address, PeerAddress::Name("office.example.com".into()));
    // The name is what stays when the address changes: the default identity.
    assert_eq!(peer.identity, Identity::Fqdn("office.example.com".into()));
    let c = &config.connections[0];
    assert_eq!(c.close_action, CloseAction::Restart);
    assert_eq!(c.local_address, "192.0.2.1".parse::<IpAddr>().expect("ip"));
}

#[test]
fn a_peer_address_that_is_neither_an_address_nor_a_name_is_refused_with_the_reason() {
    for (address, reason) in [
        ("office_1.example", "'_' is not allowed"),
        ("198.51.100.300", "all digits"),
        ("office..example", "empty label"),
        ("-office.example", "hyphen"),
    ] {
        let e = errors(&format!(
            "{GATEWAY}{}{}",
            peer("office", address),
            connection("office", "office", "10.10.10.0/24", "")
        ));
        assert_error(
            &e,
            "peer \"office\".address",
            &[address, "not an IP address, a DNS name or \"any\"", reason],
        );
    }
}

#[test]
fn a_trap_needs_a_peer_address_not_a_name() {
    let text = format!(
        "{GATEWAY}{}{}{}",
        peer("office", "office.example"),
        connection(
            "office",
            "office",
            "10.10.10.0/24",
            "start_action = \"trap\""
        ),
        connection(
            "office-2",
            "office",
            "10.10.20.0/24",
            "start_action = \"initiate\"\nclose_action = \"trap\""
        )
    );
    let e = errors(&text);
    assert_error(
        &e,
        "connection \"office\".start_action",
        &["DNS name \"office.example\"", "use \"initiate\""],
    );
    assert_error(
        &e,
        "connection \"office-2\".close_action",
        &["DNS name \"office.example\"", "use \"restart\""],
    );
}
