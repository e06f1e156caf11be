//! The allocator set-up `main` runs first: with it, threads that allocate at the same time
//! share at most `ARENA_MAX` glibc arenas (without it, each of these threads gets its own).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn busy_threads_share_a_bounded_number_of_arenas() {
    use mfp_kiosk::alloc::{arena_count, tame, AllocatorSetup, ARENA_MAX};
    use std::sync::{Arc, Barrier};

    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        eprintln!("skipped: MALLOC_ARENA_MAX is set by the environment");
        return;
    }
    assert_eq!(tame(), AllocatorSetup::Tamed);
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                // Blocks below the mmap threshold come from an arena; keep them alive until
                // every thread has allocated, so no arena is handed back and reused.
                let blocks: Vec<Vec<u8>> = (0..64).map(|k| vec![i as u8; 1024 + k]).collect();
                barrier.wait();
                blocks.iter().map(|b| b.len()).sum::<usize>()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap() > 0);
    }
    let arenas = arena_count().expect("malloc_info on glibc");
    assert!(
        (1..=ARENA_MAX as usize).contains(&arenas),
        "{arenas} arenas after {threads} busy threads"
    );
}
