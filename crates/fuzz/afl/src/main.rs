//! `npchain-afl <target>`: runs one fuzz target of `npchain-fuzz` under afl (persistent mode,
//! the input on stdin). `npchain-afl --list` prints the targets.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    if name == "--list" {
        for (name, _) in npchain_fuzz::TARGETS {
            println!("{name}");
        }
        return;
    }
    let Some(target) = npchain_fuzz::target(&name) else {
        eprintln!("usage: npchain-afl <target> | --list");
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}
