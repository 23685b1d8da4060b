//! The daemon: UDP 500/4500, timers, control socket, systemd integration.
