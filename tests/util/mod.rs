//! Shared test harness: two engines connected by a simulated network with virtual time.
#![allow(dead_code)]

pub mod pair;
