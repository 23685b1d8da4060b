//! The package's metadata as text: DEBIAN/control, the maintainer scripts, and the files of
//! /usr/share/doc/ikehub that Debian policy asks for (copyright, changelog.Debian).

/// The package's name, and the binary's.
pub const PACKAGE: &str = "ikehub";

/// Used when neither DEBFULLNAME/DEBEMAIL nor `[package.metadata.deb] maintainer` says who.
pub const FALLBACK_MAINTAINER: &str = "ikehub maintainers <maintainers@ikehub.invalid>";

/// Debian policy 3.2.1: at most 80 characters, no trailing full stop, not the package name.
const SYNOPSIS: &str = "IPsec VPN gateway for Linux routers (IKEv2, IKEv1, kernel ESP)";

/// The extended description, one paragraph per item (`control_file` indents and separates
/// them as Debian's control syntax wants).
const DESCRIPTION: &[&str] = &[
    "ikehub negotiates keys in userspace (IKEv2, RFC 7296, and IKEv1, RFC 2409) and programs \
     the kernel's XFRM states and policies over netlink, so ESP runs in the kernel. It does \
     what a cloud VPN gateway does, on your own box: site-to-site tunnels to peer gateways, \
     and a hub mode in which many sites reach each other through one gateway, steered by a \
     destination route table with active and standby routes.",
    "One binary, one TOML file (/etc/ikehub/ikehub.toml, described in ikehub.toml(5)), a \
     systemd unit that is not enabled at installation, and a command line (ikehub status, \
     up, down, routes, reload) that talks to the daemon over a root-only socket.",
];

/// The fields of DEBIAN/control that vary from one build to the next.
pub struct Control<'a> {
    pub version: &'a str,
    pub architecture: &'a str,
    pub maintainer: &'a str,
    /// The shared-library dependencies, as dpkg-shlibdeps computes them.
    pub depends: &'a str,
    pub installed_size_kib: u64,
}

/// A Debian version from a Cargo (semver) one, with Debian revision 1, as a package built
/// outside Debian's archive numbers itself: a pre-release sorts before its release in
/// Debian only with `~` (1.0.0~rc1 < 1.0.0), where semver writes `-`.
pub fn debian_version(cargo_version: &str) -> String {
    format!("{}-1", cargo_version.replace('-', "~"))
}

