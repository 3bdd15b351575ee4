//! The control socket and `rootward ctl` (being written).
