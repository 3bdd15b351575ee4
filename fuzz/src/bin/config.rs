//! AFL++ entry point of the `config` target (see `rootward_fuzz::config`).
//! Build with `cargo afl build --release --features afl`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rootward_fuzz::config(data);
    });
}