pub fn control_file(control: &Control) -> String {
    let mut text = format!(
        "Package: {PACKAGE}\n\
         Version: {}\n\
         Architecture: {}\n\
         Maintainer: {}\n\
         Installed-Size: {}\n\
         Depends: {}\n\
         Section: net\n\
         Priority: optional\n\
         Description: {SYNOPSIS}\n",
        control.version,
        control.architecture,
        control.maintainer,
        control.installed_size_kib,
        control.depends,
    );
    for (index, paragraph) in DESCRIPTION.iter().enumerate() {
        if index > 0 {
            text.push_str(" .\n");
        }
        for line in wrap(paragraph, 78) {
            text.push(' ');
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// The companion package with the debug info, as Debian's own `-dbgsym` packages are built:
/// found by gdb and perf through the binary's build ID.
pub fn dbgsym_control_file(control: &Control, build_id: &str) -> String {
    format!(
        "Package: {PACKAGE}-dbgsym\n\
         Source: {PACKAGE}\n\
         Version: {version}\n\
         Auto-Built-Package: debug-symbols\n\
         Architecture: {}\n\
         Maintainer: {}\n\
         Installed-Size: {}\n\
         Depends: {PACKAGE} (= {version})\n\
         Section: debug\n\
         Priority: optional\n\
         Description: debug symbols for {PACKAGE}\n\
         Build-Ids: {build_id}\n",
        control.architecture,
        control.maintainer,
        control.installed_size_kib,
        version = control.version,
    )
}

/// Words of `text` in lines of at most `width` characters (a longer word has a line of its
/// own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// /usr/share/lintian/overrides/ikehub: what Debian's checker flags on purpose.
pub const LINTIAN_OVERRIDES: &str = "\
# The configuration holds pre-shared keys and ikehub refuses it unless only its owner can
# read it; the directory also holds the psk_files, whose names say which peers exist.
ikehub: non-standard-dir-perm 0700 != 0755 [etc/ikehub/]
ikehub: non-standard-file-perm 0600 != 0644 [etc/ikehub/ikehub.toml]
# Built from the project's tree, not uploaded to Debian: there is no ITP bug to close.
ikehub: initial-upload-closes-no-bugs [usr/share/doc/ikehub/changelog.Debian.gz:1]
";

/// DEBIAN/postinst and DEBIAN/postrm: systemd rereads its units when the package's unit
/// comes or goes, as Debian's debhelper scripts do it, and only then: not while dpkg
/// installs into another root (DPKG_ROOT), not without systemd running. The service is
/// neither enabled nor started: its configuration is an example to edit first.
pub const POSTINST: &str = "#!/bin/sh
set -e
if [ \"$1\" = configure ] && [ -z \"${DPKG_ROOT:-}\" ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
";

pub const POSTRM: &str = "#!/bin/sh
set -e
if [ \"$1\" = remove ] && [ -z \"${DPKG_ROOT:-}\" ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
";

/// /usr/share/doc/ikehub/copyright in Debian's machine-readable format, pointing at the
/// licence text every Debian system has (policy 12.5). `years`: e.g. `2025-2026`.
pub fn copyright_file(years: &str) -> String {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {PACKAGE}\n\
         \n\
         Files: *\n\
         Copyright: {years} the {PACKAGE} authors\n\
         License: Apache-2.0\n\
         \x20On Debian systems, the full text of the Apache License, Version 2.0, can be\n\
         \x20found in /usr/share/common-licenses/Apache-2.0.\n"
    )
}

/// /usr/share/doc/ikehub/changelog.Debian: one entry for the package itself (the upstream
/// history is changelog.gz, the project's CHANGELOG.md). `date` is in RFC 5322 form.
pub fn debian_changelog(version: &str, maintainer: &str, date: &str) -> String {
    format!(
        "{PACKAGE} ({version}) unstable; urgency=medium\n\
         \n\
         \x20 * Built from the {PACKAGE} source tree with `cargo xtask deb`.\n\
         \n\
         \x20-- {maintainer}  {date}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Control<'static> {
        Control {
            version: "0.1.0-1",
            architecture: "amd64",
            maintainer: "A Maintainer <a@example.org>",
            depends: "libc6 (>= 2.34), libgcc-s1 (>= 4.2)",
            installed_size_kib: 5120,
        }
    }

    #[test]
    fn versions_get_a_revision_and_sort_pre_releases_first() {
        assert_eq!(debian_version("0.1.0"), "0.1.0-1");
        assert_eq!(debian_version("1.0.0-rc.1"), "1.0.0~rc.1-1");
    }

    #[test]
    fn the_control_file_has_every_field_dpkg_and_policy_want() {
        let text = control_file(&example());
        for field in [
            "Package: ikehub\n",
            "Version: 0.1.0-1\n",
            "Architecture: amd64\n",
            "Maintainer: A Maintainer <a@example.org>\n",
            "Installed-Size: 5120\n",
            "Depends: libc6 (>= 2.34), libgcc-s1 (>= 4.2)\n",
            "Section: net\n",
            "Priority: optional\n",
            "Description: ",
        ] {
            assert!(text.contains(field), "{field:?} missing from\n{text}");
        }
        assert!(SYNOPSIS.len() <= 80 && !SYNOPSIS.ends_with('.'));
        // the extended description: indented lines, paragraphs separated by " ."
        let description: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with("Description:"))
            .skip(1)
            .collect();
        assert!(description.len() > 3, "{text}");
        assert!(description.iter().all(|line| line.starts_with(' ')));
        assert!(description.iter().all(|line| line.len() <= 80));
        assert!(description.contains(&" ."));
        assert!(text.ends_with('\n') && !text.contains("\n\n"));
    }

    #[test]
    fn the_debug_package_depends_on_this_exact_build() {
        let text = dbgsym_control_file(&example(), "0123abcd");
        assert!(text.contains("Package: ikehub-dbgsym\n"));
        assert!(text.contains("Depends: ikehub (= 0.1.0-1)\n"));
        assert!(text.contains("Build-Ids: 0123abcd\n"));
    }

    #[test]
    fn wrapping_keeps_every_word_in_order() {
        let lines = wrap("aa bb cc dd", 5);
        assert_eq!(lines, vec!["aa bb", "cc dd"]);
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            vec!["averyveryverylongword", "x"]
        );
    }

    #[test]
    fn the_maintainer_scripts_reload_systemd_only_on_a_live_system() {
        for script in [POSTINST, POSTRM] {
            assert!(script.starts_with("#!/bin/sh\nset -e\n"));
            assert!(script.contains("[ -z \"${DPKG_ROOT:-}\" ]"));
            assert!(script.contains("[ -d /run/systemd/system ]"));
            assert!(!script.contains("enable") && !script.contains("start"));
        }
    }

    #[test]
    fn the_copyright_file_names_years_and_the_common_licence() {
        let text = copyright_file("2025-2026");
        assert!(text.contains("\nCopyright: 2025-2026 the ikehub authors\n"));
        assert!(text.contains("/usr/share/common-licenses/Apache-2.0"));
        assert!(text
            .lines()
            .skip(1)
            .all(|l| l.is_empty() || !l.starts_with('\t')));
    }

    #[test]
    fn the_changelog_entry_is_in_debian_format() {
        let text = debian_changelog(
            "0.1.0-1",
            "A <a@example.org>",
            "Mon, 07 Dec 2026 12:00:00 +0000",
        );
        assert!(text.starts_with("ikehub (0.1.0-1) unstable; urgency=medium\n\n  * "));
        assert!(text.ends_with("\n -- A <a@example.org>  Mon, 07 Dec 2026 12:00:00 +0000\n"));
    }
}
