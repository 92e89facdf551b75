//! gevent tutorial, "Greenlet State": `started`, `ready`, `successful`, `value`, `exception`
//! of a winner (returns) and a loser (panics, gevent: raises).
//!
//! The last line says which hub ran the greenlets: the crate's own (a plain run) or, under the
//! launcher, the preload library's — then every API greenlet is a thread in the shim's eyes
//! (`pthread_self()` inside it is its greenlet id).

use greenshim::api::{current_id, joinall, rt, spawn, Greenlet};

fn report(name: &str, g: &Greenlet<&'static str>) {
    println!("{name}.started: {}", g.started());
    println!("{name}.ready: {}", g.ready());
    println!("{name}.successful: {}", g.successful());
    println!("{name}.value: {:?}", g.value());
    println!("{name}.exception: {:?}", g.exception());
}

fn main() {
    // gevent prints the loser's traceback; keep stderr to one line
    std::panic::set_hook(Box::new(|info| eprintln!("loser raised: {info}")));
    let winner = spawn(|| "You win!");
    let loser = spawn(|| -> &'static str { panic!("You fail.") });
    println!("before joinall: winner.started: {}", winner.started());
    let gs = [winner, loser];
    joinall(&gs);
    let [winner, loser] = gs;
    report("winner", &winner);
    report("loser", &loser);

    // which hub: under the shim an API greenlet is a pthread of the shim
    // SAFETY: pthread_self has no preconditions.
    let same = spawn(|| current_id() == unsafe { libc::pthread_self() } as u64).get().unwrap();
    if rt::on_shim_hub() {
        println!("hub: the preload library's (greenlet id == pthread_self: {})", if same { "yes" } else { "no" });
    } else {
        println!("hub: this program's own");
    }
}
