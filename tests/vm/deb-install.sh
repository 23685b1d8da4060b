#!/bin/bash
# The Debian package, installed with dpkg and run. `cargo xtask deb`'s package (built and
# checked by the xtask, which also renders both manual pages with `man -l`) is installed with
# `dpkg -i` into a scratch root whose database records the packages it depends on (libc6,
# libgcc-s1) as the system has them, so dpkg checks its Depends. Then the installed files
# bring up the site-to-site scenario (lib/site-to-site.sh): the VPC gateway runs the
# installed /usr/bin/ikehub with the installed /etc/ikehub/ikehub.toml unchanged (the
# package's example is examples/site-to-site.toml), the office gateway the same binary with
# examples/site-to-site-onprem.toml. Finally `dpkg --purge` removes every file, the
# configuration included.
#
# A scratch root, not /, because on a host whose kernel has ESP this runs on the host itself;
# its maintainer scripts run outside it (--force-script-chrootless, DPKG_ROOT set) and leave
# systemd alone there, as they are written to.
# guest-payload: deb
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/site-to-site.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/site-to-site.sh"
debs=${IKEHUB_DEB_DIR:-/debs}
examples=${IKEHUB_EXAMPLES:-/examples}
ikehub_examples "$examples" || {
    bad "private copy of the examples"
    finish
}

step "dpkg -i into a scratch root"
root=$(mktemp -d /tmp/ikt-deb.XXXXXX) || finish
IKEHUB_DIRS+=("$root")
admin=$root/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates"
cp "$debs/status" "$admin/status"
# dpkg expects a file list for every installed package; the libraries' files are the system's
for installed in $(dpkg-query --admindir="$admin" -W -f '${binary:Package}\n'); do
    : >"$admin/info/$installed.list"
done
dpkg() { command dpkg --root="$root" "$@"; }
check "dpkg -i ikehub.deb (its Depends met by the recorded libc6 and libgcc-s1)" \
    dpkg --force-script-chrootless -i "$debs/ikehub.deb"
status=$(dpkg-query --root="$root" -W -f '${db:Status-Status} ${Version}' ikehub)
case $status in
"installed "*) ok "dpkg reports ikehub installed ($status)" ;;
*) bad "dpkg reports ikehub installed ($status)" ;;
esac

step "what dpkg -L lists: the package's files, no load generator"
listing=$(dpkg -L ikehub)
show dpkg -L ikehub
for file in /usr/bin/ikehub /etc/ikehub/ikehub.toml /lib/systemd/system/ikehub.service \
    /usr/share/man/man8/ikehub.8.gz /usr/share/man/man5/ikehub.toml.5.gz \
    /usr/share/doc/ikehub/copyright /usr/share/bash-completion/completions/ikehub; do
    grep -x "$file" <<<"$listing" >/dev/null && [ -e "$root$file" ] && ok "installed $file" || bad "installed $file"
done
if grep loadgen <<<"$listing"; then
    bad "dpkg -L lists no load generator"
else
    ok "dpkg -L lists no load generator"
fi
found=$(find "$root" -name '*loadgen*') || found="(find failed)"
[ -z "$found" ] && ok "no load generator file in the installed tree" || bad "no load generator file in the installed tree: $found"
conffiles=$(dpkg -s ikehub | sed -n '/^Conffiles:/,/^[A-Z]/p')
grep -E '^ /etc/ikehub/ikehub.toml [0-9a-f]{32}$' <<<"$conffiles" >/dev/null &&
    ok "/etc/ikehub/ikehub.toml is a conffile" || bad "/etc/ikehub/ikehub.toml is a conffile ($conffiles)"
# owners as numbers: the guest has no /etc/passwd
modes="$(stat -c '%a %u' "$root/usr/bin/ikehub"), $(stat -c '%a %u' "$root/etc/ikehub"), $(stat -c '%a %u' "$root/etc/ikehub/ikehub.toml")"
[ "$modes" = "755 0, 700 0, 600 0" ] &&
    ok "modes: binary 755, /etc/ikehub 700, configuration 600, all root's" ||
    bad "modes of binary, /etc/ikehub, configuration: $modes"
check "the installed configuration is the site-to-site example (VPC side)" \
    cmp "$root/etc/ikehub/ikehub.toml" "$examples/site-to-site.toml"

step "the installed binary and configuration"
PATH="$root/usr/bin:$PATH"
hash -r
[ "$(command -v ikehub)" = "$root/usr/bin/ikehub" ] && ok "ikehub runs from the installed /usr/bin" ||
    bad "ikehub runs from the installed /usr/bin ($(command -v ikehub))"
version=$(ikehub --version)
package_version=${status#installed }
[ "$version" = "ikehub ${package_version%-*}" ] &&
    ok "the binary's version matches the package's ($version, $package_version)" ||
    bad "the binary's version matches the package's ($version, $package_version)"
check "check-config accepts the installed configuration as installed" \
    ikehub check-config "$root/etc/ikehub/ikehub.toml"

step "site-to-site with the installed files"
site_to_site_topology
icmp_before=$(wire_packets icmp)
ikehub_start "$ONPGW" "$EXAMPLES/site-to-site-onprem.toml" && ok "office daemon ready" || bad "office daemon ready"
ikehub_start "$VPCGW" "$root/etc/ikehub/ikehub.toml" && ok "VPC daemon ready (installed configuration)" ||
    bad "VPC daemon ready (installed configuration)"
if wait_for 20 ikehub_established "$VPCGW" office && wait_for 10 ikehub_established "$ONPGW" vpc; then
    ok "tunnel established on both gateways"
else
    bad "tunnel established on both gateways"
    ikehub_log "$VPCGW"
    ikehub_log "$ONPGW"
fi
if wait_for 10 in_ns "$VPCH" ping -c 1 -W 1 192.168.10.10; then
    ok "VPC host pings the office host"
else
    bad "VPC host pings the office host"
fi
check "the office host pings back" in_ns "$ONPH" ping -c 3 -i 0.2 -W 1 172.16.1.10
esp=$(wire_packets esp)
icmp=$(wire_packets icmp)
[ "${esp:-0}" -ge 4 ] && [ "${icmp:-1}" -eq "${icmp_before:-0}" ] &&
    ok "the pings crossed as ESP ($esp ESP packets, no plaintext ICMP on the wire)" ||
    bad "the pings crossed as ESP (ESP $esp, ICMP $icmp_before -> $icmp)"
ikehub_stop "$VPCGW" && ok "VPC daemon stops cleanly" || bad "VPC daemon stops cleanly"
ikehub_stop "$ONPGW" && ok "office daemon stops cleanly" || bad "office daemon stops cleanly"

step "dpkg --purge removes it all"
check "dpkg --purge ikehub" dpkg --force-script-chrootless --purge ikehub
left=$(find "$root" -path "$admin" -prune -o \( -type f -o -type l \) -print) || left="(find failed)"
[ -z "$left" ] && ok "no file left outside dpkg's database, the configuration included" ||
    bad "files left after purge: $left"
finish
