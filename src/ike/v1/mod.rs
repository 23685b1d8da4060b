pub(crate) mod proposal;
