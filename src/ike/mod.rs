//! The sans-I/O IKE engine: datagrams, timer ticks and commands in; datagrams, timers,
//! kernel intents and events out. No sockets, no tokio, no clock.
